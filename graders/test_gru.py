"""Hidden grader for gru: a GRU from scratch (two gates, no cell state), `batch_first` done right.

One test per rubric item. Every hidden call uses the same sizes for every student, each axis
different from every other and from the number of layers (input 7, hidden 6, batch 5, length 4;
1-3 layers; the public checks use other sizes), so no axis mix-up passes by chance. The reference
is torch.nn.GRUCell / torch.nn.GRU with weights copied by name, gradients are compared with
torch's for the same inputs and upstream gradient, and a failing item is diagnosed by comparing
against *wrong* GRUs (seqlab.oracles.gru). The training run happens here, on the trusted side: the
student's GRU runs in the sandbox, a trusted linear head and Adam step update its weights.
Parameters are resolved on the student's module by attribute path (aliases are fine); an item
that fails only because an item it `depends_on` already failed says "same cause as ...".
"""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.grading.expect import (
    Misconception,
    differs,
    expect_close,
    expect_shape,
    expect_tensor,
    fail,
)
from seqlab.grading.remote import StudentError
from seqlab.oracles.gru import (
    GruVariant,
    cell_params,
    diagnose_cell,
    diagnose_gru,
    gru_params,
    manual_gru,
    random_torch_cell,
    random_torch_gru,
    torch_cells_like,
    torch_gru_reference,
    unrolled_torch_gru,
)
from seqlab.oracles.tolerance import is_close
from seqlab.oracles.training import PlainAdam

STUDENT_API = ("GRUCell", "GRU", "count_parameters")

# Hidden sizes: each axis differs from every other, and from the number of layers (1, 2 or 3).
INPUT_SIZE, HIDDEN_SIZE, N_BATCH, SEQ_LEN = 7, 6, 5, 4
GRAD_TOL = {"atol": 1e-4, "rtol": 1e-3}   # gradients sum float32 products: a little looser
STEPS, BATCH, TASK_LEN, TASK_HIDDEN, LR = 25, 32, 6, 8, 0.08

WHY = {
    "gate-order": "the three blocks of weight_ih, weight_hh and the biases are stacked in torch's order reset r, "
                  "update z, new n",
    "reset-before-projection": "torch's candidate is n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): the reset gate "
                               "multiplies the hidden projection, not h before it (that is the 2014 paper's variant)",
    "reset-outside-bias": "the reset gate multiplies the whole hidden projection including its bias, "
                          "r * (W_hn h + b_hn), not r * (W_hn h) + b_hn",
    "update-reversed": "the update gate keeps the old state: h' = (1 - z) * n + z * h, not z * n + (1 - z) * h",
    "sigmoid-candidate": "the candidate n goes through tanh (values in (-1, 1)), not sigmoid; only r and z are "
                         "sigmoid gates",
    "bias-hh-ignored": "torch's GRU adds both biases, bias_ih and bias_hh (b_hn inside the reset product)",
    "batch-first-ignored": "with batch_first=True the input is (B, L, features): move the time axis first "
                           "before looping over time",
    "output-not-transposed": "with batch_first=True the output must be (B, L, H) again: transpose it back "
                             "after the time loop",
    "state-batch-first": "h_0 and h_n are (num_layers, B, H) whatever batch_first says: do not transpose them",
    "layers-fed-raw-input": "layer k > 0 reads the hidden states of the layer below, not the raw input x",
    "shared-state": "the states were written in place into the tensor h you were given (or into a tensor a "
                    "later step reads again): build each new state as a new tensor and torch.stack them",
}


CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _fail_if_diagnosed(name: str | None) -> None:
    if name is not None:
        fail(WHY[name], name)


def _crash_was(message: str, misconception: str, exc: StudentError) -> None:
    """A probe found what made the student's code raise: name it (and tie the crash to it)."""
    raise Misconception(message, misconception) from exc


def _is_in_place_error(exc: StudentError) -> bool:
    return "inplace" in exc.detail.replace("-", "").replace(" ", "").lower()


