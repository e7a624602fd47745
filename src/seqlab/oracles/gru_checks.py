"""The gru grader's checks: a student's GRUCell / GRU run in the sandbox and compared with torch's.

Every hidden call uses the same sizes for every student, each axis different from every other
and from the number of layers (input 7, hidden 6, batch 5, length 4; 1-3 layers; the public
checks use other sizes), so no axis mix-up passes by chance. The reference is torch.nn.GRUCell /
torch.nn.GRU with weights copied by name (seqlab.oracles.recurrent); a failing comparison is
diagnosed against *wrong* GRUs (seqlab.oracles.gru), and a crash is probed for the layout bug
that explains it. A special case (no bias, no state, batch-first, axes of size one) that fails
only because the ordinary case fails too is reported as the general bug ("differs"), so the
item that owns the ordinary case names it once.
"""

from __future__ import annotations

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

from .gru import (
    GruVariant,
    cell_params,
    diagnose_cell,
    diagnose_gru,
    gru_params,
    manual_gru,
    random_torch_cell,
    random_torch_gru,
    torch_gru_reference,
)
from .recurrent import CellLayout, load_cell_weights
from .tolerance import is_close

__all__ = ["CELL_NAMES", "HIDDEN_SIZE", "INPUT_SIZE", "N_BATCH", "SEQ_LEN", "WHY", "after_a_crash", "cell_call",
           "crash_was", "expect_cell_like_torch", "expect_gru_like_torch", "fail_if_diagnosed", "gru_call",
           "is_in_place_error", "load", "output_and_state"]

# Hidden sizes: each axis differs from every other, and from the number of layers (1, 2 or 3).
INPUT_SIZE, HIDDEN_SIZE, N_BATCH, SEQ_LEN = 7, 6, 5, 4
CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

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

LAYOUT = CellLayout("GRUCell", 3, "r, z, n", WHY["bias-hh-ignored"], WHY["layers-fed-raw-input"])


def fail_if_diagnosed(name: str | None) -> None:
    if name is not None:
        fail(WHY[name], name)


def crash_was(message: str, misconception: str, exc: StudentError) -> None:
    """A probe found what made the student's code raise: name it (and tie the crash to it)."""
    raise Misconception(message, misconception) from exc


def is_in_place_error(exc: StudentError) -> bool:
    return "inplace" in exc.detail.replace("-", "").replace(" ", "").lower()


def load(model, params: dict[str, torch.Tensor], what: str) -> None:
    """Copy torch's weights in by name; a missing or misshapen parameter names its misconception."""
    load_cell_weights(model, params, what, LAYOUT)


def cell_call(cell, x: torch.Tensor, h=None) -> torch.Tensor:
    result = cell(x) if h is None else cell(x, h)
    if isinstance(result, (tuple, list)):
        fail("GRUCell.forward returns the new state h' alone (a GRU has no cell state), not a tuple",
             "cell-equations")
    return expect_tensor(result, "GRUCell's h'")


def gru_call(model, x, h=None) -> tuple[torch.Tensor, torch.Tensor]:
    return output_and_state(model(x) if h is None else model(x, h))


def output_and_state(result) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(result, (tuple, list)) or len(result) != 2 or isinstance(result[1], (tuple, list)):
        fail("GRU.forward should return (output, h_n) with h_n ONE tensor (num_layers, B, H): no (h, c) pair, "
             "no list of per-layer states", "gru-output-shape")
    return expect_tensor(result[0], "GRU's output"), expect_tensor(result[1], "GRU's h_n")


def plain_cell_works(submission) -> bool:
    """Does the cell match torch in the ordinary case (bias, given state)? If not, a failure of a
    special case is reported as the general cell-equations bug, not as the special case's."""
    torch_cell = random_torch_cell(INPUT_SIZE, HIDDEN_SIZE)
    x, h = torch.randn(N_BATCH, INPUT_SIZE), torch.randn(N_BATCH, HIDDEN_SIZE)
    try:
        cell = submission.get("GRUCell")(INPUT_SIZE, HIDDEN_SIZE)
        cell.load_parameters(cell_params(torch_cell))
        h_new = cell_call(cell, x, h)
    except (StudentError, AssertionError):
        return False
    with torch.no_grad():
        return is_close(h_new, torch_cell(x.double(), h.double()))


