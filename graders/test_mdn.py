"""Hidden grader for mdn: a mixture density network with diagonal Gaussian mixtures.

One test per rubric item. Every hidden call uses the same sizes for every student, with N, K, x_dim
and y_dim all different (the public checks use other sizes), so no axis mix-up passes by chance.
The likelihood's reference is torch.distributions' MixtureSameFamily (seqlab.oracles.mdn), and
mdn_nll's gradients are compared with its autograd gradients; the network's reported gradients are
compared with central differences of its own forward pass (run again here with moved weights), so
a reported .grad is never trusted. Sampling is judged by moments with a tolerance chosen from the
sample size, and a failing item is diagnosed against *wrong* likelihoods; an item that fails only
because an item it `depends_on` already failed says "same cause as ...".
"""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.grading.expect import Misconception, differs, expect_shape, expect_tensor, fail
from seqlab.grading.remote import StudentError
from seqlab.oracles.mdn import (
    best_single_gaussian_nll,
    diagnose_nll,
    gradients_agree,
    inverse_sine_data,
    manual_nll,
    mixture_moments,
    moment_tolerances,
    nll_input_gradients,
    random_mixture,
    reference_nll,
    variant_of,
)
from seqlab.oracles.tolerance import describe_difference, is_close

STUDENT_API = ("MixtureDensityNetwork", "mdn_nll", "mdn_sample", "train_mdn")

WHY = {
    "missing-2pi-constant": "mdn_nll leaves out the Gaussian's normalising constant: each dimension adds 0.5*log(2*pi)",
    "sigma-as-variance": "mdn_nll treats sigma as a variance; sigma is the standard deviation, the variance is sigma**2",
    "multid-normaliser": "for y_dim > 1 the normaliser is the product over dimensions: (y_dim/2)*log(2*pi) + sum of log(sigma) over the dimensions",
    "log-of-sum": "mdn_nll takes the log of a sum of exponentials, which underflows far from the components; use torch.logsumexp over the component axis",
    "isotropic-sigma": "sigma must hold one standard deviation per component AND per output dimension, (N, K, y_dim): the network predicts one value per component and repeats it over the dimensions",
}
# Hidden sizes: N, K, x_dim and y_dim all different (and different from the hidden widths, the
# default k=5 and the public checks' sizes, so hard-coded sizes fail).
N_ROWS, K_COMP, X_DIM, Y_DIM, HIDDEN = 7, 6, 2, 3, (11, 13)


def _dims() -> tuple[int, int, int, int]:
    """N, x_dim, y_dim, K: the same for every student, all different."""
    return N_ROWS, X_DIM, Y_DIM, K_COMP


def _model(submission, x_dim: int, y_dim: int, k: int, h_dims: tuple[int, ...] = HIDDEN):
    return submission.get("MixtureDensityNetwork")(x_dim=x_dim, y_dim=y_dim, k=k, h_dims=h_dims)


