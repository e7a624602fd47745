"""Hidden grader for lstm: an LSTM from scratch, and `batch_first` done right.

One test per rubric item. Every hidden call uses the same sizes for every student, with each axis
different from every other (input 7, hidden 5, batch 4, length 6, 1-3 layers; the public checks use
other sizes), so no axis mix-up passes by chance. The reference is torch.nn.LSTMCell / torch.nn.LSTM
with weights copied into the parameters the spec names, resolved on the student's module by
attribute path (aliases, nested modules and extra buffers are fine); gradients are compared with
torch's for the same input and upstream gradient. A failing item is diagnosed by comparing against
*wrong* LSTMs (seqlab.oracles.lstm); an item that fails only because a cell or LSTM item it
`depends_on` already failed says "same cause as ...". The classifier is trained here, on the
trusted side: its gradients come back from the sandbox and an Adam step on them is loaded back in.
"""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.gradients import backward_from
from seqlab.grading.expect import (
    Misconception,
    differs,
    expect_close,
    expect_shape,
    expect_tensor,
    fail,
)
from seqlab.grading.remote import StudentError
from seqlab.oracles.lstm import (
    LstmVariant,
    cell_params,
    diagnose_cell,
    diagnose_lstm,
    lstm_params,
    manual_lstm,
    random_torch_cell,
    random_torch_lstm,
    torch_lstm_reference,
)
from seqlab.oracles.recurrent import CellLayout, load_cell_weights
from seqlab.oracles.tolerance import describe_difference, is_close

STUDENT_API = ("LSTMCell", "LSTM", "SequenceClassifier")

WHY = {
    "gate-order": "the four gate blocks must be read in torch's order input, forget, cell candidate (g), output",
    "cell-output-no-tanh": "the hidden state is h = o * tanh(c): the tanh on the cell state is missing",
    "forget-gate-on-candidate": "the forget gate multiplies the old cell state and the input gate the candidate: "
                                "c = f * c_prev + i * g",
    "bias-hh-ignored": "torch's LSTM adds both biases, bias_ih and bias_hh, to the gates",
    "batch-first-ignored": "with batch_first=True the input is (B, L, features): move the time axis first "
                           "before looping over time",
    "output-not-transposed": "with batch_first=True the output must be (B, L, H) again: transpose it back "
                             "after the time loop",
    "state-batch-first": "h_n and c_n are (num_layers, B, H) whatever batch_first says: do not transpose them",
    "layers-fed-raw-input": "layer k > 0 reads the hidden states of the layer below, not the raw input x",
    "first-time-step": "the time loop must run over every step, starting at t = 0",
    "last-step-out-minus-one": "out[-1] on a batch-first output is the last sequence of the batch; the last "
                               "time step of every sequence is out[:, -1]",
    "h-c-swapped": "LSTMCell returns the pair (h, c) in that order, h = o * tanh(c) first: the two states are "
                   "swapped",
}
STEPS, BATCH, LENGTH, CLASSES, HIDDEN, LR = 60, 64, 8, 3, 16, 0.05
_RAW = LstmVariant(raw_input=True)
# Hidden sizes: each axis differs from every other, from the number of layers (1, 2 or 3) and from
# the public checks' sizes (so hard-coded sizes fail).
INPUT_SIZE, HIDDEN_SIZE, N_BATCH, SEQ_LEN = 7, 9, 5, 8
Y_DIM, CLASSIFIER_LAYERS, OTHER_BATCHES = 4, 3, (1, 10, 11)


def _sizes() -> tuple[int, int, int, int]:
    """input size, hidden size, batch, length: the same for every student, all different."""
    return INPUT_SIZE, HIDDEN_SIZE, N_BATCH, SEQ_LEN


def _fail_if_diagnosed(name: str | None) -> None:
    if name is not None:
        fail(WHY[name], name)


_LAYOUT = CellLayout("LSTMCell", 4, "gates", WHY["bias-hh-ignored"], WHY["layers-fed-raw-input"])


def _load(model, params: dict[str, torch.Tensor], what: str) -> None:
    """Copy torch's weights into the parameters the spec names (resolved by attribute path on the
    student's module); a missing or misshapen parameter names its misconception."""
    load_cell_weights(model, params, what, _LAYOUT)


