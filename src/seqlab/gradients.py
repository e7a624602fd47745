"""Back-propagate from a tensor with an explicit upstream gradient, the way graders probe gradients.

`output.backward(upstream)` checks the upstream's shape through torch.fx's symbolic shapes,
whose first use in a process imports sympy: ~0.5 s of CPU, paid by every grading worker and by
every sandboxed child that the graders ask for gradients. Back-propagating the scalar
`sum(output * upstream)` gives every leaf exactly the same gradient (d/d output is `upstream`
times ones) without that import; the shape check torch would make is made here instead, with
torch's own message, so a submission whose output has the wrong shape fails as before.
"""

from __future__ import annotations

import torch

__all__ = ["backward_from"]


def backward_from(output: torch.Tensor, upstream: torch.Tensor | None = None) -> None:
    """`output.backward(upstream)`: the same gradients and errors, without importing sympy."""
    if upstream is None:
        output.backward()
        return
    if tuple(upstream.shape) != tuple(output.shape):
        raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {upstream.shape} and output[0] "
                           f"has a shape of {output.shape}.")
    (output * upstream.to(output.dtype)).sum().backward()