def expect_cell_like_torch(submission, bias: bool, with_state: bool, misconception: str) -> None:
    torch_cell = random_torch_cell(INPUT_SIZE, HIDDEN_SIZE, bias=bias)
    params = cell_params(torch_cell)
    cell = submission.get("GRUCell")(INPUT_SIZE, HIDDEN_SIZE, bias=bias)
    load(cell, params, "GRUCell")
    x = torch.randn(N_BATCH, INPUT_SIZE)
    h = torch.randn(N_BATCH, HIDDEN_SIZE) if with_state else None
    special = not (bias and with_state)
    try:
        h_new = cell_call(cell, x, h)
    except StudentError as exc:
        if special and plain_cell_works(submission):
            crash_was(f"GRUCell raised {exc.type_name} with {'h=None' if h is None else 'bias=False'} although it "
                      "works with a given state and biases: " + _SPECIAL_HINT[misconception], misconception, exc)
        raise
    expect_shape(h_new, (N_BATCH, HIDDEN_SIZE), "GRUCell's h'", "cell-equations")
    with torch.no_grad():
        reference = torch_cell(x.double(), None if h is None else h.double())
    if is_close(h_new, reference):
        return
    fail_if_diagnosed(diagnose_cell(h_new, params, x, h))
    if not bias and any(v is not None for v in cell.parameters_at(["bias_ih", "bias_hh"]).values()):
        fail("GRUCell(..., bias=False) must have no bias parameters (like torch.nn.GRUCell)", "bias-flag-ignored")
    if not special:
        expect_close(h_new, reference, "GRUCell's h' (compared with torch.nn.GRUCell)")
    if plain_cell_works(submission):  # only this case is wrong: that is the diagnosis
        expect_close(h_new, reference, "GRUCell's h' (compared with torch.nn.GRUCell)", misconception)
    differs("GRUCell's h' differs from torch.nn.GRUCell's, as it does in the ordinary case (bias, given state)",
            "cell-equations")


_SPECIAL_HINT = {
    "zero-initial-state": "with h=None start from zeros of shape (B, H), sized from x (x.new_zeros(x.size(0), H))",
    "bias-flag-ignored": "with bias=False there are no biases (register them as None) and nothing is added",
}


def plain_gru_works(submission, num_layers: int) -> bool:
    """Does the GRU match torch time-first, without a state, for B, L > 1? If not, a failure in a
    special layout is reported as the general gru-equations bug, not as that layout's."""
    torch_gru = random_torch_gru(INPUT_SIZE, HIDDEN_SIZE, num_layers)
    x = torch.randn(SEQ_LEN, N_BATCH, INPUT_SIZE)
    try:
        model = submission.get("GRU")(INPUT_SIZE, HIDDEN_SIZE, num_layers=num_layers)
        model.load_parameters(gru_params(torch_gru))
        out, h_n = gru_call(model, x)
    except (StudentError, AssertionError):
        return False
    ref_out, ref_h = torch_gru_reference(torch_gru, x)
    return is_close(out, ref_out) and is_close(h_n, ref_h)


def after_a_crash(submission, model, torch_gru: torch.nn.GRU, x: torch.Tensor, h_0, exc: StudentError) -> None:
    """The call raised: name the layout bug that explains it, if one does; else the error stands."""
    batch_first, num_layers = torch_gru.batch_first, torch_gru.num_layers
    if h_0 is None:
        zeros = torch.zeros(num_layers, x.size(0) if batch_first else x.size(1), torch_gru.hidden_size)
        if matches(model, torch_gru, x, zeros, None):
            crash_was(f"GRU raised {exc.type_name} without an initial state although it works when given zeros: "
                      "size h_0 from x's batch axis (x.size(1) time-first, x.size(0) batch-first)",
                      "zero-initial-state", exc)
    if is_in_place_error(exc):
        crash_was(f"GRU.forward raised {exc.type_name} about an in-place operation: " + WHY["shared-state"],
                  "shared-state", exc)
    if batch_first and h_0 is not None and matches(model, torch_gru, x, h_0.transpose(0, 1).contiguous(), h_0):
        crash_was("GRU reads the initial state as (B, num_layers, H) when batch_first=True: "
                  + WHY["state-batch-first"], "state-batch-first", exc)
    if batch_first:
        seq_first = x.transpose(0, 1).contiguous()
        torch_gru.batch_first = False
        try:
            if matches(model, torch_gru, seq_first, h_0, h_0):
                crash_was(WHY["batch-first-ignored"], "batch-first-ignored", exc)
        finally:
            torch_gru.batch_first = True
    if min(x.shape[:2]) == 1 and plain_gru_works(submission, num_layers):
        crash_was(f"GRU raised {exc.type_name} for input of shape {tuple(x.shape)} although it works for B, L > 1: "
                  "keep the axes of size one (no .squeeze())", "size-one-axes", exc)
    if num_layers > 1 and plain_gru_works(submission, 1) and not plain_gru_works(submission, num_layers):
        raw_input_check(submission, num_layers, exc)


def matches(model, torch_gru: torch.nn.GRU, x: torch.Tensor, h_sent, h_ref) -> bool:
    try:
        out, _ = gru_call(model, x, h_sent)
    except (StudentError, AssertionError):
        return False
    return is_close(out, torch_gru_reference(torch_gru, x, h_ref)[0])