def _cell_call(cell, x: torch.Tensor, state=None) -> tuple[torch.Tensor, torch.Tensor]:
    result = cell(x) if state is None else cell(x, state)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("LSTMCell.forward should return the pair (h, c)", "cell-equations")
    return expect_tensor(result[0], "LSTMCell's h"), expect_tensor(result[1], "LSTMCell's c")


def _lstm_call(model, x: torch.Tensor, state=None):
    result = model(x) if state is None else model(x, state)
    if (not isinstance(result, (tuple, list)) or len(result) != 2
            or not isinstance(result[1], (tuple, list)) or len(result[1]) != 2):
        fail("LSTM.forward should return (output, (h_n, c_n))", "lstm-output-shape")
    return (expect_tensor(result[0], "LSTM's output"), expect_tensor(result[1][0], "LSTM's h_n"),
            expect_tensor(result[1][1], "LSTM's c_n"))


def _expect_cell_like_torch(submission, bias: bool, with_state: bool, what: str = "compared with torch.nn.LSTMCell"
                            ) -> None:
    input_size, hidden, batch, _ = _sizes()
    torch_cell = random_torch_cell(input_size, hidden, bias=bias)
    params = cell_params(torch_cell)
    cell = submission.get("LSTMCell")(input_size, hidden, bias=bias)
    _load(cell, params, "LSTMCell")
    x = torch.randn(batch, input_size)
    state = (torch.randn(batch, hidden), torch.randn(batch, hidden)) if with_state else None
    h, c = _cell_call(cell, x, state)
    expect_shape(h, (batch, hidden), "LSTMCell's h", "cell-equations")
    expect_shape(c, (batch, hidden), "LSTMCell's c", "cell-equations")
    with torch.no_grad():
        h_ref, c_ref = torch_cell(x.double(), None if state is None else tuple(s.double() for s in state))
    if is_close(h, h_ref) and is_close(c, c_ref):
        return
    if is_close(h, c_ref) and is_close(c, h_ref):
        fail(WHY["h-c-swapped"], "h-c-swapped")
    _fail_if_diagnosed(diagnose_cell(h, c, params, x, state))
    if not bias and any(v is not None for v in cell.parameters_at(["bias_ih", "bias_hh"]).values()):
        fail("LSTMCell(..., bias=False) must have no bias parameters (like torch.nn.LSTMCell)", "bias-flag-ignored")
    if (bias and with_state) or _plain_cell_works(submission):
        expect_close(h, h_ref, f"LSTMCell's h ({what})")
        expect_close(c, c_ref, f"LSTMCell's c ({what})")
    for value, ref, name in ((h, h_ref, "h"), (c, c_ref, "c")):
        if not is_close(value, ref):
            differs(f"LSTMCell's {name} ({what}) differs from the reference, as it does in the ordinary case "
                    f"(bias, given state): {describe_difference(value, ref)}", "cell-equations")


def _plain_cell_works(submission) -> bool:
    """Does the cell match torch in the ordinary case (bias, given state)? If not, a failure of a
    special case is reported as the general cell-equations bug, not as the special case's."""
    input_size, hidden, batch, _ = _sizes()
    torch_cell = random_torch_cell(input_size, hidden)
    x, state = torch.randn(batch, input_size), (torch.randn(batch, hidden), torch.randn(batch, hidden))
    try:
        cell = submission.get("LSTMCell")(input_size, hidden)
        cell.load_parameters(cell_params(torch_cell))
        h, c = _cell_call(cell, x, state)
    except (StudentError, AssertionError):
        return False
    with torch.no_grad():
        h_ref, c_ref = torch_cell(x.double(), tuple(s.double() for s in state))
    return is_close(h, h_ref) and is_close(c, c_ref)


