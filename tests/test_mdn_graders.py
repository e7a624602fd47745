"""The mdn graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only mdn requires: each submission's
expected verdict checked here, in this process, against torch.distributions."""

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
    precision,
)
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from seqlab.oracles.mdn import best_single_gaussian_nll, inverse_sine_data

PROOF = ProofClass("mdn")


REQUIRED_MUTANTS = ("sample-ignores-torch-rng", "sample-dtype", "not-a-tensor", "sample-argmax-component",
                    "log-of-sum", "no-gradient")


class TestMdnGraderProof(GraderProof):
    assignment = "mdn"

    def test_precision_is_reported(self, graded, capsys):
        exact, total = precision(graded, PROOF.bugs)
        with capsys.disabled():
            print(f"\nmdn precision: {exact}/{total} single-bug mutants charged with exactly their own id")
        assert exact == total


def test_the_class_has_every_required_mutant():
    assert set(REQUIRED_MUTANTS) <= {misconception_of(path) for path in PROOF.bugs}


def test_the_class_has_at_least_11_mutants_and_4_correct_styles():
    assert len(PROOF.bugs) >= 11 and len(PROOF.styles) >= 4


# -- each expected verdict, checked against torch.distributions in this process (our own files) --

def _torch_mixture(pi, mu, sigma) -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(probs=pi.double()), Independent(Normal(mu.double(), sigma.double()), 1))


def _close(a, b, atol=1e-4, rtol=1e-4) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol,
                                                                                rtol=rtol)


def _forward_disagrees(module) -> str | None:
    model = module.MixtureDensityNetwork(x_dim=3, y_dim=2, k=4, h_dims=(8, 9))
    pi, mu, sigma = model(torch.randn(6, 3) * 2)
    if pi.shape != (6, 4) or mu.shape != (6, 4, 2) or sigma.shape != (6, 4, 2):
        return "forward shapes"
    if not _close(pi.sum(-1), torch.ones(6)) or not bool((pi >= 0).all()):
        return "pi rows"
    if not (torch.isfinite(sigma).all() and bool((sigma > 0).all())):
        return "sigma positive"
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.4)
    _, _, sigma = model(torch.randn(6, 3))
    if torch.allclose(sigma[..., 0], sigma[..., 1]):
        return "one sigma per component"
    return None


def _nll_disagrees(module) -> str | None:
    pi = torch.softmax(torch.randn(8, 3), -1)
    mu, sigma = torch.randn(8, 3, 2) * 2, torch.rand(8, 3, 2) + 0.4
    y = torch.cat([mu[:4, 0] + torch.randn(4, 2), torch.full((4, 2), 300.0)])
    leaves = [t.clone().requires_grad_(True) for t in (pi, mu, sigma)]
    nll = module.mdn_nll(*leaves, y)
    ref_leaves = [t.double().requires_grad_(True) for t in (pi, mu, sigma)]
    ref = -_torch_mixture(*ref_leaves).log_prob(y.double())
    if not _close(nll, ref):
        return "mdn_nll values"
    upstream = torch.randn(8)
    try:
        nll.backward(upstream)
    except RuntimeError:
        return "mdn_nll cut off from autograd"
    ref.backward(upstream.double())
    g_pi, r_pi = leaves[0].grad, ref_leaves[0].grad
    if g_pi is None or not _close(g_pi - g_pi.mean(-1, keepdim=True), r_pi - r_pi.mean(-1, keepdim=True), 1e-3, 1e-3):
        return "gradient of pi"
    if not all(_close(a.grad, b.grad, 1e-3, 1e-3) for a, b in zip(leaves[1:], ref_leaves[1:], strict=True)):
        return "gradient of mu or sigma"
    return None


def _model_gradients_disagree(module) -> str | None:
    model = module.MixtureDensityNetwork(x_dim=2, y_dim=1, k=3, h_dims=(6, 7))
    params = list(model.parameters())
    x, y = torch.randn(10, 2), torch.randn(10, 1)
    model.zero_grad()
    try:
        loss = -_torch_mixture(*model(x)).log_prob(y.double()).mean()
        expected = torch.autograd.grad(loss, params, allow_unused=True)
        loss = -_torch_mixture(*model(x)).log_prob(y.double()).mean()
        loss.backward()
    except RuntimeError:
        return "network cut off from autograd"
    if any(e is None or p.grad is None or not _close(p.grad, e) for p, e in zip(params, expected, strict=True)):
        return "network gradients"
    return None