def _load(model, params: dict[str, torch.Tensor], what: str) -> None:
    """Copy torch's weights in by name; a missing or misshapen parameter names its misconception."""
    own = model.parameters_at(list(params))
    for name, value in params.items():
        if own.get(name) is None:
            if name.endswith("bias_hh") and own.get(name.replace("bias_hh", "bias_ih")) is not None:
                fail(f"{what} has no parameter bias_hh: " + WHY["bias-hh-ignored"], "bias-hh-ignored")
            if name.startswith("cells."):
                differs(f"{what} has no parameter `{name}`: keep the layers in self.cells (an nn.ModuleList of "
                        "GRUCell), each with weight_ih, weight_hh, bias_ih and bias_hh", "cells-layout")
            fail(f"{what} has no parameter `{name}`: keep weight_ih (3H, input_size), weight_hh (3H, H), bias_ih "
                 "and bias_hh (3H) under these names (torch's layout, not one module per gate)", "cell-parameters")
        shape = tuple(own[name].shape)
        if shape != tuple(value.shape):
            if name.startswith("cells.") and not name.startswith("cells.0.") and name.endswith("weight_ih"):
                fail(f"{what}: {name} has shape {shape}, expected {tuple(value.shape)}: "
                     + WHY["layers-fed-raw-input"] + ", so its input size is hidden_size", "layers-fed-raw-input")
            message = (f"{what}: parameter {name} has shape {shape}, expected {tuple(value.shape)} (r, z, n "
                       "stacked as 3 blocks of H rows)")
            if name.startswith("cells."):
                differs(message, "cells-layout")
            fail(message, "cell-parameters")
    model.load_parameters(params)


def _cell_call(cell, x: torch.Tensor, h=None) -> torch.Tensor:
    result = cell(x) if h is None else cell(x, h)
    if isinstance(result, (tuple, list)):
        fail("GRUCell.forward returns the new state h' alone (a GRU has no cell state), not a tuple",
             "cell-equations")
    return expect_tensor(result, "GRUCell's h'")


def _gru_call(model, x, h=None) -> tuple[torch.Tensor, torch.Tensor]:
    return _output_and_state(model(x) if h is None else model(x, h))


def _output_and_state(result) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(result, (tuple, list)) or len(result) != 2 or isinstance(result[1], (tuple, list)):
        fail("GRU.forward should return (output, h_n) with h_n ONE tensor (num_layers, B, H): no (h, c) pair, "
             "no list of per-layer states", "gru-output-shape")
    return expect_tensor(result[0], "GRU's output"), expect_tensor(result[1], "GRU's h_n")


def _plain_cell_works(submission) -> bool:
    """Does the cell match torch in the ordinary case (bias, given state)? If not, a failure of a
    special case is reported as the general cell-equations bug, not as the special case's."""
    torch_cell = random_torch_cell(INPUT_SIZE, HIDDEN_SIZE)
    x, h = torch.randn(N_BATCH, INPUT_SIZE), torch.randn(N_BATCH, HIDDEN_SIZE)
    try:
        cell = submission.get("GRUCell")(INPUT_SIZE, HIDDEN_SIZE)
        cell.load_parameters(cell_params(torch_cell))
        h_new = _cell_call(cell, x, h)
    except (StudentError, AssertionError):
        return False
    with torch.no_grad():
        return is_close(h_new, torch_cell(x.double(), h.double()))


def _expect_cell_like_torch(submission, bias: bool, with_state: bool, misconception: str) -> None:
    torch_cell = random_torch_cell(INPUT_SIZE, HIDDEN_SIZE, bias=bias)
    params = cell_params(torch_cell)
    cell = submission.get("GRUCell")(INPUT_SIZE, HIDDEN_SIZE, bias=bias)
    _load(cell, params, "GRUCell")
    x = torch.randn(N_BATCH, INPUT_SIZE)
    h = torch.randn(N_BATCH, HIDDEN_SIZE) if with_state else None
    special = not (bias and with_state)
    try:
        h_new = _cell_call(cell, x, h)
    except StudentError as exc:
        if special and _plain_cell_works(submission):
            _crash_was(f"GRUCell raised {exc.type_name} with {'h=None' if h is None else 'bias=False'} although it "
                       "works with a given state and biases: " + _SPECIAL_HINT[misconception], misconception, exc)
        raise
    expect_shape(h_new, (N_BATCH, HIDDEN_SIZE), "GRUCell's h'", "cell-equations")
    with torch.no_grad():
        reference = torch_cell(x.double(), None if h is None else h.double())
    if is_close(h_new, reference):
        return
    _fail_if_diagnosed(diagnose_cell(h_new, params, x, h))
    if not bias and any(v is not None for v in cell.parameters_at(["bias_ih", "bias_hh"]).values()):
        fail("GRUCell(..., bias=False) must have no bias parameters (like torch.nn.GRUCell)", "bias-flag-ignored")
    if not special:
        expect_close(h_new, reference, "GRUCell's h' (compared with torch.nn.GRUCell)")
    if _plain_cell_works(submission):  # only this case is wrong: that is the diagnosis
        expect_close(h_new, reference, "GRUCell's h' (compared with torch.nn.GRUCell)", misconception)
    differs("GRUCell's h' differs from torch.nn.GRUCell's, as it does in the ordinary case (bias, given state)",
            "cell-equations")