def _plain_lstm_works(submission, num_layers: int) -> bool:
    """Does the LSTM match torch time-first, without a state, for B, L > 1? If not, a failure in a
    special layout is reported as the general lstm-equations bug, not as that layout's."""
    input_size, hidden, batch, length = _sizes()
    torch_lstm = random_torch_lstm(input_size, hidden, num_layers)
    x = torch.randn(length, batch, input_size)
    try:
        model = submission.get("LSTM")(input_size, hidden, num_layers=num_layers)
        model.load_parameters(lstm_params(torch_lstm))
        out, h_n, c_n = _lstm_call(model, x)
    except (StudentError, AssertionError):
        return False
    ref_out, (ref_h, ref_c) = torch_lstm_reference(torch_lstm, x, None)
    return is_close(out, ref_out) and is_close(h_n, ref_h) and is_close(c_n, ref_c)


def _raw_input_check(submission, num_layers: int, batch_first: bool) -> None:
    """Called when a stacked LSTM raised: does it run, feeding x to every layer, when input size == H?"""
    hidden = HIDDEN_SIZE
    torch_lstm = random_torch_lstm(hidden, hidden, num_layers, batch_first=batch_first)
    params = lstm_params(torch_lstm)
    model = submission.get("LSTM")(hidden, hidden, num_layers=num_layers, batch_first=batch_first)
    try:
        model.load_parameters(params)
        x = torch.randn(SEQ_LEN, N_BATCH, hidden)
        out, _, _ = _lstm_call(model, x)
    except (StudentError, AssertionError):
        return
    wrong = manual_lstm(params, num_layers, x, None, batch_first, _RAW)[0]
    if is_close(out, wrong):
        fail(WHY["layers-fed-raw-input"], "layers-fed-raw-input")


def _batch_first_ignored_check(model, torch_lstm: torch.nn.LSTM, x: torch.Tensor, state) -> None:
    """Called when a batch-first LSTM raised: does it work when the same data comes time-first?"""
    seq_first = x.transpose(0, 1).contiguous()
    try:
        out, _, _ = _lstm_call(model, seq_first, state)
    except (StudentError, AssertionError):
        return
    torch_lstm.batch_first = False
    try:
        ref_out, _ = torch_lstm_reference(torch_lstm, seq_first, state)
    finally:
        torch_lstm.batch_first = True
    if is_close(out, ref_out):
        fail(WHY["batch-first-ignored"], "batch-first-ignored")


def _expect_lstm_like_torch(submission, num_layers: int, batch_first: bool, input_size: int, hidden: int,
                            batch: int, length: int, with_state: bool = False,
                            shape_misconception: str = "lstm-output-shape") -> None:
    """Build, load, run and compare with torch.nn.LSTM; returns nothing or fails with a diagnosis."""
    torch_lstm = random_torch_lstm(input_size, hidden, num_layers, batch_first=batch_first)
    params = lstm_params(torch_lstm)
    model = submission.get("LSTM")(input_size, hidden, num_layers=num_layers, batch_first=batch_first)
    _load(model, params, f"LSTM(num_layers={num_layers})")
    x = torch.randn(batch, length, input_size) if batch_first else torch.randn(length, batch, input_size)
    state = None
    if with_state:
        state = (torch.randn(num_layers, batch, hidden), torch.randn(num_layers, batch, hidden))
    try:
        out, h_n, c_n = _lstm_call(model, x, state)
    except StudentError:
        if num_layers > 1 and input_size != hidden:
            _raw_input_check(submission, num_layers, batch_first)
        if batch_first:
            _batch_first_ignored_check(model, torch_lstm, x, state)
        raise
    ref_out, (ref_h, ref_c) = torch_lstm_reference(torch_lstm, x, state)
    layout = f"batch_first={batch_first}, num_layers={num_layers}"
    if not (is_close(out, ref_out) and is_close(h_n, ref_h) and is_close(c_n, ref_c)):
        _fail_if_diagnosed(diagnose_lstm(out, h_n, params, num_layers, x, state, batch_first))
    expect_shape(out, tuple(ref_out.shape), f"LSTM's output ({layout})", shape_misconception)
    if not is_close(out, ref_out):
        # Right time-first but wrong here: the layout is the bug. Wrong time-first too: the equations
        # (or, when a cell item already failed, the same cause as that).
        if not _plain_lstm_works(submission, num_layers):
            differs(f"LSTM's output ({layout}) differs from torch.nn.LSTM's, as it does time-first without a "
                    f"state: {describe_difference(out, ref_out)}", "lstm-equations")
        if batch_first:
            expect_close(out, ref_out, f"LSTM's output ({layout}, compared with torch.nn.LSTM)", "batch-first-ignored")
    expect_close(out, ref_out, f"LSTM's output ({layout}, compared with torch.nn.LSTM)")
    _expect_layer_first(h_n, c_n, ref_h, batch_first)
    expect_close(h_n, ref_h, f"LSTM's h_n ({layout}, compared with torch.nn.LSTM)")
    expect_close(c_n, ref_c, f"LSTM's c_n ({layout}, compared with torch.nn.LSTM)")


