"""The trusted side of a seeded training run: Adam on plain tensors.

A grader trains a student's module by running its forward and backward in the sandbox and the
update here. torch.optim's first use in a process imports torch._dynamo (and sympy): seconds of
one-off start-up in every grading worker, for a few lines of arithmetic. `PlainAdam` is
torch.optim.Adam's default update (no weight decay, no amsgrad), with each parameter's step
counted on its own as torch does, so a run takes the same steps as it would with torch's.
"""

from __future__ import annotations

import torch

__all__ = ["PlainAdam"]


class PlainAdam:
    """Adam over named tensors updated in place; `step` takes the gradients by name."""

    def __init__(self, tensors: dict[str, torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.tensors, self.lr, self.betas, self.eps = tensors, lr, betas, eps
        self.moments = {n: (torch.zeros_like(v), torch.zeros_like(v)) for n, v in tensors.items()}
        self.steps = dict.fromkeys(tensors, 0)

    def step(self, grads: dict[str, torch.Tensor | None]) -> None:
        """One update; a tensor whose gradient is missing (None, not a tensor, another shape) is
        left as it is, like a torch parameter whose .grad is None."""
        b1, b2 = self.betas
        with torch.no_grad():
            for name, value in self.tensors.items():
                grad = grads.get(name)
                if not isinstance(grad, torch.Tensor) or grad.shape != value.shape:
                    continue
                grad = grad.to(value.dtype)
                self.steps[name] += 1
                t = self.steps[name]
                m, v = self.moments[name]
                m.mul_(b1).add_(grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                denom = (v / (1 - b2 ** t)).sqrt_().add_(self.eps)
                value.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** t))