_SPECIAL_HINT = {
    "zero-initial-state": "with h=None start from zeros of shape (B, H), sized from x (x.new_zeros(x.size(0), H))",
    "bias-flag-ignored": "with bias=False there are no biases (register them as None) and nothing is added",
}


def _plain_gru_works(submission, num_layers: int) -> bool:
    """Does the GRU match torch time-first, without a state, for B, L > 1? If not, a failure in a
    special layout is reported as the general gru-equations bug, not as that layout's."""
    torch_gru = random_torch_gru(INPUT_SIZE, HIDDEN_SIZE, num_layers)
    x = torch.randn(SEQ_LEN, N_BATCH, INPUT_SIZE)
    try:
        model = submission.get("GRU")(INPUT_SIZE, HIDDEN_SIZE, num_layers=num_layers)
        model.load_parameters(gru_params(torch_gru))
        out, h_n = _gru_call(model, x)
    except (StudentError, AssertionError):
        return False
    ref_out, ref_h = torch_gru_reference(torch_gru, x)
    return is_close(out, ref_out) and is_close(h_n, ref_h)


def _after_a_crash(submission, model, torch_gru: torch.nn.GRU, x: torch.Tensor, h_0, exc: StudentError) -> None:
    """The call raised: name the layout bug that explains it, if one does; else the error stands."""
    batch_first, num_layers = torch_gru.batch_first, torch_gru.num_layers
    if h_0 is None:
        zeros = torch.zeros(num_layers, x.size(0) if batch_first else x.size(1), torch_gru.hidden_size)
        if _matches(model, torch_gru, x, zeros, None):
            _crash_was(f"GRU raised {exc.type_name} without an initial state although it works when given zeros: "
                       "size h_0 from x's batch axis (x.size(1) time-first, x.size(0) batch-first)",
                       "zero-initial-state", exc)
    if _is_in_place_error(exc):
        _crash_was(f"GRU.forward raised {exc.type_name} about an in-place operation: " + WHY["shared-state"],
                   "shared-state", exc)
    if batch_first and h_0 is not None and _matches(model, torch_gru, x, h_0.transpose(0, 1).contiguous(), h_0):
        _crash_was("GRU reads the initial state as (B, num_layers, H) when batch_first=True: "
                   + WHY["state-batch-first"], "state-batch-first", exc)
    if batch_first:
        seq_first = x.transpose(0, 1).contiguous()
        torch_gru.batch_first = False
        try:
            if _matches(model, torch_gru, seq_first, h_0, h_0):
                _crash_was(WHY["batch-first-ignored"], "batch-first-ignored", exc)
        finally:
            torch_gru.batch_first = True
    if min(x.shape[:2]) == 1 and _plain_gru_works(submission, num_layers):
        _crash_was(f"GRU raised {exc.type_name} for input of shape {tuple(x.shape)} although it works for B, L > 1: "
                   "keep the axes of size one (no .squeeze())", "size-one-axes", exc)
    if num_layers > 1 and _plain_gru_works(submission, 1) and not _plain_gru_works(submission, num_layers):
        _raw_input_check(submission, num_layers, exc)


def _matches(model, torch_gru: torch.nn.GRU, x: torch.Tensor, h_sent, h_ref) -> bool:
    try:
        out, _ = _gru_call(model, x, h_sent)
    except (StudentError, AssertionError):
        return False
    return is_close(out, torch_gru_reference(torch_gru, x, h_ref)[0])