def _expect_layer_first(h_n: torch.Tensor, c_n: torch.Tensor, ref_h: torch.Tensor, batch_first: bool) -> None:
    for value, name in ((h_n, "h_n"), (c_n, "c_n")):
        if tuple(value.shape) != tuple(ref_h.shape):
            if batch_first and tuple(value.shape) == tuple(ref_h.transpose(0, 1).shape):
                fail(f"LSTM's {name} is (B, num_layers, H): " + WHY["state-batch-first"], "state-batch-first")
            fail(f"LSTM's {name} has shape {tuple(value.shape)}, expected (num_layers, B, H) = "
                 f"{tuple(ref_h.shape)}", "state-batch-first")


# -- LSTMCell ---------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="cell-parameters")
def test_cell_parameters_have_torch_names_and_shapes(submission):
    input_size, hidden, _, _ = _sizes()
    cell = submission.get("LSTMCell")(input_size, hidden)
    _load(cell, cell_params(random_torch_cell(input_size, hidden)), "LSTMCell")


@pytest.mark.rubric(points=3, misconception="cell-equations",
                    depends_on=("cell_parameters_have_torch_names_and_shapes"))
def test_cell_matches_torch_lstm_cell(submission):
    _expect_cell_like_torch(submission, bias=True, with_state=True)


@pytest.mark.rubric(points=1, misconception="zero-initial-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell"))
def test_cell_starts_from_zero_state_when_none(submission):
    _expect_cell_like_torch(submission, bias=True, with_state=False,
                            what="with state=None the first step must start from h = c = 0 of shape (B, H)")


@pytest.mark.rubric(points=1, misconception="bias-flag-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell"))
def test_cell_without_bias_matches_torch_lstm_cell(submission):
    _expect_cell_like_torch(submission, bias=False, with_state=True)


# -- LSTM -------------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="cells-layout",
                    depends_on=("cell_parameters_have_torch_names_and_shapes"))
def test_lstm_keeps_its_layers_in_cells(submission):
    input_size, hidden, _, _ = _sizes()
    num_layers = 3
    model = submission.get("LSTM")(input_size, hidden, num_layers=num_layers)
    _load(model, lstm_params(random_torch_lstm(input_size, hidden, num_layers)), f"LSTM(num_layers={num_layers})")


@pytest.mark.rubric(points=3, misconception="lstm-equations",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell",
                                "lstm_keeps_its_layers_in_cells"))
def test_lstm_matches_torch_lstm_for_one_to_three_layers(submission):
    input_size, hidden, batch, length = _sizes()
    for num_layers in (1, 2, 3):
        _expect_lstm_like_torch(submission, num_layers, False, input_size, hidden, batch, length,
                                with_state=num_layers == 2)


@pytest.mark.rubric(points=3, misconception="batch-first-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell",
                                "lstm_keeps_its_layers_in_cells", "lstm_matches_torch_lstm_for_one_to_three_layers"))
def test_lstm_batch_first_matches_torch_lstm(submission):
    input_size, hidden, batch, length = _sizes()
    for num_layers in (1, 3):
        _expect_lstm_like_torch(submission, num_layers, True, input_size, hidden, batch, length)


@pytest.mark.rubric(points=2, misconception="state-batch-first",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell",
                                "lstm_keeps_its_layers_in_cells", "lstm_matches_torch_lstm_for_one_to_three_layers"))
