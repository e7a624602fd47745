"""How a student's ViT stores the course-named parameters, for the vit grader's weight transplant.

The spec names `attn.lin_Q/K/V/O` and a conv-shaped `patch.proj`; a student may use torch's
nn.MultiheadAttention as `attn` (fused in_proj_weight / out_proj) or an nn.Linear(C*P*P, d_feat)
as `patch.proj`. `StudentLayout` maps the course's parameters (seqlab.oracles.vit) to the
student's names and shapes and the student's gradients back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

__all__ = ["StudentLayout"]

_LIN = re.compile(r"^(.*)attn\.lin_([QKVO])\.(weight|bias)$")


@dataclass(frozen=True)
class StudentLayout:
    """How a student's module stores the course-named parameters: `attn` may be torch's
    nn.MultiheadAttention (fused in_proj_weight / out_proj), `proj` an nn.Linear(C*P*P, d_feat)."""

    params: dict[str, torch.Tensor]
    torch_attn: bool = False
    linear_proj: bool = False

    @staticmethod
    def candidates(params: dict[str, torch.Tensor]) -> list[StudentLayout]:
        attn = (False, True) if any(_LIN.match(n) for n in params) else (False,)
        proj = (False, True) if any(n.endswith("proj.weight") and v.dim() == 4 for n, v in params.items()) \
            else (False,)
        return [StudentLayout(params, a, p) for a in attn for p in proj]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.student(self.params))

    def student(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Course-named parameters under the student's names and shapes, float32."""
        out: dict[str, torch.Tensor] = {}
        fused: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
        for name, value in params.items():
            match = _LIN.match(name)
            if self.torch_attn and match:
                prefix, which, kind = match.groups()
                if which == "O":
                    out[f"{prefix}attn.out_proj.{kind}"] = value
                else:
                    fused.setdefault((prefix, kind), {})[which] = value
            elif self.linear_proj and name.endswith("proj.weight") and value.dim() == 4:
                out[name] = value.reshape(value.size(0), -1)
            else:
                out[name] = value
        for (prefix, kind), parts in fused.items():
            out[f"{prefix}attn.in_proj_{kind}"] = torch.cat([parts[k] for k in "QKV"])
        return {k: v.detach().float() for k, v in out.items()}

    def course(self, grads: dict[str, torch.Tensor | None]) -> dict[str, torch.Tensor | None]:
        """The student's gradients back under the course's names and shapes."""
        course: dict[str, torch.Tensor | None] = {}
        for name, ref in self.params.items():
            match = _LIN.match(name)
            grad: torch.Tensor | None
            if self.torch_attn and match:
                prefix, which, kind = match.groups()
                if which == "O":
                    grad = grads.get(f"{prefix}attn.out_proj.{kind}")
                else:
                    fused = grads.get(f"{prefix}attn.in_proj_{kind}")
                    grad = None if fused is None else fused.chunk(3)["QKV".index(which)]
            else:
                grad = grads.get(name)
            if isinstance(grad, torch.Tensor) and grad.numel() == ref.numel():
                grad = grad.reshape(ref.shape)
            course[name] = grad
        return course
