"""Hidden grader for mdn: a mixture density network with diagonal Gaussian mixtures.

One test per rubric item. Sizes are drawn at random per student, the likelihood's reference is
torch.distributions' MixtureSameFamily (seqlab.oracles.mdn), sampling is judged by moments with a
tolerance chosen from the sample size, and a failing item is diagnosed against *wrong* likelihoods.
"""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.grading.expect import expect_shape, expect_tensor, fail
from seqlab.grading.remote import StudentError
from seqlab.oracles.mdn import (
    best_single_gaussian_nll,
    diagnose_nll,
    inverse_sine_data,
    manual_nll,
    mixture_moments,
    moment_tolerances,
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
}


def _dims() -> tuple[int, int, int, int]:
    """N, x_dim, y_dim, K, with K never equal to N or y_dim (so axis mix-ups show)."""
    k = random.randint(2, 5)
    n = random.choice([n for n in range(3, 9) if n != k])
    return n, random.randint(1, 4), random.choice([d for d in (1, 2, 3) if d != k]), k


def _model(submission, x_dim: int, y_dim: int, k: int, h_dims: tuple[int, ...] = (16, 16)):
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
    for h_dims in ((random.randint(4, 12),), (random.randint(4, 12), random.randint(4, 12), random.randint(4, 12))):
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
    n, _, _, k = _dims()
    _expect_reference_nll(submission, n, k, random.randint(2, 4))


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


@pytest.mark.rubric(points=2, misconception="no-gradient")
def test_nll_gradients_are_finite_and_reach_every_layer(submission):
    n, x_dim, y_dim, k = _dims()
    model = _model(submission, x_dim, y_dim, k, (random.randint(4, 12), random.randint(4, 12)))
    model.train()
    x = torch.randn(n, x_dim)
    _, _, sigma = _forward(model, x, y_dim, k)
    out = model.keep(x)
    try:
        loss = submission.get("mdn_nll").keep(out[0], out[1], out[2], torch.randn(n, y_dim) * 2)
        loss.mean.keep().backward()
    except StudentError as exc:
        fail(f"back-propagating the mean of mdn_nll failed ({exc.type_name}): keep every step in torch "
             "operations (no .detach(), .item(), numpy or torch.no_grad())", "no-gradient")
    grads = model.gradients_by_name()
    if not grads:
        fail("MixtureDensityNetwork has no parameters: build its layers in __init__ (nn.Linear or "
             "nn.Parameter)", "no-gradient")
    for name, grad in grads.items():
        if not isinstance(grad, torch.Tensor):
            fail(f"no gradient reaches the parameter `{name}`: is it used in forward, without detaching?")
        if not torch.isfinite(grad).all():
            if not bool((sigma > 0).all()):
                fail(f"the gradient of the mean NLL is NaN at `{name}` because some sigma are <= 0 "
                     "(log of a negative number): keep sigma positive", "sigma-not-positive")
            fail(f"the gradient of the mean NLL is NaN/inf at `{name}`", "no-gradient")
        if name.endswith("weight") and not bool(grad.abs().sum() > 0):
            fail(f"the gradient reaching `{name}` is all zeros: is it used in forward?")


def _samples(submission, pi, mu, sigma) -> torch.Tensor:
    submission.seed(random.randint(0, 2**31 - 1))
    n, _, y_dim = mu.shape
    return expect_shape(submission.get("mdn_sample")(pi, mu, sigma), (n, y_dim), "mdn_sample's result", "shapes")


@pytest.mark.rubric(points=2, misconception="sampling")
def test_sample_moments_match_each_rows_mixture(submission):
    """Two groups of rows with different mixtures; each group's sample mean and variance must match
    its mixture within 5 standard errors of n draws."""
    k, y_dim, n = random.randint(2, 4), random.randint(1, 3), 3000
    groups = [random_mixture(1, k, y_dim, sigma_range=(0.3, 1.5)) for _ in range(2)]
    pi = torch.cat([g[0].expand(n, k) for g in groups])
    mu = torch.cat([g[1].expand(n, k, y_dim) for g in groups])
    sigma = torch.cat([g[2].expand(n, k, y_dim) for g in groups])
    draws = _samples(submission, pi, mu, sigma).double()
    if not torch.isfinite(draws).all():
        fail("mdn_sample returned NaN/inf values")
    for group, (g_pi, g_mu, g_sigma) in enumerate(groups):
        part = draws[group * n:(group + 1) * n]
        mean, var, m4 = mixture_moments(g_pi[0], g_mu[0], g_sigma[0])
        tol_mean, tol_var = moment_tolerances(var, m4, n)
        if bool(((part.mean(0) - mean).abs() > tol_mean).any()) or bool(((part.var(0) - var).abs() > tol_var).any()):
            top = int(g_pi[0].argmax())
            if is_close(part.std(0), g_sigma[0, top].double(), atol=0.1, rtol=0.1):
                fail("mdn_sample always draws from the most likely component; pick the component at random "
                     "with probabilities pi (torch.multinomial or Categorical)", "sample-argmax-component")
            fail("the mean or variance of many mdn_sample draws does not match the row's mixture: pick one "
                 "component per row with probability pi, then draw mu + sigma * noise from that component")