def test_final_states_are_layer_first_in_both_layouts(submission):
    input_size, hidden, batch, length = _sizes()
    num_layers = 3
    for batch_first in (True, False):
        _expect_lstm_like_torch(submission, num_layers, batch_first, input_size, hidden, batch, length)


@pytest.mark.rubric(points=1, misconception="state-batch-first",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell",
                                "lstm_keeps_its_layers_in_cells", "lstm_matches_torch_lstm_for_one_to_three_layers"))
def test_initial_state_is_layer_first_in_both_layouts(submission):
    input_size, hidden, batch, length = _sizes()
    num_layers = 2
    for batch_first in (True, False):
        _expect_lstm_like_torch(submission, num_layers, batch_first, input_size, hidden, batch, length,
                                with_state=True)


@pytest.mark.rubric(points=1, misconception="size-one-axes",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell",
                                "lstm_keeps_its_layers_in_cells", "lstm_matches_torch_lstm_for_one_to_three_layers"))
def test_batch_of_one_and_sequence_of_length_one(submission):
    """B = 1 or L = 1, one at a time (2 layers, so no other axis is 1 too)."""
    input_size, hidden, batch, length = _sizes()
    for batch_first in (True, False):
        for b, n in ((1, length), (batch, 1)):
            _expect_lstm_like_torch(submission, 2, batch_first, input_size, hidden, b, n,
                                    shape_misconception="size-one-axes")


@pytest.mark.rubric(points=2, misconception="detached-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_lstm_cell",
                                "lstm_keeps_its_layers_in_cells", "lstm_matches_torch_lstm_for_one_to_three_layers"))
def test_gradients_match_torch_lstm(submission):
    """The gradients the submission reports (of x and of every parameter the spec names) must equal
    torch.nn.LSTM's for the same input and upstream gradient: reported values are never trusted."""
    input_size, hidden, batch, length = _sizes()
    torch_lstm = random_torch_lstm(input_size, hidden, 2)
    params = lstm_params(torch_lstm)
    model = submission.get("LSTM")(input_size, hidden, num_layers=2)
    _load(model, params, "LSTM(num_layers=2)")
    model.zero_grad()
    x = torch.randn(length, batch, input_size)
    x_remote = submission.put(x.clone().requires_grad_(True))
    result = model.keep(x_remote)
    out = expect_tensor(result[0].fetch(), "LSTM's output")
    x_ref = x.double().requires_grad_(True)
    ref_out, _ = torch_lstm(x_ref)
    if not is_close(out, ref_out):
        _fail_if_diagnosed(diagnose_lstm(out, None, params, 2, x, None, False))
        differs("LSTM's output differs from torch.nn.LSTM's, so its gradients cannot match either: "
                + describe_difference(out, ref_out), "lstm-equations")
    grad_out = torch.randn(ref_out.shape)
    try:
        result[0].backward(grad_out)
    except StudentError as exc:
        if "grad" not in exc.detail:
            raise
        raise Misconception("back-propagating from LSTM's output failed: the output is cut off from autograd; keep "
                            "every step in torch operations (no .detach(), .data, numpy or torch.no_grad())",
                            "detached-state") from exc
    backward_from(ref_out, grad_out.double())
    why = ("the gradient of {} differs from torch.nn.LSTM's for the same input and upstream gradient: do not "
           ".detach() (or .data) the states between time steps, nor set .grad yourself; back-propagation "
           "through time needs the whole chain")
    grad_x = x_remote.grad()
    if not isinstance(grad_x, torch.Tensor) or not is_close(grad_x, x_ref.grad):
        fail(why.format("the input x"), "detached-state")
    grads = model.gradients_at(list(params))
    for name in params:
        k, torch_name = name.split(".")[1], name.split(".")[2]
        grad = grads.get(name)
        if not isinstance(grad, torch.Tensor) or not is_close(grad, getattr(torch_lstm, f"{torch_name}_l{k}").grad):
            fail(why.format(name), "detached-state")


# -- SequenceClassifier -----------------------------------------------------------------------

def _classifier(submission, x_dim: int, h_dim: int, y_dim: int, n_layer: int):
    return submission.get("SequenceClassifier")(x_dim=x_dim, h_dim=h_dim, y_dim=y_dim, n_layer=n_layer)


