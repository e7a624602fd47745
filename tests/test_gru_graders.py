"""The gru graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only gru requires: the misconceptions
issue 13 names each have a mutant, and every expected verdict is checked against torch's own
modules in this process (our own files only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from grader_proofs import GraderProof, ProofClass, import_submission, misconception_of

PROOF = ProofClass("gru")
REQUIRED_MUTANTS = ("gate-order", "reset-before-projection", "reset-outside-bias", "update-reversed",
                    "sigmoid-candidate", "state-batch-first", "layers-fed-raw-input", "detached-state",
                    "shared-state", "count-forgets-bias-hh")
CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class TestGruGraderProof(GraderProof):
    assignment = "gru"


def test_the_class_has_every_required_mutant_12_mutants_and_5_correct_styles():
    assert set(REQUIRED_MUTANTS) <= {misconception_of(path) for path in PROOF.bugs}
    assert len(PROOF.bugs) >= 12
    assert len(PROOF.styles) >= 5


# -- each expected verdict, checked against torch's own modules in this process (our own files) --

def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def _copy_gru(mine: torch.nn.Module, ref: torch.nn.GRU) -> None:
    with torch.no_grad():
        for k in range(ref.num_layers):
            for name in CELL_NAMES:
                if getattr(ref, f"{name}_l{k}", None) is not None:
                    getattr(mine.cells[k], name).copy_(getattr(ref, f"{name}_l{k}"))


def _cell_disagrees(module) -> str | None:
    for bias, with_state in ((True, True), (True, False), (False, True)):
        ref = torch.nn.GRUCell(6, 4, bias=bias)
        with torch.no_grad():
            for param in ref.parameters():
                param.normal_()                          # b_hn far from zero: both reset variants differ
        mine = module.GRUCell(6, 4, bias=bias)
        if not bias and any(getattr(mine, n, None) is not None for n in ("bias_ih", "bias_hh")):
            return "bias parameters with bias=False"
        with torch.no_grad():
            for name, value in ref.named_parameters():
                getattr(mine, name).copy_(value)
        x = torch.randn(3, 6)
        h = torch.randn(3, 4) if with_state else None
        try:
            h_new = mine(x, h) if with_state else mine(x)
        except RuntimeError:
            return f"GRUCell(bias={bias}, state given={with_state}) raised"
        if not _close(h_new, ref(x, h)):
            return f"GRUCell(bias={bias}, state given={with_state})"
    return None


def _gru_disagrees(module) -> str | None:
    for layers, batch_first, batch, length, with_state in ((1, False, 3, 5, False), (2, False, 3, 5, True),
                                                          (3, True, 3, 5, False), (2, True, 3, 5, True),
                                                          (2, True, 1, 5, False), (2, False, 3, 1, False),
                                                          (2, True, 1, 1, False)):
        ref = torch.nn.GRU(6, 4, layers, batch_first=batch_first)
        mine = module.GRU(6, 4, num_layers=layers, batch_first=batch_first)
        _copy_gru(mine, ref)
        x = torch.randn(batch, length, 6) if batch_first else torch.randn(length, batch, 6)
        h_0 = torch.randn(layers, batch, 4) if with_state else None
        h_sent = None if h_0 is None else h_0.clone()
        x_mine, x_ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        where = f"GRU(layers={layers}, batch_first={batch_first}, B={batch}, L={length}, h given={with_state})"
        try:
            out, h_n = mine(x_mine, h_sent) if with_state else mine(x_mine)
        except RuntimeError:
            return where + " raised"
        ref_out, ref_h = ref(x_ref, h_0)
        if not (_close(out, ref_out) and _close(h_n, ref_h)):
            return where
        if with_state and not torch.equal(h_sent, h_0):
            return where + " changed the initial state it was given"
        upstream = torch.randn(ref_out.shape)
        try:
            out.backward(upstream)
        except RuntimeError:
            return where + ": back-propagation raised"
        ref_out.backward(upstream)
        if not _close(x_mine.grad, x_ref.grad):
            return where + ": gradient of x"
        for k in range(layers):
            for name in CELL_NAMES:
                if not _close(getattr(mine.cells[k], name).grad, getattr(ref, f"{name}_l{k}").grad):
                    return f"{where}: gradient of cells.{k}.{name}"
    return None


def _count_disagrees(module) -> str | None:
    for args in ((10, 20), (7, 3, 2), (5, 6, 3, False)):
        torch_count = sum(p.numel() for p in torch.nn.GRU(*args).parameters())
        if module.count_parameters(module.GRU(*args)) != torch_count:
            return f"count_parameters(GRU{args})"
    return None


def torch_disagreement(path: Path) -> str | None:
    """Where one of our submissions differs from torch.nn.GRUCell / GRU / the parameter count of
    torch.nn.GRU (None: it agrees everywhere we look)."""
    torch.manual_seed(0)
    module = import_submission(path)
    try:
        return _cell_disagrees(module) or _gru_disagrees(module) or _count_disagrees(module)
    except (RuntimeError, AttributeError, TypeError, ValueError) as exc:  # e.g. torch's weights do not fit
        return f"raised {type(exc).__name__}"


@pytest.mark.parametrize("style", PROOF.styles, ids=lambda p: p.stem)
def test_correct_style_agrees_with_torch(style):
    assert torch_disagreement(style) is None


@pytest.mark.parametrize("mutant", PROOF.bugs, ids=lambda p: p.stem)
def test_mutant_disagrees_with_torch(mutant):
    assert torch_disagreement(mutant) is not None