@pytest.mark.rubric(points=2, misconception="sample-argmax-component")
def test_sample_reaches_both_modes_of_a_bimodal_mixture(submission):
    n, p = 4000, random.uniform(0.25, 0.4)
    gap = random.uniform(4.0, 6.0)
    weights = torch.tensor([p, 1 - p]) if random.random() < 0.5 else torch.tensor([1 - p, p])
    centres = torch.tensor([[-gap], [gap]])
    draws = _samples(submission, weights.expand(n, 2), centres.expand(n, 2, 1), torch.full((n, 2, 1), 0.5))
    upper = float((draws[:, 0] > 0).double().mean())
    expected = float(weights[1])
    if upper in (0.0, 1.0):
        fail("mdn_sample only ever returns one mode of a two-mode mixture: it must pick the component at "
             "random with probabilities pi, not the most likely one", "sample-argmax-component")
    if abs(upper - expected) > 5 * (expected * (1 - expected) / n) ** 0.5:
        fail("mdn_sample picks the components with the wrong frequencies: component j must be chosen with "
             "probability pi[:, j]", "sampling")


@pytest.mark.rubric(points=1, misconception="sample-component-per-dim")
def test_sample_draws_every_dimension_from_one_component(submission):
    n, y_dim = 2000, random.randint(2, 3)
    gap = random.uniform(4.0, 6.0)
    centres = torch.stack([torch.full((y_dim,), -gap), torch.full((y_dim,), gap)])
    draws = _samples(submission, torch.full((n, 2), 0.5), centres.expand(n, 2, y_dim),
                     torch.full((n, 2, y_dim), 0.3))
    mixed = float(((draws > 0).any(-1) & (draws < 0).any(-1)).double().mean())
    if mixed > 0.02:
        fail("mdn_sample picks a component separately for each output dimension, so one draw mixes "
             "components; pick ONE component per row and take all y_dim values from it",
             "sample-component-per-dim")


def _train(submission, model, x, y, **budget) -> list[float]:
    losses = submission.get("train_mdn")(model, x, y, **budget)
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

    def grad_norm() -> float:
        grads = [g for g in model.gradients_by_name().values() if isinstance(g, torch.Tensor)]
        return float(sum(g.double().pow(2).sum() for g in grads)) ** 0.5 if grads else 0.0

    _train(submission, model, x, y, n_iter=1, lr=0.0, batch_size=8)
    first = grad_norm()
    _train(submission, model, x, y, n_iter=4, lr=0.0, batch_size=8)
    if first > 0 and grad_norm() > 1.5 * first:
        fail("train_mdn never clears the gradients, so each step adds to all the previous ones: call "
             "optimizer.zero_grad() before every loss.backward()", "train-no-zero-grad")


@pytest.mark.rubric(points=3, misconception="training")
def test_train_mdn_beats_the_best_single_gaussian(submission):
    """The toy problem (inverse of x = y + 0.3 sin(2 pi y) + noise, standardised): 500 Adam steps must
    reach a mean NLL on fresh data clearly below the best any single Gaussian per x could reach."""
    generator = torch.Generator().manual_seed(random.randint(0, 2**31 - 1))
    x, y = inverse_sine_data(1000, generator)
    x_eval, y_eval = inverse_sine_data(2000, generator)
    submission.seed(random.randint(0, 2**31 - 1))
    model = _model(submission, 1, 1, 5, (32, 32))
    losses = _train(submission, model, x, y, n_iter=500, lr=1e-2, batch_size=128)
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
        fail(f"after train_mdn(n_iter=500, lr=0.01) the mixture's mean NLL on new toy data is {nll:.2f}, not "
             f"clearly below the {single:.2f} of the best single Gaussian{hint}: train on mean mdn_nll with "
             "Adam over random mini-batches")
