"""The lstm graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only lstm requires."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from grader_proofs import (  # noqa: F401
    GraderProof,
    ProofClass,
    import_submission,
    misconception_of,
    one_torch_thread,
)

PROOF = ProofClass("lstm")
REQUIRED_MUTANTS = ("gate-order", "cell-output-no-tanh", "forget-gate-on-candidate", "bias-hh-ignored",
                    "batch-first-ignored", "output-not-transposed", "state-batch-first", "layers-fed-raw-input",
                    "last-step-out-minus-one", "fixed-batch-state", "first-time-step")


class TestLstmGraderProof(GraderProof):
    assignment = "lstm"


def test_the_class_has_every_required_mutant_and_4_correct_styles():
    assert set(REQUIRED_MUTANTS) <= {misconception_of(path) for path in PROOF.bugs}
    assert len(PROOF.styles) >= 4


# -- each expected verdict, checked against torch's own modules in this process (our own files) --

def _copy_cell(mine: torch.nn.Module, ref: torch.nn.LSTMCell) -> None:
    with torch.no_grad():
        for name, value in ref.named_parameters():
            getattr(mine, name).copy_(value)


def _copy_lstm(mine: torch.nn.Module, ref: torch.nn.LSTM) -> None:
    with torch.no_grad():
        for k in range(ref.num_layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                if hasattr(ref, f"{name}_l{k}"):
                    getattr(mine.cells[k], name).copy_(getattr(ref, f"{name}_l{k}"))


def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def _cell_disagrees(module) -> str | None:
    for bias, with_state in ((True, True), (True, False), (False, True)):
        ref = torch.nn.LSTMCell(6, 4, bias=bias)
        mine = module.LSTMCell(6, 4, bias=bias)
        if not bias and any("bias" in n for n, _ in mine.named_parameters()):
            return "bias parameters with bias=False"
        _copy_cell(mine, ref)
        x = torch.randn(3, 6)
        state = (torch.randn(3, 4), torch.randn(3, 4)) if with_state else None
        h, c = mine(x, state) if with_state else mine(x)
        h_ref, c_ref = ref(x, state)
        if not (_close(h, h_ref) and _close(c, c_ref)):
            return f"LSTMCell(bias={bias}, state given={with_state})"
    return None


def _lstm_disagrees(module) -> str | None:
    for layers, batch_first, batch, length, with_state in ((1, False, 3, 5, False), (2, False, 3, 5, True),
                                                          (3, True, 3, 5, False), (2, True, 1, 5, True),
                                                          (2, False, 3, 1, False), (2, True, 1, 1, False)):
        ref = torch.nn.LSTM(6, 4, layers, batch_first=batch_first)
        mine = module.LSTM(6, 4, num_layers=layers, batch_first=batch_first)
        _copy_lstm(mine, ref)
        x = torch.randn(batch, length, 6) if batch_first else torch.randn(length, batch, 6)
        state = (torch.randn(layers, batch, 4), torch.randn(layers, batch, 4)) if with_state else None
        x_mine, x_ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        out, (h_n, c_n) = mine(x_mine, state) if with_state else mine(x_mine)
        ref_out, (ref_h, ref_c) = ref(x_ref, state)
        if not (_close(out, ref_out) and _close(h_n, ref_h) and _close(c_n, ref_c)):
            return f"LSTM(layers={layers}, batch_first={batch_first}, B={batch}, L={length})"
        upstream = torch.randn(ref_out.shape)
        try:
            out.backward(upstream)
        except RuntimeError:
            return "LSTM output cut off from autograd"
        ref_out.backward(upstream)
        if not _close(x_mine.grad, x_ref.grad):
            return "gradient of x"
        for k in range(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                if not _close(getattr(mine.cells[k], name).grad, getattr(ref, f"{name}_l{k}").grad):
                    return f"gradient of cells.{k}.{name}"
    return None


def _classifier_disagrees(module) -> str | None:
    model = module.SequenceClassifier(x_dim=5, h_dim=7, y_dim=3, n_layer=2).eval()
    if not (isinstance(model.rnn, torch.nn.LSTM) and model.rnn.batch_first and isinstance(model.lin, torch.nn.Linear)):
        return "classifier layout"
    for n in (1, 4, 9):
        x = torch.randn(n, 6, 5)
        with torch.no_grad():
            try:
                logits = model(x)
            except RuntimeError:
                return f"classifier with {n} sequences"
            out, _ = model.rnn(x)
            if not _close(logits, model.lin(out[:, -1])):
                return f"classifier logits for {n} sequences"
    return None


def torch_disagreement(path: Path) -> str | None:
    """Where one of our submissions differs from torch.nn.LSTMCell / LSTM / the classifier's
    rule (None: it agrees everywhere we look)."""
    torch.manual_seed(0)
    module = import_submission(path)
    try:
        return _cell_disagrees(module) or _lstm_disagrees(module) or _classifier_disagrees(module)
    except (RuntimeError, AttributeError, TypeError, ValueError) as exc:
        return f"raised {type(exc).__name__}"


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("style", PROOF.styles, ids=lambda p: p.stem)
def test_correct_style_agrees_with_torch(style):
    assert torch_disagreement(style) is None


LEARNING_ONLY = {"classifier-not-learning"}  # only visible through training, not a forward rule


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("mutant", PROOF.bugs, ids=lambda p: p.stem)
def test_mutant_disagrees_with_torch(mutant):
    if misconception_of(mutant) not in LEARNING_ONLY:
        assert torch_disagreement(mutant) is not None
