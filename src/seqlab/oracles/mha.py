"""Oracles for the mha assignment: torch's own MultiheadAttention, weight transplant, and the
*wrong* references the graders compare against to name a student's misconception.

Everything is computed in float64 on the trusted side. Masks use the course convention
(1/True = may attend); `torch_attn_mask` converts to torch's (True = masked) per head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.gradients import backward_from

__all__ = [
    "MHA_SUSPECTS",
    "SDPA_SUSPECTS",
    "DropoutTrace",
    "MhaVariant",
    "SdpaVariant",
    "course_to_torch_mask",
    "diagnose_mha",
    "diagnose_sdpa",
    "dropout_factors",
    "manual_mha",
    "manual_sdpa",
    "merged_heads",
    "random_torch_mha",
    "scores_dropped_before_softmax",
    "torch_mha_gradients",
    "torch_mha_reference",
    "trace_dropout",
    "transplant",
]

_NEG = torch.finfo(torch.float64).min


def random_torch_mha(d_feat: int, n_head: int, bias: bool = True) -> torch.nn.MultiheadAttention:
    """torch's module in eval mode, float64, with random (non-zero) biases so they are tested too."""
    mha = torch.nn.MultiheadAttention(d_feat, n_head, bias=bias, batch_first=True, dropout=0.0)
    mha = mha.double().eval()
    with torch.no_grad():
        if bias:
            mha.in_proj_bias.normal_(0.0, 0.5)
            mha.out_proj.bias.normal_(0.0, 0.5)
        for param in mha.parameters():  # float32-exact, so the student's float32 copy is the same
            param.copy_(param.float().double())
    return mha


def transplant(mha: torch.nn.MultiheadAttention) -> dict[str, torch.Tensor]:
    """torch's packed in_proj/out_proj as the course's lin_Q/lin_K/lin_V/lin_O parameters (float32)."""
    params: dict[str, torch.Tensor] = {}
    for name, weight in zip("QKV", mha.in_proj_weight.detach().chunk(3)):
        params[f"lin_{name}.weight"] = weight.float().clone()
    params["lin_O.weight"] = mha.out_proj.weight.detach().float().clone()
    if mha.in_proj_bias is not None:
        for name, b in zip("QKV", mha.in_proj_bias.detach().chunk(3)):
            params[f"lin_{name}.bias"] = b.float().clone()
        params["lin_O.bias"] = mha.out_proj.bias.detach().float().clone()
    return params


def course_to_torch_mask(mask: torch.Tensor, batch: int, n_head: int, n_q: int, n_k: int) -> torch.Tensor:
    """Course mask broadcasting to (B, n_Q, n_K), 1 = keep -> torch attn_mask (B*n_head, n_Q, n_K), True = masked."""
    hidden = ~mask.bool().expand(batch, n_q, n_k)
    return hidden.repeat_interleave(n_head, dim=0)


def torch_mha_reference(mha: torch.nn.MultiheadAttention, Q: torch.Tensor, K: torch.Tensor,
                        V: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, n_Q, d_feat) and per-head attention (B, n_head, n_Q, n_K) from torch's module, float64."""
    attn_mask = None
    if mask is not None:
        attn_mask = course_to_torch_mask(mask, Q.size(0), mha.num_heads, Q.size(1), K.size(1))
    with torch.no_grad():
        x, attention = mha(Q.double(), K.double(), V.double(), attn_mask=attn_mask,
                           need_weights=True, average_attn_weights=False)
    return x, attention


def torch_mha_gradients(mha: torch.nn.MultiheadAttention, Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor,
                        grad_x: torch.Tensor) -> dict[str, torch.Tensor]:
    """d(x . grad_x) for torch's module (float64), under the course's names: lin_Q.weight ... and
    the inputs "Q", "K", "V". The trusted side compares a submission's gradients with these."""
    inputs = [t.detach().double().clone().requires_grad_(True) for t in (Q, K, V)]
    mha.zero_grad(set_to_none=True)
    with torch.enable_grad():
        x, _ = mha(*inputs, need_weights=False)
        backward_from(x, grad_x.double())
    grads: dict[str, torch.Tensor] = {}
    for name, g in zip("QKV", mha.in_proj_weight.grad.chunk(3)):
        grads[f"lin_{name}.weight"] = g.clone()
    grads["lin_O.weight"] = mha.out_proj.weight.grad.clone()
    if mha.in_proj_bias is not None:
        for name, g in zip("QKV", mha.in_proj_bias.grad.chunk(3)):
            grads[f"lin_{name}.bias"] = g.clone()
        grads["lin_O.bias"] = mha.out_proj.bias.grad.clone()
    for name, tensor in zip("QKV", inputs):
        grads[name] = tensor.grad.clone()
    mha.zero_grad(set_to_none=True)
    return grads