def _raw_input_check(submission, num_layers: int, exc: StudentError) -> None:
    """A stacked GRU that raised: does it run, feeding x to every layer, when input size == H?"""
    torch_gru = random_torch_gru(HIDDEN_SIZE, HIDDEN_SIZE, num_layers)
    params = gru_params(torch_gru)
    x = torch.randn(SEQ_LEN, N_BATCH, HIDDEN_SIZE)
    try:
        model = submission.get("GRU")(HIDDEN_SIZE, HIDDEN_SIZE, num_layers=num_layers)
        model.load_parameters(params)
        out, _ = _gru_call(model, x)
    except (StudentError, AssertionError):
        return
    if is_close(out, manual_gru(params, num_layers, x, None, False, GruVariant(raw_input=True))[0]):
        _crash_was(WHY["layers-fed-raw-input"], "layers-fed-raw-input", exc)


def _expect_gru_like_torch(submission, num_layers: int, batch_first: bool, batch: int = N_BATCH,
                           length: int = SEQ_LEN, input_size: int = INPUT_SIZE, with_state: bool = False,
                           bias: bool = True, shape_misconception: str = "gru-output-shape") -> None:
    """Build, load, run and compare with torch.nn.GRU; returns nothing or fails with a diagnosis."""
    torch_gru = random_torch_gru(input_size, HIDDEN_SIZE, num_layers, bias=bias, batch_first=batch_first)
    params = gru_params(torch_gru)
    model = submission.get("GRU")(input_size, HIDDEN_SIZE, num_layers=num_layers, bias=bias, batch_first=batch_first)
    _load(model, params, f"GRU(num_layers={num_layers})")
    x = torch.randn(batch, length, input_size) if batch_first else torch.randn(length, batch, input_size)
    h_0 = torch.randn(num_layers, batch, HIDDEN_SIZE) if with_state else None
    sent = submission.put(h_0) if with_state else None
    try:
        out, h_n = _gru_call(model, x, sent)
    except StudentError as exc:
        _after_a_crash(submission, model, torch_gru, x, h_0, exc)
        raise
    if with_state and not torch.equal(expect_tensor(sent.fetch(), "the initial state"), h_0):
        fail("GRU.forward changed the initial state tensor h it was given: " + WHY["shared-state"], "shared-state")
    ref_out, ref_h = torch_gru_reference(torch_gru, x, h_0)
    layout = f"batch_first={batch_first}, num_layers={num_layers}"
    if not (is_close(out, ref_out) and is_close(h_n, ref_h)):
        _fail_if_diagnosed(diagnose_gru(out, h_n, params, num_layers, x, h_0, batch_first))
        if batch_first and with_state and _matches(model, torch_gru, x, h_0.transpose(0, 1).contiguous(), h_0):
            fail("GRU reads the initial state as (B, num_layers, H) when batch_first=True: "
                 + WHY["state-batch-first"], "state-batch-first")
        bias_names = [f"cells.{k}.{n}" for k in range(num_layers) for n in ("bias_ih", "bias_hh")]
        if not bias and any(v is not None for v in model.parameters_at(bias_names).values()):
            fail("GRU(..., bias=False) must have no bias parameters (like torch.nn.GRU)", "bias-flag-ignored")
    if tuple(out.shape) != tuple(ref_out.shape):
        message = f"GRU's output ({layout}) has shape {tuple(out.shape)}, expected {tuple(ref_out.shape)}"
        if not _plain_gru_works(submission, num_layers):  # wrong in the ordinary case too: reported there
            differs(message, "gru-output-shape")
        fail(message, shape_misconception)
    if not is_close(out, ref_out):
        # Right time-first without a state but wrong here: this case is what differs. Wrong there too: the
        # equations, which an earlier item reports (same cause).
        what = f"GRU's output ({layout}, compared with torch.nn.GRU)"
        if not _plain_gru_works(submission, num_layers):
            differs(f"{what} differs, as it does time-first without a state", "gru-equations")
        expect_close(out, ref_out, what)
    if tuple(h_n.shape) != tuple(ref_h.shape):
        if batch_first and tuple(h_n.shape) == tuple(ref_h.transpose(0, 1).shape):
            fail("GRU's h_n is (B, num_layers, H): " + WHY["state-batch-first"], "state-batch-first")
        message = f"GRU's h_n has shape {tuple(h_n.shape)}, expected (num_layers, B, H) = {tuple(ref_h.shape)}"
        if not _plain_gru_works(submission, num_layers):
            differs(message, "gru-output-shape")
        fail(message, "state-batch-first" if batch_first else shape_misconception)
    expect_close(h_n, ref_h, f"GRU's h_n ({layout}, compared with torch.nn.GRU)")