def _classify(model, x: torch.Tensor, y_dim: int, what: str = "SequenceClassifier's logits") -> torch.Tensor:
    return _check_logits(_run_classifier(model, x, keep=False), x, y_dim, what)


def _run_classifier(model, x: torch.Tensor, keep: bool):
    try:
        return model.keep(x) if keep else model(x)
    except StudentError as exc:
        if "hidden" in exc.detail.lower() and "size" in exc.detail.lower():
            raise Misconception(f"with a batch of {x.size(0)} sequences nn.LSTM rejected the initial state: size h_0 "
                                "and c_0 from x (x.size(0) sequences), not from a constant, or leave them out",
                                "fixed-batch-state") from exc
        raise


def _check_logits(value, x: torch.Tensor, y_dim: int, what: str = "SequenceClassifier's logits") -> torch.Tensor:
    n, length = x.size(0), x.size(1)
    logits = expect_tensor(value, what)
    if tuple(logits.shape) == (length, y_dim) and n != length:
        fail(f"{what} are (L, y_dim) = {tuple(logits.shape)} for {n} sequences of length {length}: "
             + WHY["last-step-out-minus-one"], "last-step-out-minus-one")
    return expect_shape(logits, (n, y_dim), what + " for x of shape (N, L, x_dim)", "classifier-output")


def _torch_classifier(x_dim: int, h_dim: int, y_dim: int, n_layer: int) -> tuple[torch.nn.LSTM, torch.nn.Linear]:
    rnn = random_torch_lstm(x_dim, h_dim, n_layer, batch_first=True)
    lin = torch.nn.Linear(h_dim, y_dim).double()
    with torch.no_grad():
        for param in lin.parameters():
            param.copy_(param.float().double())
    return rnn, lin


def _classifier_params(rnn: torch.nn.LSTM, lin: torch.nn.Linear) -> dict[str, torch.Tensor]:
    params = {f"rnn.{n}": p.detach().float() for n, p in rnn.named_parameters()}
    params.update({f"lin.{n}": p.detach().float() for n, p in lin.named_parameters()})
    return params


def _load_classifier(model, params: dict[str, torch.Tensor]) -> None:
    own = model.parameters_at(list(params))
    for name, value in params.items():
        if own.get(name) is None or tuple(own[name].shape) != tuple(value.shape):
            fail(f"SequenceClassifier needs self.rnn = nn.LSTM(x_dim, h_dim, n_layer, batch_first=True) and "
                 f"self.lin = nn.Linear(h_dim, y_dim): parameter {name} is missing or misshapen", "classifier-layout")
    model.load_parameters(params)


@pytest.mark.rubric(points=1, misconception="classifier-layout")
def test_classifier_has_batch_first_lstm_and_linear(submission):
    x_dim, h_dim, _, _ = _sizes()
    y_dim, n_layer = Y_DIM, CLASSIFIER_LAYERS
    model = _classifier(submission, x_dim, h_dim, y_dim, n_layer)
    _load_classifier(model, _classifier_params(*_torch_classifier(x_dim, h_dim, y_dim, n_layer)))
    if model.rnn.attr("batch_first") is not True:
        fail("SequenceClassifier's self.rnn must be nn.LSTM(..., batch_first=True)", "classifier-layout")


@pytest.mark.rubric(points=2, misconception="fixed-batch-state")
def test_classifier_returns_logits_for_any_batch_size(submission):
    x_dim, h_dim, _, length = _sizes()
    y_dim = Y_DIM
    model = _classifier(submission, x_dim, h_dim, y_dim, CLASSIFIER_LAYERS)
    model.eval()
    for n in OTHER_BATCHES:
        _classify(model, torch.randn(n, length, x_dim), y_dim)


@pytest.mark.rubric(points=2, misconception="classifier-output",
                    depends_on=("classifier_has_batch_first_lstm_and_linear",))
