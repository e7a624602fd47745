"""The one place that decides when two tensors are "the same", and says how they differ."""

from __future__ import annotations

import torch

__all__ = ["ATOL", "GRAD_ATOL", "GRAD_RTOL", "RTOL", "describe_difference", "is_close"]

ATOL = 1e-5
RTOL = 1e-4
# Gradients sum float32 products over every batch row and position: a little looser, still far
# below any real bug (a missing path, a detached step, a made-up .grad).
GRAD_ATOL = 1e-4
GRAD_RTOL = 1e-3


def is_close(actual: torch.Tensor, expected: torch.Tensor, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """Same shape and elementwise close; NaN never equals anything (a NaN is a bug here)."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return False
    actual = actual.detach().to(torch.float64)
    expected = expected.detach().to(torch.float64)
    return bool(torch.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=False))


def describe_difference(actual: torch.Tensor, expected: torch.Tensor) -> str:
    """One line: shape mismatch, NaN/inf, or the largest absolute difference and where."""
    if tuple(actual.shape) != tuple(expected.shape):
        return f"shape {tuple(actual.shape)} instead of {tuple(expected.shape)}"
    actual = actual.detach().to(torch.float64)
    if not torch.isfinite(actual).all():
        return f"{int((~torch.isfinite(actual)).sum())} non-finite values (NaN or inf)"
    diff = (actual - expected.detach().to(torch.float64)).abs()
    if diff.numel() == 0:
        return "empty tensors"
    worst = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), diff.shape))
    return f"largest difference {float(diff.flatten()[worst]):.3g} at index {index}"