def _forward(model, x: torch.Tensor, y_dim: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    out = model(x)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail("MixtureDensityNetwork's forward should return a triple (pi, mu, sigma)", "shapes")
    n = x.size(0)
    pi = expect_shape(out[0], (n, k), "pi", "shapes")
    mu = expect_shape(out[1], (n, k, y_dim), "mu", "shapes")
    sigma = expect_shape(out[2], (n, k, y_dim), "sigma", "shapes")
    return pi, mu, sigma


def _nll(submission, pi, mu, sigma, y, per_sample: bool = True) -> torch.Tensor:
    """The student's NLL (N,). With per_sample=False a batch mean is accepted too (returned as a 0-d
    tensor): the per-sample rule is graded once, by its own test, not by every likelihood test."""
    result = expect_tensor(submission.get("mdn_nll")(pi, mu, sigma, y), "mdn_nll's result")
    if result.dim() == 0 or result.shape == (1,):
        if not per_sample:
            return result.reshape(())
        fail(f"mdn_nll returns one number for {y.size(0)} targets; it must return the per-sample NLL of "
             f"shape (N,) = ({y.size(0)},): leave the averaging to the training loop", "nll-averaged")
    return expect_shape(result, (y.size(0),), "mdn_nll's result", "nll-averaged")


def _same(nll: torch.Tensor, expected: torch.Tensor) -> bool:
    """Per-sample values, or the mean or sum when the student reduced (graded by test_nll_is_per_sample)."""
    if nll.dim() == 0:
        return is_close(nll, expected.mean()) or is_close(nll, expected.sum())
    return is_close(nll, expected)


def _expect_reference_nll(submission, n: int, k: int, y_dim: int) -> None:
    pi, mu, sigma = random_mixture(n, k, y_dim)
    y = (mu[:, 0] + torch.randn(n, y_dim) * 1.5).float()
    nll = _nll(submission, pi, mu, sigma, y, per_sample=False)
    expected = reference_nll(pi, mu, sigma, y)
    if _same(nll, expected):
        return
    name = diagnose_nll(nll, pi, mu, sigma, y)
    if name is not None:
        fail(WHY[name], name)
    if _same(nll, -expected):
        fail("mdn_nll returns the log-likelihood; the NLL is its negative", "mixture")
    # Only a formula that is right in 1-D but wrong in several dimensions is a normaliser problem.
    specific = "multid-normaliser" if y_dim > 1 and _one_dimensional_nll_is_right(submission, n, k) else "mixture"
    fail(f"mdn_nll with y_dim={y_dim} differs from -log p(y) of the Gaussian mixture "
         f"({describe_difference(nll, expected if nll.dim() else expected.mean())})", specific)


def _one_dimensional_nll_is_right(submission, n: int, k: int) -> bool:
    pi, mu, sigma = random_mixture(n, k, 1)
    y = (mu[:, 0] + torch.randn(n, 1) * 1.5).float()
    try:
        return _same(_nll(submission, pi, mu, sigma, y, per_sample=False), reference_nll(pi, mu, sigma, y))
    except (StudentError, AssertionError):
        return False


@pytest.mark.rubric(points=2, misconception="shapes")
def test_forward_shapes_for_random_dims(submission):
    for h_dims in ((10,), (9, 12, 10)):
        n, x_dim, y_dim, k = _dims()
        model = _model(submission, x_dim, y_dim, k, h_dims)
        _forward(model, torch.randn(n, x_dim), y_dim, k)
        _forward(model, torch.randn(1, x_dim), y_dim, k)


@pytest.mark.rubric(points=2, misconception="pi-softmax-dim")
def test_pi_rows_sum_to_one(submission):
    n, x_dim, y_dim, k = _dims()
    pi, _, _ = _forward(_model(submission, x_dim, y_dim, k), torch.randn(n, x_dim) * 2, y_dim, k)
    if not torch.isfinite(pi).all() or bool((pi < 0).any()):
        fail("pi must be finite mixture weights between 0 and 1: use a softmax over the components")
    if not is_close(pi.sum(-1), torch.ones(n)):
        if is_close(pi.sum(0), torch.ones(k)):
            fail("pi is normalised over the batch (columns sum to 1); each row must sum to 1 over the K "
                 "components: softmax(..., dim=-1)", "pi-softmax-dim")
        fail("each row of pi must sum to 1 over the K components: softmax(..., dim=-1)", "pi-softmax-dim")


@pytest.mark.rubric(points=2, misconception="sigma-not-positive")
def test_sigma_is_a_positive_finite_standard_deviation(submission):
    n, x_dim, y_dim, k = _dims()
    model = _model(submission, x_dim, y_dim, k)
    for scale in (1.0, 4.0):
        pi, mu, sigma = _forward(model, torch.randn(n + 20, x_dim) * scale, y_dim, k)
        for value, what in ((pi, "pi"), (mu, "mu"), (sigma, "sigma")):
            if not torch.isfinite(value).all():
                fail(f"{what} has NaN or inf values for ordinary inputs x", "sigma-not-positive")
        if not bool((sigma > 0).all()):
            fail("sigma has values <= 0: a standard deviation must be positive, e.g. torch.exp or "
                 "F.softplus of the layer's output", "sigma-not-positive")


@pytest.mark.rubric(points=1, misconception="nll-averaged")
def test_nll_is_per_sample(submission):
    n, _, y_dim, k = _dims()
    pi, mu, sigma = random_mixture(n, k, y_dim)
    _nll(submission, pi, mu, sigma, torch.randn(n, y_dim))


@pytest.mark.rubric(points=2, misconception="mixture")
def test_nll_matches_torch_mixture_for_1d_targets(submission):
    n, _, _, k = _dims()
    _expect_reference_nll(submission, n, k, 1)


@pytest.mark.rubric(points=2, misconception="multid-normaliser")
def test_nll_matches_torch_mixture_for_multid_targets(submission):
    n, _, y_dim, k = _dims()
    _expect_reference_nll(submission, n, k, y_dim)


@pytest.mark.rubric(points=2, misconception="log-of-sum")
def test_nll_far_from_every_component_is_finite_and_correct(submission):
    """Rows 100 standard deviations from every component: exp(-5000) underflows to 0 in any float
    type, so only log-sum-exp gives the right (large, finite) value. A student whose formula is
    wrong by a misconception graded elsewhere is compared with that formula, not penalised twice."""
    n, _, y_dim, k = _dims()
    pi, mu, sigma = random_mixture(2 * n, k, y_dim, sigma_range=(0.5, 1.0))
    near = (mu[:n, 0] + torch.randn(n, y_dim)).float()
    sign = torch.where(torch.rand(n, 1) < 0.5, -1.0, 1.0)
    reach = mu[n:].abs().amax((1, 2)) + 100.0 * sigma[n:].amax((1, 2))  # >= 100 sigma from every mean
    far = (sign * reach.unsqueeze(-1)).expand(n, y_dim)
    y = torch.cat([near, far]).float()
    nll = _nll(submission, pi, mu, sigma, y, per_sample=False)
    if nll.dim() == 0:  # reduced: judge the mean over the rows (per-sample is graded elsewhere)
        formula = diagnose_nll(_nll(submission, pi[:n], mu[:n], sigma[:n], near, per_sample=False),
                               pi[:n], mu[:n], sigma[:n], near)
        every_row = manual_nll(pi, mu, sigma, y, variant_of(formula))
        far_part = nll
        expected = every_row.sum() if is_close(nll, every_row.sum()) else every_row.mean()
    else:
        formula = diagnose_nll(nll[:n], pi[:n], mu[:n], sigma[:n], near)
        far_part, expected = nll[n:], manual_nll(pi, mu, sigma, y, variant_of(formula))[n:]
    near_nll = _nll(submission, pi[:n], mu[:n], sigma[:n], near, per_sample=False)
    if formula is None and not _same(near_nll, reference_nll(pi[:n], mu[:n], sigma[:n], near)):
        fail("mdn_nll is already wrong for targets near the components, so its behaviour far from them "
             "cannot be judged: fix -log p(y) of the mixture first", "mixture")
    if not torch.isfinite(far_part).all():
        fail("mdn_nll is inf/NaN for targets far from every component: " + WHY["log-of-sum"], "log-of-sum")
    if not is_close(far_part, expected):
        fail("mdn_nll is wrong for targets far from every component (an epsilon inside the log only hides "
             "the underflow): " + WHY["log-of-sum"], "log-of-sum")
    mu_remote = submission.put(mu.clone().requires_grad_(True))
    try:
        submission.get("mdn_nll").keep(pi, mu_remote, sigma, y).sum.keep().backward()
    except StudentError:
        return  # no gradient through mu at all: the gradient test reports it
    grad = mu_remote.grad()
    if isinstance(grad, torch.Tensor) and not torch.isfinite(grad).all():
        fail("the gradient of mdn_nll is NaN/inf for targets far from every component: " + WHY["log-of-sum"],
             "log-of-sum")


def _expect_nll_gradients(submission) -> None:
    """mdn_nll's gradients w.r.t. pi, mu and sigma equal torch.distributions' (autograd of the
    reference NLL) for the same inputs and upstream gradient. A formula that is wrong by a
    diagnosed misconception is compared with that formula's gradients; an undiagnosed one is left
    to the likelihood items."""
    n, _, y_dim, k = _dims()
    pi, mu, sigma = random_mixture(n, k, y_dim)
    y = (mu[:, 0] + torch.randn(n, y_dim)).float()
    remotes = [submission.put(t.clone().requires_grad_(True)) for t in (pi, mu, sigma)]
    nll_remote = submission.get("mdn_nll").keep(*remotes, y)
    nll = expect_tensor(nll_remote.fetch(), "mdn_nll's result")
    expected = reference_nll(pi, mu, sigma, y)
    reduce = "none" if nll.dim() else ("sum" if is_close(nll, expected.sum()) else "mean")
    name = None if _same(nll, expected) else diagnose_nll(nll, pi, mu, sigma, y)
    if name is None and not _same(nll, expected):
        return
    upstream = torch.randn(n) if reduce == "none" else torch.randn(())
    try:
        nll_remote.backward(upstream)
    except StudentError as exc:
        if "grad" not in exc.detail:
            raise
        raise Misconception("back-propagating through mdn_nll failed: its result is cut off from autograd; keep every "
                            "step in torch operations (no .detach(), .item(), numpy or torch.no_grad())",
                            "no-gradient") from exc
    reference = nll_input_gradients(pi, mu, sigma, y, upstream, variant_of(name), reduce)
    for remote, ref, what in zip(remotes, reference, ("pi", "mu", "sigma"), strict=True):
        grad = remote.grad()
        if what == "pi" and isinstance(grad, torch.Tensor):
            grad = grad.double() - grad.double().mean(-1, keepdim=True)
        if not gradients_agree(grad, ref):
            fail(f"the gradient of mdn_nll with respect to {what} differs from torch.distributions' for the same inputs "
                 "and upstream gradient: keep every step in torch operations (no .detach(), .item(), numpy)",
                 "no-gradient")


def _as_double(model) -> bool:
    """Run the model in float64 for the finite differences when it allows (else float32)."""
    try:
        model.double()
        model(torch.randn(2, X_DIM, dtype=torch.float64))
    except StudentError:
        model.float()
        return False
    return True


def _weighted_output(model, x: torch.Tensor, upstream: list[torch.Tensor]) -> float:
    out = model(x)
    return float(sum((expect_tensor(o, "the model's output").double() * g).sum() for o, g in zip(out, upstream)))


@pytest.mark.rubric(points=2, misconception="no-gradient",
                    depends_on=("forward_shapes_for_random_dims", "sigma_is_a_positive_finite_standard_deviation"))
def test_gradients_match_the_reference(submission):
    """Reported gradients are checked, never trusted: mdn_nll's against torch.distributions', the
    network's (for an upstream gradient on pi, mu and sigma) against central differences of its own
    forward pass with each parameter moved along a random direction."""
    _expect_nll_gradients(submission)
    n, x_dim, y_dim, k = _dims()
    model = _model(submission, x_dim, y_dim, k)
    model.eval()
    double = _as_double(model)
    dtype, eps, rtol = (torch.float64, 1e-6, 1e-4) if double else (torch.float32, 1e-2, 5e-2)
    x = torch.randn(n, x_dim, dtype=dtype)
    pi, mu, sigma = _forward(model, x, y_dim, k)
    upstream = [torch.randn(pi.shape, dtype=torch.float64), torch.randn(mu.shape, dtype=torch.float64),
                torch.randn(sigma.shape, dtype=torch.float64)]
    params = {name: value.detach().clone() for name, value in model.parameters_by_name().items()}
    if not params:
        fail("MixtureDensityNetwork has no parameters: build its layers in __init__ (nn.Linear or nn.Parameter)",
             "no-gradient")
    model.zero_grad()
    out = model.keep(x)
    total = None
    for index, g in enumerate(upstream):
        term = out[index].mul.keep(g.to(dtype)).sum.keep()
        total = term if total is None else total.add.keep(term)
    try:
        total.backward()
    except StudentError as exc:
        if "grad" not in exc.detail:
            raise
        raise Misconception("back-propagating from the network's pi, mu and sigma failed: its outputs are cut off from "
                            "autograd; no .detach(), .item(), numpy or torch.no_grad() in forward", "no-gradient") from exc
    grads = model.gradients_by_name()
    for name, value in params.items():
        direction = torch.randn(value.shape, dtype=value.dtype)
        moved = []
        for sign in (1.0, -1.0):
            model.load_parameters({name: value + sign * eps * direction})
            moved.append(_weighted_output(model, x, upstream))
        model.load_parameters({name: value})
        numeric = (moved[0] - moved[1]) / (2 * eps)
        grad = grads.get(name)
        reported = float((grad.double() * direction.double()).sum()) if isinstance(grad, torch.Tensor) else 0.0
        scale = float((grad.double() * direction.double()).abs().sum()) if isinstance(grad, torch.Tensor) else 0.0
        if not abs(reported - numeric) <= rtol * (abs(numeric) + scale) + 10 * eps:
            missing = " (no gradient reaches it at all)" if not isinstance(grad, torch.Tensor) else ""
            fail(f"the gradient reported for `{name}`{missing} is not the derivative of the network's own output: keep "
                 "forward in torch operations (no .detach(), .data, numpy or torch.no_grad()) and never set .grad "
                 "yourself", "no-gradient")


@pytest.mark.rubric(points=1, misconception="isotropic-sigma", depends_on=("forward_shapes_for_random_dims",))
def test_sigma_has_one_value_per_output_dimension(submission):
    """With random weights every output unit of a per-dimension sigma head differs; a head that
    predicts one sigma per component and repeats it over y_dim gives identical columns."""
    n, x_dim, y_dim, k = _dims()
    model = _model(submission, x_dim, y_dim, k)
    params = model.parameters_by_name()
    model.load_parameters({name: torch.randn(value.shape) * 0.4 for name, value in params.items()})
    _, _, sigma = _forward(model, torch.randn(n, x_dim), y_dim, k)
    if all(is_close(sigma[..., d], sigma[..., 0], atol=1e-7, rtol=1e-6) for d in range(1, y_dim)):
        fail(WHY["isotropic-sigma"], "isotropic-sigma")


def _samples(submission, pi, mu, sigma) -> torch.Tensor:
    submission.seed(random.randint(0, 2**31 - 1))
    n, _, y_dim = mu.shape
    return expect_shape(submission.get("mdn_sample")(pi, mu, sigma), (n, y_dim), "mdn_sample's result", "shapes")


@pytest.mark.rubric(points=2, misconception="sampling")
def test_sample_moments_match_each_rows_mixture(submission):
    """Two groups of rows with different mixtures; each group's sample mean and variance must match
    its mixture within 5 standard errors of n draws."""
    k, y_dim, n = 3, 2, 3000
    groups = [random_mixture(1, k, y_dim, sigma_range=(0.3, 1.5)) for _ in range(2)]
    pi = torch.cat([g[0].expand(n, k) for g in groups])
    mu = torch.cat([g[1].expand(n, k, y_dim) for g in groups])
    sigma = torch.cat([g[2].expand(n, k, y_dim) for g in groups])
    draws = _samples(submission, pi, mu, sigma).double()
    if not torch.isfinite(draws).all():
        fail("mdn_sample returned NaN/inf values")
    parts = [draws[group * n:(group + 1) * n] for group in range(2)]
    wrong = False
    for part, (g_pi, g_mu, g_sigma) in zip(parts, groups, strict=True):
        mean, var, m4 = mixture_moments(g_pi[0], g_mu[0], g_sigma[0])
        tol_mean, tol_var = moment_tolerances(var, m4, n)
        wrong |= bool(((part.mean(0) - mean).abs() > tol_mean).any() or ((part.var(0) - var).abs() > tol_var).any())
    if not wrong:
        return
    if all(_looks_like_one_component(part, g_mu[0, int(g_pi[0].argmax())], g_sigma[0, int(g_pi[0].argmax())])
           for part, (g_pi, g_mu, g_sigma) in zip(parts, groups, strict=True)):
        fail("mdn_sample always draws from the most likely component; pick the component at random "
             "with probabilities pi (torch.multinomial or Categorical)", "sample-argmax-component")
    fail("the mean or variance of many mdn_sample draws does not match the row's mixture: pick one "
         "component per row with probability pi, then draw mu + sigma * noise from that component")


def _looks_like_one_component(draws: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> bool:
    """Mean and spread of the draws are those of this one Gaussian component (5 standard errors)."""
    n = draws.size(0)
    mu, sigma = mu.double(), sigma.double()
    return bool(((draws.mean(0) - mu).abs() <= 5 * sigma / n ** 0.5).all()
                and ((draws.std(0) - sigma).abs() <= 5 * sigma / (2 * n) ** 0.5 + 1e-3).all())


@pytest.mark.rubric(points=2, misconception="sample-argmax-component")
def test_sample_reaches_both_modes_of_a_bimodal_mixture(submission):
    """Two modes at -gap and +gap; the first half of the rows weighs the lower mode more, the second
    half the upper one. Only a sampler that takes each row's most likely component puts every draw
    of each half at that half's heavier mode."""
    n, p = 2000, random.uniform(0.25, 0.4)
    gap = random.uniform(4.0, 6.0)
    weights = torch.cat([torch.tensor([1 - p, p]).expand(n, 2), torch.tensor([p, 1 - p]).expand(n, 2)])
    centres = torch.tensor([[-gap], [gap]])
    draws = _samples(submission, weights, centres.expand(2 * n, 2, 1), torch.full((2 * n, 2, 1), 0.5))
    upper = [float((draws[half * n:(half + 1) * n, 0] > 0).double().mean()) for half in range(2)]
    if upper == [0.0, 1.0]:
        fail("mdn_sample only ever returns each row's most likely mode of a two-mode mixture: it must pick the "
             "component at random with probabilities pi, not the most likely one", "sample-argmax-component")
    for fraction, expected in zip(upper, (p, 1 - p), strict=True):
        if abs(fraction - expected) > 5 * (expected * (1 - expected) / n) ** 0.5:
            fail("mdn_sample picks the components with the wrong frequencies: component j must be chosen with "
                 "probability pi[:, j] of its own row", "sampling")


@pytest.mark.rubric(points=1, misconception="sample-component-per-dim")
def test_sample_draws_every_dimension_from_one_component(submission):
    n, y_dim = 2000, 3
    gap = random.uniform(4.0, 6.0)
    centres = torch.stack([torch.full((y_dim,), -gap), torch.full((y_dim,), gap)])
    draws = _samples(submission, torch.full((n, 2), 0.5), centres.expand(n, 2, y_dim),
                     torch.full((n, 2, y_dim), 0.3))
    mixed = float(((draws > 0).any(-1) & (draws < 0).any(-1)).double().mean())
    if mixed > 0.02:
        fail("mdn_sample picks a component separately for each output dimension, so one draw mixes "
             "components; pick ONE component per row and take all y_dim values from it",
             "sample-component-per-dim")


def _draws(submission, pi, mu, sigma, seed: int | None) -> torch.Tensor:
    """One call of mdn_sample, after torch.manual_seed(seed) in the sandbox unless seed is None."""
    if seed is not None:
        submission.seed(seed)
    n, _, y_dim = mu.shape
    return expect_shape(submission.get("mdn_sample")(pi, mu, sigma), (n, y_dim), "mdn_sample's result", "shapes")


@pytest.mark.rubric(points=1, misconception="sample-ignores-torch-rng",
                    depends_on=("sample_moments_match_each_rows_mixture",))
def test_sample_follows_torchs_global_rng(submission):
    """The spec: mdn_sample uses torch's global RNG, seeded by the caller. After the same
    torch.manual_seed the draws repeat exactly; a second call without a new seed draws afresh."""
    n, _, y_dim, k = _dims()
    pi, mu, sigma = random_mixture(20 * n, k, y_dim)
    seed = random.randint(0, 2**31 - 1)
    first = _draws(submission, pi, mu, sigma, seed)
    following = _draws(submission, pi, mu, sigma, None)
    again = _draws(submission, pi, mu, sigma, seed)
    if not (torch.isfinite(first).all() and torch.isfinite(again).all()):
        differs("mdn_sample returned NaN/inf values", "sampling")
    if not torch.equal(first, again):
        fail("two calls of mdn_sample after the same torch.manual_seed(seed) give different draws: it takes its "
             "randomness from elsewhere (numpy's or Python's RNG, a generator of its own), so the caller's seed "
             "cannot make it reproducible; draw with torch (torch.multinomial, torch.randn_like, torch.distributions)",
             "sample-ignores-torch-rng")
    if torch.equal(first, following):
        differs("two calls of mdn_sample in a row return the very same draws: it must not seed the RNG itself "
                "(no torch.manual_seed inside; the caller seeds) and must draw new noise on every call",
                "sample-ignores-torch-rng")


@pytest.mark.rubric(points=1, misconception="sample-dtype", depends_on=("sample_moments_match_each_rows_mixture",))
def test_sample_has_the_dtype_of_mu(submission):
    """float32 mixtures give float32 draws (the spec's dtype): draws fed back into a float32
    model or compared with float32 targets must not turn into float64."""
    n, _, y_dim, k = _dims()
    pi, mu, sigma = random_mixture(n, k, y_dim)
    draws = _draws(submission, pi, mu, sigma, random.randint(0, 2**31 - 1))
    if draws.dtype != mu.dtype:
        fail(f"mdn_sample returns {str(draws.dtype).removeprefix('torch.')} draws for float32 pi, mu and sigma: "
             "return them in mu's dtype (e.g. .to(mu.dtype); torch.from_numpy keeps numpy's float64)", "sample-dtype")


def _train(submission, model, x, y, **budget) -> list[float]:
    try:
        losses = submission.get("train_mdn")(model, x, y, **budget)
    except StudentError as exc:
        if "does not require grad" not in exc.detail:
            raise
        raise Misconception("train_mdn could not back-propagate: the loss is cut off from autograd (no .detach(), "
                            ".item(), numpy or torch.no_grad() in forward or mdn_nll)", "no-gradient") from exc
    if isinstance(losses, torch.Tensor) and losses.dim() == 1:
        losses = list(losses)
    if not isinstance(losses, (list, tuple)) or len(losses) != budget["n_iter"]:
        fail(f"train_mdn(n_iter={budget['n_iter']}) should return a list with the loss of each iteration",
             "training")
    values = []
    for loss in losses:
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            loss = loss.item()
        if not isinstance(loss, (int, float)):
            fail("train_mdn should return the losses as numbers (loss.item())", "training")
        values.append(float(loss))
    return values


def _expect_mixture(pi: torch.Tensor, sigma: torch.Tensor, who: str) -> None:
    """A model whose pi or sigma are invalid has no likelihood to train or score."""
    if not is_close(pi.sum(-1), torch.ones(len(pi))):
        fail(f"{who}'s pi rows do not sum to 1, so it is no mixture to train or score", "pi-softmax-dim")
    if not bool((sigma > 0).all()):
        fail(f"{who}'s sigma has values <= 0, so it is no mixture to train or score", "sigma-not-positive")


def _one_point_data(x_dim: int, y_dim: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n copies of one (x, y): every mini-batch, however drawn, has the same loss and gradient."""
    return torch.randn(1, x_dim).expand(n, x_dim).clone(), torch.randn(1, y_dim).expand(n, y_dim).clone()


@pytest.mark.rubric(points=2, misconception="train-mse")
def test_train_mdn_minimises_the_mean_nll(submission):
    """With lr=0 the parameters never move, so each returned loss is the mean NLL of the model's
    prediction (the student's own mdn_nll or the reference: mdn_nll is graded by the tests above)."""
    _, x_dim, y_dim, k = _dims()
    submission.seed(random.randint(0, 2**31 - 1))
    model = _model(submission, x_dim, y_dim, k)
    x, y = _one_point_data(x_dim, y_dim, 32)
    pi, mu, sigma = _forward(model, x[:8], y_dim, k)  # one batch of identical rows
    _expect_mixture(pi, sigma, "the model")
    losses = _train(submission, model, x, y, n_iter=3, lr=0.0, batch_size=8)
    allowed = [float(reference_nll(pi, mu, sigma, y[:8]).mean())]
    try:
        allowed.append(float(torch.as_tensor(submission.get("mdn_nll")(pi, mu, sigma, y[:8])).double().mean()))
    except (StudentError, TypeError, ValueError, RuntimeError):
        pass
    if not any(abs(loss - a) <= 1e-3 * (1 + abs(a)) for loss in losses for a in allowed):
        fail("the losses train_mdn returns are not the mean negative log-likelihood (mdn_nll) of the batch: "
             "an MDN is trained by maximum likelihood, not by a squared error", "train-mse")


@pytest.mark.rubric(points=1, misconception="train-no-zero-grad")
def test_train_mdn_uses_fresh_gradients_every_step(submission):
    """lr=0 and identical rows: every step's gradient G is the same. Zeroed each step, the gradients
    left after 1 or after 4 more steps are both G (or zero); never zeroed, they pile up to 5G."""
    _, x_dim, y_dim, k = _dims()
    submission.seed(random.randint(0, 2**31 - 1))
    model = _model(submission, x_dim, y_dim, k)
    x, y = _one_point_data(x_dim, y_dim, 16)
    _forward(model, x[:8], y_dim, k)  # a model of the wrong shapes has no mixture to train

    def grad_norm() -> float:
        grads = [g for g in model.gradients_by_name().values() if isinstance(g, torch.Tensor)]
        return float(sum(g.double().pow(2).sum() for g in grads)) ** 0.5 if grads else 0.0

    _train(submission, model, x, y, n_iter=1, lr=0.0, batch_size=8)
    first = grad_norm()
    _train(submission, model, x, y, n_iter=4, lr=0.0, batch_size=8)
    if first > 0 and grad_norm() > 1.5 * first:
        fail("train_mdn never clears the gradients, so each step adds to all the previous ones: call "
             "optimizer.zero_grad() before every loss.backward()", "train-no-zero-grad")


@pytest.mark.rubric(points=3, misconception="training",
                    depends_on=("forward_shapes_for_random_dims", "pi_rows_sum_to_one",
                                "sigma_is_a_positive_finite_standard_deviation", "nll_matches_torch_mixture_for_1d_targets",
                                "gradients_match_the_reference", "train_mdn_minimises_the_mean_nll",
                                "train_mdn_uses_fresh_gradients_every_step"))
def test_train_mdn_beats_the_best_single_gaussian(submission):
    """The toy problem (inverse of x = y + 0.3 sin(2 pi y) + noise, standardised): 300 Adam steps
    (few enough to finish well inside the call timeout on a busy machine) must reach a mean NLL on
    fresh data clearly below the best any single Gaussian per x could reach."""
    generator = torch.Generator().manual_seed(random.randint(0, 2**31 - 1))
    x, y = inverse_sine_data(1000, generator)
    x_eval, y_eval = inverse_sine_data(2000, generator)
    submission.seed(random.randint(0, 2**31 - 1))
    model = _model(submission, 1, 1, 5, (24, 24))
    _forward(model, x[:4], 1, 5)  # a model of the wrong shapes has no mixture to train
    losses = _train(submission, model, x, y, n_iter=300, lr=1e-2, batch_size=64)
    pi, mu, sigma = _forward(model, x_eval, 1, 5)
    for value in (pi, mu, sigma):
        if not torch.isfinite(value).all():
            fail("after train_mdn the model outputs NaN/inf: the training diverged")
    _expect_mixture(pi, sigma, "after train_mdn the model")
    nll = float(reference_nll(pi, mu, sigma, y_eval).mean())
    single = best_single_gaussian_nll(x_eval, y_eval)
    if not nll < single - 0.25:
        as_variance = float(manual_nll(pi, mu, sigma, y_eval, variant_of("sigma-as-variance")).mean())
        if as_variance < single - 0.25:
            fail("train_mdn learns the mixture, but its sigma came out as variances: " + WHY["sigma-as-variance"],
                 "sigma-as-variance")
        hint = " (the returned losses also went up or became NaN)" if not losses[-1] < losses[0] else ""
        differs(f"after train_mdn(n_iter=300, lr=0.01) the mixture's mean NLL on new toy data is {nll:.2f}, not "
                f"clearly below the {single:.2f} of the best single Gaussian{hint}: train on mean mdn_nll with "
                "Adam over random mini-batches")