def _sampling_disagrees(module) -> str | None:
    n = 4000
    pi = torch.cat([torch.tensor([0.7, 0.3]).expand(n, 2), torch.tensor([0.2, 0.8]).expand(n, 2)])
    mu = torch.tensor([[-8.0, -7.0, -9.0], [8.0, 9.0, 7.0]]).expand(2 * n, 2, 3)
    sigma = torch.tensor([[0.5, 1.0, 0.3], [0.8, 0.4, 0.6]]).expand(2 * n, 2, 3)
    torch.manual_seed(1)
    draws = module.mdn_sample(pi, mu, sigma)
    if not isinstance(draws, torch.Tensor) or draws.shape != (2 * n, 3):
        return "sample shape"
    reference = _torch_mixture(pi, mu, sigma).sample()
    for half in (slice(0, n), slice(n, 2 * n)):
        mine, ref = draws[half].double(), reference[half]
        spread = ref.std(0) * (2.0 / n) ** 0.5
        if bool(((mine.mean(0) - ref.mean(0)).abs() > 5 * spread).any()):
            return "sample means"
        if bool(((mine.std(0) - ref.std(0)).abs() > 0.1 * ref.std(0)).any()):
            return "sample spreads"
    if not bool(((draws > 0).all(-1) | (draws < 0).all(-1)).all()):
        return "one component per draw"
    if draws.dtype != mu.dtype:
        return "sample dtype"
    torch.manual_seed(2)
    first, following = module.mdn_sample(pi, mu, sigma), module.mdn_sample(pi, mu, sigma)
    torch.manual_seed(2)
    if not torch.equal(module.mdn_sample(pi, mu, sigma), first) or torch.equal(first, following):
        return "draws do not follow torch.manual_seed"
    return None


def _training_disagrees(module) -> str | None:
    model = module.MixtureDensityNetwork(x_dim=2, y_dim=1, k=3, h_dims=(6, 7))
    x, y = torch.randn(1, 2).expand(16, 2).clone(), torch.randn(1, 1).expand(16, 1).clone()
    with torch.no_grad():
        expected = float(-_torch_mixture(*model(x[:8])).log_prob(y[:8].double()).mean())
    losses = module.train_mdn(model, x, y, n_iter=3, lr=0.0, batch_size=8)
    if len(losses) != 3 or any(abs(float(v) - expected) > 1e-3 * (1 + abs(expected)) for v in losses):
        return "losses are not the mean NLL"
    first = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    module.train_mdn(model, x, y, n_iter=4, lr=0.0, batch_size=8)
    later = [p.grad for p in model.parameters() if p.grad is not None]
    if not all(_close(a, b, 1e-5, 1e-3) for a, b in zip(first, later, strict=True)):
        return "gradients are not cleared between steps"
    generator = torch.Generator().manual_seed(3)
    x, y = inverse_sine_data(1000, generator)
    x_eval, y_eval = inverse_sine_data(2000, generator)
    model = module.MixtureDensityNetwork(1, 1, 5, (24, 24))
    module.train_mdn(model, x, y, n_iter=250, lr=1e-2, batch_size=64)
    with torch.no_grad():
        nll = float(-_torch_mixture(*model(x_eval)).log_prob(y_eval.double()).mean())
    if not nll < best_single_gaussian_nll(x_eval, y_eval) - 0.25:
        return "training does not beat the best single Gaussian"
    return None


def torch_disagreement(path: Path) -> str | None:
    """Where one of our submissions differs from torch.distributions' mixture (None: nowhere we look)."""
    torch.manual_seed(0)
    module = import_submission(path)
    try:
        return (_forward_disagrees(module) or _nll_disagrees(module) or _model_gradients_disagree(module)
                or _sampling_disagrees(module) or _training_disagrees(module))
    except (RuntimeError, AttributeError, TypeError, ValueError, IndexError) as exc:
        return f"raised {type(exc).__name__}"


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("style", PROOF.styles, ids=lambda p: p.stem)
def test_correct_style_agrees_with_torch(style):
    assert torch_disagreement(style) is None


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("mutant", PROOF.bugs, ids=lambda p: p.stem)
def test_mutant_disagrees_with_torch(mutant):
    assert torch_disagreement(mutant) is not None