# -- GRUCell ----------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="cell-parameters")
def test_cell_parameters_have_torch_names_and_shapes(submission):
    cell = submission.get("GRUCell")(INPUT_SIZE, HIDDEN_SIZE)
    _load(cell, cell_params(random_torch_cell(INPUT_SIZE, HIDDEN_SIZE)), "GRUCell")


@pytest.mark.rubric(points=3, misconception="cell-equations")
def test_cell_matches_torch_gru_cell(submission):
    _expect_cell_like_torch(submission, bias=True, with_state=True, misconception="cell-equations")


@pytest.mark.rubric(points=1, misconception="zero-initial-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_cell_starts_from_zero_state_when_none(submission):
    _expect_cell_like_torch(submission, bias=True, with_state=False, misconception="zero-initial-state")


@pytest.mark.rubric(points=1, misconception="bias-flag-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_cell_without_bias_matches_torch_gru_cell(submission):
    _expect_cell_like_torch(submission, bias=False, with_state=True, misconception="bias-flag-ignored")


# -- GRU --------------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="cells-layout",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_gru_keeps_its_layers_in_cells(submission):
    model = submission.get("GRU")(INPUT_SIZE, HIDDEN_SIZE, num_layers=3)
    _load(model, gru_params(random_torch_gru(INPUT_SIZE, HIDDEN_SIZE, 3)), "GRU(num_layers=3)")


@pytest.mark.rubric(points=3, misconception="gru-equations",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_gru_matches_torch_gru_for_one_to_three_layers(submission):
    for num_layers in (1, 2, 3):
        _expect_gru_like_torch(submission, num_layers, batch_first=False)
    _expect_gru_like_torch(submission, 2, batch_first=False, input_size=HIDDEN_SIZE)  # catches raw input


@pytest.mark.rubric(points=2, misconception="batch-first-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gru_batch_first_matches_torch_gru(submission):
    for num_layers in (1, 3):
        _expect_gru_like_torch(submission, num_layers, batch_first=True)


@pytest.mark.rubric(points=2, misconception="state-batch-first",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_final_state_is_layer_first_in_both_layouts(submission):
    for batch_first in (True, False):
        _expect_gru_like_torch(submission, 2, batch_first)


@pytest.mark.rubric(points=2, misconception="initial-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_given_initial_state_is_used_and_left_unchanged(submission):
    for batch_first, num_layers in ((False, 2), (True, 3), (True, 1)):
        _expect_gru_like_torch(submission, num_layers, batch_first, with_state=True)


@pytest.mark.rubric(points=1, misconception="bias-flag-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gru_without_bias_matches_torch_gru(submission):
    _expect_gru_like_torch(submission, 2, batch_first=True, bias=False, with_state=True)


@pytest.mark.rubric(points=1, misconception="size-one-axes",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_batch_of_one_and_sequence_of_length_one(submission):
    for batch_first in (True, False):
        for batch, length in ((1, SEQ_LEN), (N_BATCH, 1), (1, 1)):
            _expect_gru_like_torch(submission, 2, batch_first, batch, length, shape_misconception="size-one-axes")


def _gradient_pass(submission, batch_first: bool, with_state: bool, upstream_on: str) -> None:
    """One backward pass through the student's GRU, compared with torch.nn.GRU's gradients."""
    torch_gru = random_torch_gru(INPUT_SIZE, HIDDEN_SIZE, 2, batch_first=batch_first)
    params = gru_params(torch_gru)
    model = submission.get("GRU")(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, batch_first=batch_first)
    _load(model, params, "GRU(num_layers=2)")
    model.zero_grad()
    shape = (N_BATCH, SEQ_LEN, INPUT_SIZE) if batch_first else (SEQ_LEN, N_BATCH, INPUT_SIZE)
    x, h_0 = torch.randn(shape), torch.randn(2, N_BATCH, HIDDEN_SIZE) if with_state else None
    x_remote = submission.put(x.clone().requires_grad_(True))
    h_remote = submission.put(h_0.clone().requires_grad_(True)) if with_state else None
    try:
        result = model.keep(x_remote) if h_remote is None else model.keep(x_remote, h_remote)
    except StudentError as exc:
        _after_a_crash(submission, model, torch_gru, x, h_0, exc)
        raise
    out, h_n = _output_and_state(result.fetch())
    x_ref = x.double().requires_grad_(True)
    h_ref = h_0.double().requires_grad_(True) if with_state else None
    torch_cells = torch_cells_like(torch_gru)
    ref_out, ref_h = unrolled_torch_gru(torch_cells, x_ref, h_ref, batch_first)
    if not (is_close(out, ref_out) and is_close(h_n, ref_h)):
        _fail_if_diagnosed(diagnose_gru(out, h_n, params, 2, x, h_0, batch_first))
        differs("GRU's output or h_n differs from torch.nn.GRU's, so its gradients cannot match", "gru-equations")
    target, ref_target = (result[0], ref_out) if upstream_on == "output" else (result[1], ref_h)
    upstream = torch.randn(ref_target.shape)
    try:
        target.backward(upstream)
    except StudentError as exc:
        if _is_in_place_error(exc):
            _crash_was(f"back-propagating from GRU's {upstream_on} raised {exc.type_name} (a tensor was modified in "
                       "place after a step had used it): " + WHY["shared-state"], "shared-state", exc)
        _crash_was(f"back-propagating from GRU's {upstream_on} failed ({exc.type_name}): keep every step in torch "
                   "operations (no .detach(), .data, numpy or torch.no_grad())", "detached-state", exc)
    (ref_target * upstream.double()).sum().backward()  # a scalar: a tensor gradient costs seconds once
    why = (f"the gradient of {{}} (upstream gradient on {upstream_on}) differs from torch.nn.GRU's: do not .detach() "
           "(or .data) the states between time steps or layers; back-propagation through time needs the whole chain")
    grads = {"the input x": (x_remote.grad(), x_ref.grad)}
    if with_state:
        grads["the initial state h"] = (h_remote.grad(), h_ref.grad)
    own = model.gradients_at([f"cells.{k}.{name}" for k in range(2) for name in CELL_NAMES])
    for k in range(2):
        for name in CELL_NAMES:
            grads[f"cells.{k}.{name}"] = (own.get(f"cells.{k}.{name}"), getattr(torch_cells[k], name).grad)
    for what, (grad, ref) in grads.items():
        if not isinstance(grad, torch.Tensor) or not is_close(grad, ref, **GRAD_TOL):
            fail(why.format(what), "detached-state")


@pytest.mark.rubric(points=2, misconception="detached-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gradients_match_torch_gru(submission):
    _gradient_pass(submission, batch_first=True, with_state=True, upstream_on="output")
    _gradient_pass(submission, batch_first=False, with_state=False, upstream_on="h_n")


# -- count_parameters -------------------------------------------------------------------------

def _as_count(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())
    return None


@pytest.mark.rubric(points=2, misconception="param-count")
def test_count_parameters_counts_trainable_scalars(submission):
    count_parameters = submission.get("count_parameters")
    cases = [("GRUCell", (INPUT_SIZE, HIDDEN_SIZE), {}), ("GRU", (INPUT_SIZE, HIDDEN_SIZE), {"num_layers": 3}),
             ("GRU", (HIDDEN_SIZE, INPUT_SIZE), {"num_layers": 2, "bias": False})]
    for name, args, kwargs in cases:
        module = submission.get(name)(*args, **kwargs)
        params = module.parameters_by_name()
        expected = sum(p.numel() for p in params.values())
        what = f"count_parameters({name}({', '.join(map(str, args))}{''.join(f', {k}={v}' for k, v in kwargs.items())}))"
        value = count_parameters(module)
        counted = _as_count(value)
        if counted is None:
            fail(f"{what} should return an int (the number of trainable scalars), got {type(value).__name__}",
                 "param-count")
        if counted == expected:
            continue
        without_hh = expected - sum(p.numel() for n, p in params.items() if n.endswith("bias_hh"))
        if counted == without_hh and without_hh != expected:
            fail(f"{what} = {counted}, expected {expected}: the count leaves out bias_hh; torch's GRU has two "
                 "bias vectors of 3H per layer, bias_ih and bias_hh", "count-forgets-bias-hh")
        if counted == len(params):
            fail(f"{what} = {counted}, the number of parameter tensors: count their scalars (p.numel()), "
                 f"expected {expected}", "count-tensors-not-scalars")
        fail(f"{what} = {counted}, expected {expected} (every element of every trainable parameter)", "param-count")


# -- training, on the trusted side ------------------------------------------------------------

def _rise_or_fall(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy lines with a large random offset; y = 1 if the line rises. The model must remember the start."""
    y = torch.randint(0, 2, (n,), generator=generator)
    offset = 2 * torch.randn(n, 1, generator=generator)
    change = (0.5 + torch.rand(n, 1, generator=generator)) * (2 * y - 1).unsqueeze(1)
    x = offset + change * torch.linspace(0, 1, TASK_LEN) + 0.3 * torch.randn(n, TASK_LEN, generator=generator)
    return x.unsqueeze(-1), y


def _why_not_learning(submission) -> None:
    """Training failed: name the bug a smaller probe reproduces, if one does."""
    _expect_gru_like_torch(submission, 1, batch_first=True)
    _gradient_pass(submission, batch_first=True, with_state=False, upstream_on="output")


def _train(model, head: torch.nn.Linear, gru_weights: dict[str, torch.Tensor], optimizer: PlainAdam,
           generator: torch.Generator) -> None:
    """STEPS Adam steps: the GRU's forward and backward run in the sandbox, the head and the update here."""
    zero_grad = model.zero_grad  # looked up once: one call per step, not two
    for _ in range(STEPS):
        x, y = _rise_or_fall(BATCH, generator)
        zero_grad()
        out_remote = model.keep(x)[0]
        out = expect_tensor(out_remote.fetch(), "GRU's output").detach().requires_grad_(True)
        if tuple(out.shape) == (TASK_LEN, BATCH, TASK_HIDDEN):
            fail(WHY["output-not-transposed"], "output-not-transposed")
        if tuple(out.shape) != (BATCH, TASK_LEN, TASK_HIDDEN):
            differs(f"GRU's batch-first output has shape {tuple(out.shape)}, expected (B, L, H) = "
                    f"{(BATCH, TASK_LEN, TASK_HIDDEN)}", "gru-output-shape")
        head.zero_grad()
        torch.nn.functional.cross_entropy(head(out[:, -1]), y).backward()
        out_remote.backward(out.grad)
        grads = model.gradients_by_name()
        optimizer.step({**grads, **{f"head.{n}": p.grad for n, p in head.named_parameters()}})
        model.load_parameters(gru_weights)


@pytest.mark.rubric(points=2, misconception="gru-not-learning",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gru_learns_to_tell_rising_from_falling(submission):
    generator = torch.Generator().manual_seed(random.randint(0, 2**31 - 1))
    submission.seed(random.randint(0, 2**31 - 1))
    model = submission.get("GRU")(1, TASK_HIDDEN, batch_first=True)
    head = torch.nn.Linear(TASK_HIDDEN, 2)
    gru_weights = {n: p.detach().clone() for n, p in model.parameters_by_name().items()}
    head_weights = {n: p.detach() for n, p in head.named_parameters()}
    optimizer = PlainAdam({**gru_weights, **{f"head.{n}": p for n, p in head_weights.items()}}, LR)
    try:
        _train(model, head, gru_weights, optimizer, generator)
    except StudentError:
        _why_not_learning(submission)
        raise
    x, y = _rise_or_fall(512, generator)
    with torch.no_grad():
        out, _ = _gru_call(model, x)
        accuracy = float((head(out[:, -1]).argmax(1) == y).double().mean())
    if accuracy < 0.65:
        _why_not_learning(submission)
        fail(f"after {STEPS} Adam steps on telling rising from falling noisy lines (a linear head on the last "
             f"step) your GRU reached {accuracy:.0%} accuracy (chance 50%, a correct GRU > 75%)", "gru-not-learning")