def test_classifier_reads_top_layer_at_last_time_step(submission):
    x_dim, h_dim, n, length = _sizes()
    y_dim, n_layer = Y_DIM, CLASSIFIER_LAYERS
    rnn, lin = _torch_classifier(x_dim, h_dim, y_dim, n_layer)
    model = _classifier(submission, x_dim, h_dim, y_dim, n_layer)
    model.eval()
    _load_classifier(model, _classifier_params(rnn, lin))
    x = torch.randn(n, length, x_dim)
    logits = _classify(model, x, y_dim)
    with torch.no_grad():
        out, (h_n, _) = rnn(x.double())
        if is_close(logits, lin(out[:, -1])):
            return
        if is_close(logits, lin(out[:, 0])):
            fail("the logits come from the first time step (out[:, 0]): the whole sequence is summarised only "
                 "at the last step, out[:, -1] (= h_n[-1])", "first-time-step")
        if is_close(logits, lin(h_n[0])):
            fail("the logits come from the bottom layer's final state h_n[0]: use the top layer, h_n[-1] "
                 "(= out[:, -1])", "classifier-output")
    differs("the logits should be self.lin applied to the top layer's output at the last time step, "
            "out[:, -1]: they differ from that")


@pytest.mark.rubric(points=2, misconception="last-step-out-minus-one")
def test_classifier_keeps_examples_independent(submission):
    x_dim, h_dim, n, length = _sizes()  # N != L: out[-1] is then (L, y_dim), named by its shape
    y_dim = Y_DIM
    model = _classifier(submission, x_dim, h_dim, y_dim, CLASSIFIER_LAYERS)
    model.eval()
    x = torch.randn(n, length, x_dim)
    j = random.randrange(n)
    x2 = x.clone()
    x2[j] = torch.randn(length, x_dim)
    before, after = _classify(model, x, y_dim), _classify(model, x2, y_dim)
    others = [i for i in range(n) if i != j]
    if is_close(after[j], before[j]):
        fail(f"replacing sequence {j} did not change its own logits: " + WHY["last-step-out-minus-one"],
             "last-step-out-minus-one")
    if not is_close(after[others], before[others]):
        fail("changing one sequence changed the logits of the other sequences: " + WHY["last-step-out-minus-one"],
             "last-step-out-minus-one")


def _sum_task(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Which of the first CLASSES channels has the largest sum over the whole sequence (one more
    channel is noise, so the input width differs from the number of classes)."""
    x = torch.randn(n, LENGTH, CLASSES + 1, generator=generator)
    return x, x[..., :CLASSES].sum(1).argmax(1)


@pytest.mark.rubric(points=2, misconception="classifier-not-learning",
                    depends_on=("classifier_has_batch_first_lstm_and_linear", "classifier_returns_logits_for_any_batch_size",
                                "classifier_reads_top_layer_at_last_time_step", "classifier_keeps_examples_independent"))
def test_classifier_learns_a_sequence_task(submission):
    generator = torch.Generator().manual_seed(random.randint(0, 2**31 - 1))
    submission.seed(random.randint(0, 2**31 - 1))
    model = _classifier(submission, CLASSES + 1, HIDDEN, CLASSES, 1)
    model.train()
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.parameters_by_name().items()}
    optimizer = torch.optim.Adam(params.values(), lr=LR)
    zero_grad = model.zero_grad
    for _ in range(STEPS):
        x, y = _sum_task(BATCH, generator)
        zero_grad()
        logits_remote = _run_classifier(model, x, keep=True)
        logits = _check_logits(logits_remote.fetch(), x, CLASSES)
        grad = (torch.softmax(logits.double(), 1) - torch.nn.functional.one_hot(y, CLASSES)) / BATCH
        logits_remote.backward(grad.float())
        grads = model.gradients_by_name()
        for name, param in params.items():
            param.grad = grads.get(name) if isinstance(grads.get(name), torch.Tensor) else None
        optimizer.step()
        model.load_parameters({n: p.detach() for n, p in params.items()})
    model.eval()
    x, y = _sum_task(512, generator)
    accuracy = float((_classify(model, x, CLASSES).argmax(1) == y).double().mean())
    if accuracy < 0.6:
        differs(f"after {STEPS} training steps on a 3-class sequence task (which channel has the largest sum) "
             f"the classifier reached {accuracy:.0%} accuracy (chance 33%, a correct classifier > 80%): it "
             "must read the last time step of every sequence")