@dataclass(frozen=True)
class SdpaVariant:
    """One way of computing attention; the defaults are the correct one."""

    scale: str = "d_K"            # "d_K" | "none" | "d_feat" (the whole width, for MHA) | "floordiv" (`//`)
    softmax_dim: int = -1         # -2: normalised over the queries; 1 on (B, n_head, n_Q, n_K): the heads
    mask_mode: str = "course"     # "course" | "inverted" | "after_softmax" | "ignored" | "fill_zero"


def manual_sdpa(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, mask: torch.Tensor | None = None,
                variant: SdpaVariant = SdpaVariant(), d_scale: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    Q, K, V = Q.double(), K.double(), V.double()
    scores = Q @ K.transpose(-2, -1)
    if variant.scale == "d_K":
        scores = scores / math.sqrt(Q.size(-1))
    elif variant.scale == "floordiv":
        scores = scores // math.sqrt(Q.size(-1))
    elif variant.scale == "d_feat":
        scores = scores / math.sqrt(d_scale if d_scale is not None else Q.size(-1))
    if mask is not None and variant.mask_mode in ("course", "inverted"):
        keep = mask.bool() if variant.mask_mode == "course" else ~mask.bool()
        scores = scores.masked_fill(~keep, _NEG)
    if mask is not None and variant.mask_mode == "fill_zero":
        scores = scores.masked_fill(~mask.bool(), 0.0)
    attention = torch.softmax(scores, dim=variant.softmax_dim)
    if mask is not None and variant.mask_mode == "after_softmax":
        attention = attention * mask.double()
    return attention @ V, attention


@dataclass(frozen=True)
class MhaVariant:
    sdpa: SdpaVariant = SdpaVariant()
    split: str = "permute"        # "view": (B, n, d_feat).view(B, n_head, n, d_head)
    merge: str = "permute"        # "view": (B, n_head, n_Q, d_head).reshape(B, n_Q, d_feat)
    out_proj: bool = True
    projections: str = "QKV"      # which lin_* projects the Q, K and V inputs ("QQQ": lin_Q for all)


def _linear(params: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    y = x.double() @ params[f"{name}.weight"].double().T
    return y + params[f"{name}.bias"].double() if f"{name}.bias" in params else y


def _split(x: torch.Tensor, n_head: int, how: str = "permute") -> torch.Tensor:
    """(B, n, d_feat) -> (B, n_head, n, d_head); "view" is the bug that skips the permute."""
    batch, n, d_feat = x.shape
    if how == "view":
        return x.reshape(batch, n_head, n, d_feat // n_head)
    return x.reshape(batch, n, n_head, d_feat // n_head).transpose(1, 2)


def merged_heads(params: dict[str, torch.Tensor], n_head: int, Q: torch.Tensor, K: torch.Tensor,
                 V: torch.Tensor, mask: torch.Tensor | None = None, variant: MhaVariant = MhaVariant()
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The concatenated heads before lin_O (B, n_Q, d_feat), the attention (B, n_head, n_Q, n_K) and
    the per-head values v (B, n_head, n_K, d_head), float64."""
    q_lin, k_lin, v_lin = (f"lin_{name}" for name in variant.projections)
    q, k, v = (_split(_linear(params, lin, x), n_head, variant.split)
               for lin, x in ((q_lin, Q), (k_lin, K), (v_lin, V)))
    head_mask = None if mask is None else mask.bool().unsqueeze(-3)
    out, attention = manual_sdpa(q, k, v, head_mask, variant.sdpa, d_scale=Q.size(-1))
    if variant.merge == "view":
        return out.reshape(Q.shape), attention, v
    return out.transpose(1, 2).reshape(Q.shape), attention, v


def manual_mha(params: dict[str, torch.Tensor], n_head: int, Q: torch.Tensor, K: torch.Tensor,
               V: torch.Tensor, mask: torch.Tensor | None = None, variant: MhaVariant = MhaVariant()
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's MHA by hand (float64) from lin_* parameters, optionally with one bug."""
    merged, attention, _ = merged_heads(params, n_head, Q, K, V, mask, variant)
    return (_linear(params, "lin_O", merged) if variant.out_proj else merged), attention


@dataclass(frozen=True)
class DropoutTrace:
    """Where dropout acted in one train-mode call, read back from its output x.

    where: "none" (x is the eval output), "weights" (x is lin_O of (dropped weights) @ v, as the
    spec asks), "merged-heads" (the concatenated heads were dropped just before lin_O), "output"
    (entries of x itself are zero: dropout after lin_O, with or without another one), "values"
    (the values were dropped, V before lin_V or v after it, and the weights were not), "unknown".
    rate is the share of entries zeroed there, scale the factor the kept ones were multiplied by
    (NaN when x is dropped on top of another dropout)."""

    where: str
    rate: float = 0.0
    scale: float = 1.0


def dropout_factors(observed: torch.Tensor, clean: torch.Tensor, atol: float) -> tuple[float, float] | None:
    """(rate, scale) when every entry of `observed` is either 0 or one common scale times `clean`
    (what dropout does); judged where `clean` is large enough to tell the two apart."""
    observed, clean = observed.double(), clean.double()
    sure = clean.abs() > 20 * atol
    if int(sure.sum()) < 20:
        return None
    o, c = observed[sure], clean[sure]
    dropped = o.abs() <= atol
    if bool(dropped.all()):
        return None
    scale = float((o[~dropped] / c[~dropped]).median())
    if not torch.allclose(o[~dropped], scale * c[~dropped], rtol=1e-3, atol=atol):
        return None
    if bool((observed[~sure].abs() > 20 * atol * max(scale, 1.0)).any()):
        return None
    return float(dropped.double().mean()), scale


def scores_dropped_before_softmax(attention: torch.Tensor, params: dict[str, torch.Tensor], n_head: int,
                                  Q: torch.Tensor, K: torch.Tensor, p: float) -> bool:
    """attention == softmax(dropout(scores)): each scaled score zeroed or multiplied by 1/(1-p)
    before the softmax. Then in every row log(attention) minus the score each entry kept (0 or
    s/(1-p)) is one constant, the row's -logsumexp."""
    q, k = (_split(_linear(params, name, x), n_head) for name, x in (("lin_Q", Q), ("lin_K", K)))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    log_att = attention.detach().double().clamp_min(1e-300).log()
    either = torch.stack([log_att, log_att - scores / (1 - p)], -1).flatten(0, -3)   # (rows, n_K, 2)
    constants = either.flatten(1)                                                   # (rows, 2 n_K)
    fits = (either.unsqueeze(1) - constants[:, :, None, None]).abs().le(1e-3).any(-1)  # (rows, 2 n_K, n_K)
    return bool(fits.all(-1).any(-1).all())


def trace_dropout(x: torch.Tensor, params: dict[str, torch.Tensor], n_head: int, Q: torch.Tensor,
                  K: torch.Tensor, V: torch.Tensor) -> DropoutTrace:
    """Where dropout acted in a train-mode output x of a model with these weights. lin_O is
    inverted to get the concatenated heads back, and each head's output (dropped weights) @ v is
    solved for the weights, which needs d_head >= n_K (v has full row rank) and a well-conditioned
    lin_O (the caller picks the weights)."""
    x = x.detach().double()
    merged_ref, attention_ref, v = merged_heads(params, n_head, Q, K, V)
    x_ref = _linear(params, "lin_O", merged_ref)
    if v.size(-1) < v.size(-2):
        raise ValueError(f"trace_dropout needs d_head >= n_K, got d_head={v.size(-1)}, n_K={v.size(-2)}")
    if torch.allclose(x, x_ref, atol=1e-5, rtol=1e-4):
        return DropoutTrace("none")
    zeros = float((x == 0).double().mean())
    if zeros > 0.05:  # lin_O mixes every feature (and adds a bias): no entry of x is 0 by chance
        found = dropout_factors(x, x_ref, 1e-5)
        return DropoutTrace("output", *(found or (zeros, math.nan)))
    shifted = x - params["lin_O.bias"].double() if "lin_O.bias" in params else x
    merged = torch.linalg.solve(params["lin_O.weight"].double(), shifted.reshape(-1, x.size(-1)).T).T
    merged = merged.reshape(x.shape)
    found = dropout_factors(merged, merged_ref, 1e-4)
    if found is not None and found[0] > 0:
        return DropoutTrace("merged-heads", *found)
    heads = _split(merged, n_head)                               # (B, n_head, n_Q, d_head)
    weights = heads @ torch.linalg.pinv(v)                       # (B, n_head, n_Q, n_K)
    if not torch.allclose(weights @ v, heads, atol=1e-4, rtol=1e-3):
        return _values_dropped(heads, attention_ref, v, params, V)  # not (some weights) @ v
    found = dropout_factors(weights, attention_ref, 1e-3)
    return DropoutTrace("weights", *found) if found is not None else DropoutTrace("unknown")


def _values_dropped(heads: torch.Tensor, attention: torch.Tensor, v: torch.Tensor, params: dict[str, torch.Tensor],
                    V: torch.Tensor) -> DropoutTrace:
    """"values" when heads = attention @ (v with dropout), or v = lin_V of (V with dropout): the
    heads are solved for the values they averaged (needs n_Q >= n_K, the attention of full column
    rank), and those for V through lin_V (square and well-conditioned where the caller picks it)."""
    if attention.size(-2) < attention.size(-1):
        return DropoutTrace("unknown")
    values = torch.linalg.pinv(attention) @ heads               # (B, n_head, n_K, d_head)
    if not torch.allclose(attention @ values, heads, atol=1e-4, rtol=1e-3):
        return DropoutTrace("unknown")
    found = dropout_factors(values, v, 1e-3)
    if found is not None and found[0] > 0:
        return DropoutTrace("values", *found)
    projected = values.transpose(1, 2).reshape(V.shape)
    if "lin_V.bias" in params:
        projected = projected - params["lin_V.bias"].double()
    raw = torch.linalg.solve(params["lin_V.weight"].double(), projected.reshape(-1, V.size(-1)).T).T
    found = dropout_factors(raw.reshape(V.shape), V.double(), 1e-3)
    if found is not None and found[0] > 0:
        return DropoutTrace("values", *found)
    return DropoutTrace("unknown")


SDPA_SUSPECTS: tuple[tuple[str, SdpaVariant], ...] = (
    ("no-scaling", SdpaVariant(scale="none")),
    ("softmax-dim", SdpaVariant(softmax_dim=-2)),
    ("softmax-dim", SdpaVariant(softmax_dim=1)),   # 4-D scores: over the heads
    ("mask-polarity", SdpaVariant(mask_mode="inverted")),
    ("mask-after-softmax", SdpaVariant(mask_mode="after_softmax")),
    ("mask-polarity", SdpaVariant(mask_mode="ignored")),
    ("mask-fill-zero", SdpaVariant(mask_mode="fill_zero")),
    ("floor-division", SdpaVariant(scale="floordiv")),
)

MHA_SUSPECTS: tuple[tuple[str, MhaVariant], ...] = (
    ("scale-by-d-feat", MhaVariant(sdpa=SdpaVariant(scale="d_feat"))),
    *((name, MhaVariant(sdpa=v)) for name, v in SDPA_SUSPECTS),
    ("split-heads-without-permute", MhaVariant(split="view")),
    ("merge-heads-without-permute", MhaVariant(merge="view")),
    ("missing-output-projection", MhaVariant(out_proj=False)),
    ("shared-qkv-projection", MhaVariant(projections="QQQ")),
)


def _close(actual: object, expected: torch.Tensor) -> bool:
    from .tolerance import is_close

    return isinstance(actual, torch.Tensor) and is_close(actual, expected)


def diagnose_sdpa(out: object, attention: object, Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor,
                  mask: torch.Tensor | None = None) -> str | None:
    """The misconception whose wrong reference reproduces the student's attention, if any."""
    for name, variant in SDPA_SUSPECTS:
        if mask is None and variant.mask_mode != "course":
            continue
        wrong_out, wrong_attention = manual_sdpa(Q, K, V, mask, variant)
        if _close(attention, wrong_attention) or _close(out, wrong_out):
            return name
    return None


def diagnose_mha(x: object, attention: object, params: dict[str, torch.Tensor], n_head: int,
                 Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, mask: torch.Tensor | None = None
                 ) -> str | None:
    """The misconception whose wrong MHA reproduces the student's output (or attention), if any."""
    for name, variant in MHA_SUSPECTS:
        if mask is None and variant.sdpa.mask_mode != "course":
            continue
        wrong_x, _ = manual_mha(params, n_head, Q, K, V, mask, variant)
        if _close(x, wrong_x):
            return name
    for name, variant in MHA_SUSPECTS:
        if (variant.split, variant.merge, variant.out_proj, variant.projections) != ("permute", "permute", True, "QKV"):
            continue
        if mask is None and variant.sdpa.mask_mode != "course":
            continue
        if _close(attention, manual_mha(params, n_head, Q, K, V, mask, variant)[1]):
            return name
    return None