def raw_input_check(submission, num_layers: int, exc: StudentError) -> None:
    """A stacked GRU that raised: does it run, feeding x to every layer, when input size == H?"""
    torch_gru = random_torch_gru(HIDDEN_SIZE, HIDDEN_SIZE, num_layers)
    params = gru_params(torch_gru)
    x = torch.randn(SEQ_LEN, N_BATCH, HIDDEN_SIZE)
    try:
        model = submission.get("GRU")(HIDDEN_SIZE, HIDDEN_SIZE, num_layers=num_layers)
        model.load_parameters(params)
        out, _ = gru_call(model, x)
    except (StudentError, AssertionError):
        return
    if is_close(out, manual_gru(params, num_layers, x, None, False, GruVariant(raw_input=True))[0]):
        crash_was(WHY["layers-fed-raw-input"], "layers-fed-raw-input", exc)


def expect_gru_like_torch(submission, num_layers: int, batch_first: bool, batch: int = N_BATCH,
                          length: int = SEQ_LEN, input_size: int = INPUT_SIZE, with_state: bool = False,
                          bias: bool = True, shape_misconception: str = "gru-output-shape") -> None:
    """Build, load, run and compare with torch.nn.GRU; returns nothing or fails with a diagnosis."""
    torch_gru = random_torch_gru(input_size, HIDDEN_SIZE, num_layers, bias=bias, batch_first=batch_first)
    params = gru_params(torch_gru)
    model = submission.get("GRU")(input_size, HIDDEN_SIZE, num_layers=num_layers, bias=bias, batch_first=batch_first)
    load(model, params, f"GRU(num_layers={num_layers})")
    x = torch.randn(batch, length, input_size) if batch_first else torch.randn(length, batch, input_size)
    h_0 = torch.randn(num_layers, batch, HIDDEN_SIZE) if with_state else None
    sent = submission.put(h_0) if with_state else None
    try:
        out, h_n = gru_call(model, x, sent)
    except StudentError as exc:
        after_a_crash(submission, model, torch_gru, x, h_0, exc)
        raise
    if with_state and not torch.equal(expect_tensor(sent.fetch(), "the initial state"), h_0):
        fail("GRU.forward changed the initial state tensor h it was given: " + WHY["shared-state"], "shared-state")
    ref_out, ref_h = torch_gru_reference(torch_gru, x, h_0)
    layout = f"batch_first={batch_first}, num_layers={num_layers}"
    if not (is_close(out, ref_out) and is_close(h_n, ref_h)):
        fail_if_diagnosed(diagnose_gru(out, h_n, params, num_layers, x, h_0, batch_first))
        if batch_first and with_state and matches(model, torch_gru, x, h_0.transpose(0, 1).contiguous(), h_0):
            fail("GRU reads the initial state as (B, num_layers, H) when batch_first=True: "
                 + WHY["state-batch-first"], "state-batch-first")
        bias_names = [f"cells.{k}.{n}" for k in range(num_layers) for n in ("bias_ih", "bias_hh")]
        if not bias and any(v is not None for v in model.parameters_at(bias_names).values()):
            fail("GRU(..., bias=False) must have no bias parameters (like torch.nn.GRU)", "bias-flag-ignored")
    if tuple(out.shape) != tuple(ref_out.shape):
        message = f"GRU's output ({layout}) has shape {tuple(out.shape)}, expected {tuple(ref_out.shape)}"
        if not plain_gru_works(submission, num_layers):  # wrong in the ordinary case too: reported there
            differs(message, "gru-output-shape")
        fail(message, shape_misconception)
    if not is_close(out, ref_out):
        # Right time-first without a state but wrong here: this case is what differs. Wrong there too: the
        # equations, which an earlier item reports (same cause).
        what = f"GRU's output ({layout}, compared with torch.nn.GRU)"
        if not plain_gru_works(submission, num_layers):
            differs(f"{what} differs, as it does time-first without a state", "gru-equations")
        expect_close(out, ref_out, what)
    if tuple(h_n.shape) != tuple(ref_h.shape):
        if batch_first and tuple(h_n.shape) == tuple(ref_h.transpose(0, 1).shape):
            fail("GRU's h_n is (B, num_layers, H): " + WHY["state-batch-first"], "state-batch-first")
        message = f"GRU's h_n has shape {tuple(h_n.shape)}, expected (num_layers, B, H) = {tuple(ref_h.shape)}"
        if not plain_gru_works(submission, num_layers):
            differs(message, "gru-output-shape")
        fail(message, "state-batch-first" if batch_first else shape_misconception)
    expect_close(h_n, ref_h, f"GRU's h_n ({layout}, compared with torch.nn.GRU)")
