"""Oracles for the mdn assignment: torch.distributions' own Gaussian mixture, the course's toy
data, the best single Gaussian a mean-squared-error style model could reach, sampling tolerances
chosen from the sample size, and the *wrong* likelihoods the graders compare against to name a
student's misconception.

Everything is computed in float64 on the trusted side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

__all__ = ["NLL_SUSPECTS", "NllVariant", "best_single_gaussian_nll", "diagnose_nll", "gradients_agree",
           "inverse_sine_data", "manual_nll", "mixture", "mixture_moments", "moment_tolerances", "nll_input_gradients",
           "random_mixture", "reference_nll", "variant_of"]

_LOG_2PI = math.log(2 * math.pi)


def mixture(pi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> MixtureSameFamily:
    """pi (N, K), mu and sigma (N, K, D) as torch's mixture of diagonal Gaussians (float64)."""
    return MixtureSameFamily(Categorical(probs=pi.double()), Independent(Normal(mu.double(), sigma.double()), 1))


def reference_nll(pi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The per-sample negative log-likelihood (N,), as the spec defines it."""
    with torch.no_grad():
        return -mixture(pi, mu, sigma).log_prob(y.double())


def random_mixture(n: int, k: int, d: int, sigma_range: tuple[float, float] = (0.3, 2.0)
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 pi (n, k) on the simplex (no tiny weights), mu (n, k, d), sigma (n, k, d)."""
    pi = torch.softmax(torch.randn(n, k), dim=-1) * 0.8 + 0.2 / k
    mu = torch.randn(n, k, d) * 2.0
    low, high = sigma_range
    sigma = low + (high - low) * torch.rand(n, k, d)
    return pi.float(), mu.float(), sigma.float()


@dataclass(frozen=True)
class NllVariant:
    """One way of computing the mixture NLL; the defaults are the correct one."""

    constant: str = "full"        # "full": (D/2) log 2pi | "none": missing | "once": the 1-D constant only
    sigma: str = "std"            # "variance": sigma used where sigma**2 belongs
    log_sigma: str = "sum"        # "first": the normaliser of dimension 0 only (1-D normaliser)


def manual_nll(pi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor,
               variant: NllVariant = NllVariant()) -> torch.Tensor:
    """-log sum_k pi_k N(y | mu_k, diag sigma_k^2) by log-sum-exp (float64), optionally with one bug."""
    pi, mu, sigma, y = pi.double(), mu.double(), sigma.double(), y.double().unsqueeze(-2)
    var = sigma if variant.sigma == "variance" else sigma ** 2
    quad = -0.5 * ((y - mu) ** 2 / var).sum(-1)                       # (N, K)
    log_det = 0.5 * torch.log(var)
    log_det = log_det.sum(-1) if variant.log_sigma == "sum" else log_det[..., 0]
    d = mu.size(-1)
    constant = {"full": 0.5 * d * _LOG_2PI, "none": 0.0, "once": 0.5 * _LOG_2PI}[variant.constant]
    return -torch.logsumexp(torch.log(pi) + quad - log_det - constant, dim=-1)


NLL_SUSPECTS: tuple[tuple[str, NllVariant], ...] = (
    ("missing-2pi-constant", NllVariant(constant="none")),
    ("sigma-as-variance", NllVariant(sigma="variance")),
    ("multid-normaliser", NllVariant(constant="once")),
    ("multid-normaliser", NllVariant(log_sigma="first")),
    ("multid-normaliser", NllVariant(constant="once", log_sigma="first")),
    ("sigma-as-variance", NllVariant(sigma="variance", constant="none")),
)


def diagnose_nll(actual: object, pi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                 y: torch.Tensor) -> str | None:
    """The misconception whose wrong likelihood reproduces the student's per-sample NLL, if any."""
    from .tolerance import is_close

    if not isinstance(actual, torch.Tensor):
        return None
    for name, variant in NLL_SUSPECTS:
        if mu.size(-1) == 1 and name == "multid-normaliser":
            continue  # identical to the correct NLL in 1-D
        wrong = manual_nll(pi, mu, sigma, y, variant)
        if is_close(actual, wrong) or (actual.dim() == 0 and is_close(actual, wrong.mean())):
            return name
    return None


def nll_input_gradients(pi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor,
                        upstream: torch.Tensor, variant: NllVariant = NllVariant(), reduce: str = "none"
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """d<upstream, NLL>/d(pi, mu, sigma) by torch's autograd (float64), for the per-sample NLL or
    its "mean"/"sum". The gradient of pi is projected onto the simplex (each row minus its mean):
    two formulas that agree on mixture weights may differ off the simplex, where pi never lives."""
    leaves = [t.detach().double().requires_grad_(True) for t in (pi, mu, sigma)]
    nll = manual_nll(*leaves, y, variant)
    nll = {"none": nll, "mean": nll.mean(), "sum": nll.sum()}[reduce]
    g_pi, g_mu, g_sigma = torch.autograd.grad((nll * upstream.double()).sum(), leaves)
    return g_pi - g_pi.mean(-1, keepdim=True), g_mu, g_sigma


def gradients_agree(actual: object, expected: torch.Tensor, rtol: float = 1e-3) -> bool:
    """A reported gradient equals the reference (relative to the reference's size)."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return False
    actual = actual.detach().double()
    if not torch.isfinite(actual).all():
        return False
    return float((actual - expected).abs().max()) <= rtol * (1.0 + float(expected.abs().max()))


def variant_of(name: str | None) -> NllVariant:
    """The first wrong likelihood filed under `name` (the correct one for None)."""
    return next((v for n, v in NLL_SUSPECTS if n == name), NllVariant())


def mixture_moments(pi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-dimension mean, variance and fourth central moment of a mixture pi (K,), mu, sigma (K, D)."""
    pi, mu, sigma = pi.double().unsqueeze(-1), mu.double(), sigma.double()
    mean = (pi * mu).sum(0)
    var = (pi * (sigma ** 2 + mu ** 2)).sum(0) - mean ** 2
    dev = mu - mean
    m4 = (pi * (dev ** 4 + 6 * dev ** 2 * sigma ** 2 + 3 * sigma ** 4)).sum(0)
    return mean, var, m4


def moment_tolerances(var: torch.Tensor, m4: torch.Tensor, n: int, z: float = 5.0
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """z standard errors of the sample mean and of the sample variance of n independent draws."""
    return z * torch.sqrt(var / n), z * torch.sqrt((m4 - var ** 2).clamp_min(0) / n + 2 * var ** 2 / n ** 2)


def inverse_sine_data(n: int, generator: torch.Generator | None = None, noise: float = 0.05
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's one-to-many toy problem: y ~ U(0, 1), x = y + 0.3 sin(2 pi y) + noise; predict y
    from x. Both standardised ((v - 0.5) / 0.3), float32 (n, 1)."""
    y = torch.rand(n, 1, generator=generator)
    x = y + 0.3 * torch.sin(2 * math.pi * y) + noise * torch.randn(n, 1, generator=generator)
    return ((x - 0.5) / 0.3).float(), ((y - 0.5) / 0.3).float()


def best_single_gaussian_nll(x: torch.Tensor, y: torch.Tensor, pool: int = 200_000, bins: int = 40,
                             seed: int = 0) -> float:
    """Mean NLL of (x, y) under the best single Gaussian per x (the conditional mean and variance,
    estimated in narrow x bins of a large sample): what any one-Gaussian model can reach at best."""
    generator = torch.Generator().manual_seed(seed)
    xb, yb = inverse_sine_data(pool, generator)
    edges = torch.linspace(float(xb.min()), float(xb.max()), bins + 1)[1:-1]
    pool_bin, bin_of = torch.bucketize(xb[:, 0], edges), torch.bucketize(x[:, 0].float(), edges)
    counts = torch.bincount(pool_bin, minlength=bins).double()
    mean = torch.bincount(pool_bin, yb[:, 0].double(), minlength=bins) / counts
    second = torch.bincount(pool_bin, yb[:, 0].double() ** 2, minlength=bins) / counts
    var = (second - mean ** 2).clamp_min(1e-6)
    m, v = mean[bin_of], var[bin_of]
    return float((0.5 * _LOG_2PI + 0.5 * torch.log(v) + 0.5 * (y[:, 0].double() - m) ** 2 / v).mean())
