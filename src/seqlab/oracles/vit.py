"""Oracles for the vit assignment: torch's own TransformerEncoderLayer and Conv2d patchify, weight
transplant into the course's names, and the *wrong* encoders / ViTs the graders compare against to
name a student's misconception.

Everything on the trusted side is float64 and differentiable (the gradient oracle back-propagates
through `manual_vit`). Random modules have float32-exact parameters, non-zero biases and LayerNorm
weights away from 1, so every parameter is tested. Masks use the course polarity (1/True = may
attend); torch's `src_key_padding_mask` is the opposite (True = padding). The wrong references the
graders name misconceptions by are in `vit_diagnosis`; the student's parameter layouts in `vit_layout`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "LayerVariant",
    "VitConfig",
    "VitVariant",
    "conv_patchify",
    "encoder_params",
    "layer_params",
    "manual_encoder",
    "manual_layer",
    "manual_vit",
    "patch_embed",
    "random_conv",
    "random_torch_layer",
    "random_vit_params",
    "torch_encoder_reference",
    "torch_layer_reference",
]

_NEG = torch.finfo(torch.float64).min


def _exact(module: torch.nn.Module) -> torch.nn.Module:
    """float64, eval, random parameters that a float32 copy holds exactly."""
    module = module.double().eval()
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.startswith("norm") and name.endswith("weight"):
                param.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.3)
            else:
                param.uniform_(-1.0, 1.0).mul_(1.5 / math.sqrt(param[0].numel()))
            param.copy_(param.float().double())
    return module


def random_torch_layer(d_feat: int, n_head: int, d_ff: int, dropout_p: float = 0.0
                       ) -> torch.nn.TransformerEncoderLayer:
    """torch's post-norm layer, exactly the course's: ReLU, batch_first, norm_first=False."""
    return _exact(torch.nn.TransformerEncoderLayer(d_feat, n_head, d_ff, dropout_p, activation="relu",
                                                   batch_first=True, norm_first=False))


def random_conv(in_channels: int, d_feat: int, patch_size: int) -> torch.nn.Conv2d:
    return _exact(torch.nn.Conv2d(in_channels, d_feat, patch_size, stride=patch_size))


def layer_params(layer: torch.nn.TransformerEncoderLayer, prefix: str = "") -> dict[str, torch.Tensor]:
    """torch's layer under the course's names (fused in_proj split into lin_Q/K/V), float64."""
    attn = layer.self_attn
    p: dict[str, torch.Tensor] = {}
    for name, w, b in zip("QKV", attn.in_proj_weight.detach().chunk(3), attn.in_proj_bias.detach().chunk(3)):
        p[f"{prefix}attn.lin_{name}.weight"], p[f"{prefix}attn.lin_{name}.bias"] = w.clone(), b.clone()
    p[f"{prefix}attn.lin_O.weight"] = attn.out_proj.weight.detach().clone()
    p[f"{prefix}attn.lin_O.bias"] = attn.out_proj.bias.detach().clone()
    for ours, theirs in (("ff1", "linear1"), ("ff2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2")):
        for kind in ("weight", "bias"):
            p[f"{prefix}{ours}.{kind}"] = getattr(getattr(layer, theirs), kind).detach().clone()
    return p


def encoder_params(layers: list[torch.nn.TransformerEncoderLayer], prefix: str = "") -> dict[str, torch.Tensor]:
    params: dict[str, torch.Tensor] = {}
    for k, layer in enumerate(layers):
        params.update(layer_params(layer, f"{prefix}layers.{k}."))
    return params


def torch_layer_reference(layer: torch.nn.TransformerEncoderLayer, x: torch.Tensor,
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """torch's output and per-head attention (B, n_head, n, n) for a course key-padding mask (B, 1, n).

    torch's polarity is the opposite (True = hidden). The mask goes in as the equivalent boolean
    attention mask, one (n, n) per batch row and head (torch applies a key-padding mask exactly
    so): the same numbers, without the key-padding check that imports sympy (seconds once per
    grading worker)."""
    x = x.double()
    hidden = None
    if mask is not None:
        batch, n, n_head = x.size(0), x.size(1), layer.self_attn.num_heads
        padding = ~mask.bool().reshape(batch, 1, 1, n)
        hidden = padding.expand(batch, n_head, n, n).reshape(batch * n_head, n, n)
    with torch.no_grad():
        out = layer(x, src_mask=hidden)
        _, attention = layer.self_attn(x, x, x, attn_mask=hidden, need_weights=True, average_attn_weights=False)
    return out, attention


# -- the course's encoder by hand, optionally with one bug ------------------------------------------

@dataclass(frozen=True)
class LayerVariant:
    """One way of wrapping the two sub-layers; the defaults are torch's post-norm layer.

    A block is "post": norm(x + f(x)), "pre": x + f(norm(x)), "after_norm": x + norm(f(x)),
    "none": norm(f(x)) (no residual)."""

    attn_block: str = "post"
    ff_block: str = "post"
    activation: str = "relu"          # "gelu": the ViT paper's MLP, not torch's default layer
    scale: str = "d_head"             # "none" | "d_feat"
    softmax_dim: int = -1             # -2: normalised over the queries
    mask_mode: str = "course"         # "inverted" | "ignored"
    mask_first_layer_only: bool = False
    raw_input: bool = False           # every layer of the encoder reads the encoder's input
    shared_layers: bool = False       # one module repeated: every layer holds the last weights copied in


def _lin(p: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, p[f"{name}.weight"], p.get(f"{name}.bias"))


def _attention(p: dict[str, torch.Tensor], prefix: str, n_head: int, x: torch.Tensor,
               mask: torch.Tensor | None, variant: LayerVariant) -> tuple[torch.Tensor, torch.Tensor]:
    batch, n, d_feat = x.shape
    d_head = d_feat // n_head

    def heads(name: str) -> torch.Tensor:
        return _lin(p, f"{prefix}attn.{name}", x).reshape(batch, n, n_head, d_head).transpose(1, 2)

    scores = heads("lin_Q") @ heads("lin_K").transpose(-2, -1)
    if variant.scale != "none":
        scores = scores / math.sqrt(d_head if variant.scale == "d_head" else d_feat)
    if mask is not None and variant.mask_mode != "ignored":
        keep = mask.bool() if variant.mask_mode == "course" else ~mask.bool()
        scores = scores.masked_fill(~keep.unsqueeze(-3), _NEG)
    attention = torch.softmax(scores, dim=variant.softmax_dim)
    out = (attention @ heads("lin_V")).transpose(1, 2).reshape(batch, n, d_feat)
    return _lin(p, f"{prefix}attn.lin_O", out), attention


def _block(kind: str, x: torch.Tensor, sub: Callable[[torch.Tensor], torch.Tensor],
           norm: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    if kind == "pre":
        return x + sub(norm(x))
    if kind == "after_norm":
        return x + norm(sub(x))
    if kind == "none":
        return norm(sub(x))
    return norm(x + sub(x))


def manual_layer(p: dict[str, torch.Tensor], n_head: int, x: torch.Tensor, mask: torch.Tensor | None = None,
                 variant: LayerVariant = LayerVariant(), prefix: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """One post-norm encoder layer from course-named parameters (float64): (x, attention)."""
    x = x.double()
    maps: list[torch.Tensor] = []

    def norm(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda t: F.layer_norm(t, t.shape[-1:], p[f"{prefix}{name}.weight"], p[f"{prefix}{name}.bias"])

    def attend(t: torch.Tensor) -> torch.Tensor:
        out, attention = _attention(p, prefix, n_head, t, mask, variant)
        maps.append(attention)
        return out

    act = F.gelu if variant.activation == "gelu" else F.relu

    def feed_forward(t: torch.Tensor) -> torch.Tensor:
        return _lin(p, f"{prefix}ff2", act(_lin(p, f"{prefix}ff1", t)))

    x = _block(variant.attn_block, x, attend, norm("norm1"))
    x = _block(variant.ff_block, x, feed_forward, norm("norm2"))
    return x, maps[0]


def manual_encoder(p: dict[str, torch.Tensor], n_layer: int, n_head: int, x: torch.Tensor,
                   mask: torch.Tensor | None = None, variant: LayerVariant = LayerVariant(), prefix: str = ""
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    maps, inputs = [], x
    for k in range(n_layer):
        layer_mask = None if (variant.mask_first_layer_only and k > 0) else mask
        x, attention = manual_layer(p, n_head, inputs if variant.raw_input else x, layer_mask, variant,
                                    f"{prefix}layers.{n_layer - 1 if variant.shared_layers else k}.")
        maps.append(attention)
    return x, maps


def torch_encoder_reference(layers: list[torch.nn.TransformerEncoderLayer], x: torch.Tensor,
                            mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """torch's layers applied in order; each layer's map is taken on that layer's own input."""
    maps = []
    for layer in layers:
        out, attention = torch_layer_reference(layer, x, mask)
        maps.append(attention)
        x = out
    return x.double(), maps


# -- patches ----------------------------------------------------------------------------------------

def conv_patchify(conv: torch.nn.Conv2d, images: torch.Tensor) -> torch.Tensor:
    """The reference: nn.Conv2d(C, d_feat, P, stride=P), then flatten(2).transpose(1, 2)."""
    with torch.no_grad():
        return conv(images.double()).flatten(2).transpose(1, 2)


def _patches(images: torch.Tensor, size: int, order: str) -> torch.Tensor:
    """(N, n_patch, C*P*P) flattened patches in the given order."""
    n, c, s, _ = images.shape
    side = s // size
    if order == "memory-view":  # reshape of the raw image, no patch cutting at all
        return images.reshape(n, side * side, c * size * size)
    grid = images.reshape(n, c, side, size, side, size)              # n, c, row, pr, col, pc
    axes = {"row-major": (0, 2, 4, 1, 3, 5), "column-major": (0, 4, 2, 1, 3, 5),
            "channel-last": (0, 2, 4, 3, 5, 1)}[order]
    return grid.permute(*axes).reshape(n, side * side, c * size * size)


def patch_embed(weight: torch.Tensor, bias: torch.Tensor, images: torch.Tensor, order: str = "row-major"
                ) -> torch.Tensor:
    """Conv-shaped weight (d, C, P, P) applied to the patches in `order`."""
    d_feat, size = weight.size(0), weight.size(-1)
    images = images.to(weight.dtype)
    if order == "conv-view":  # conv output (N, d, h, w) viewed as (N, n_patch, d) without the transpose
        rows = patch_embed(weight, bias, images)
        return rows.transpose(1, 2).reshape(rows.shape)
    return _patches(images, size, order) @ weight.reshape(d_feat, -1).T + bias


# -- the whole ViT -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VitConfig:
    image_size: int
    patch_size: int
    in_channels: int
    n_class: int
    n_layer: int
    d_feat: int
    n_head: int
    d_ff: int

    @property
    def n_patch(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def kwargs(self, dropout_p: float = 0.0) -> dict[str, float]:
        return {**vars(self), "dropout_p": dropout_p}


@dataclass(frozen=True)
class VitVariant:
    layer: LayerVariant = LayerVariant()
    patch_order: str = "row-major"
    cls_position: str = "first"      # "last": appended after the patches
    read: str = "first"              # "last" | "mean" (all tokens) | "mean-patches"
    position: bool = True            # False: no position embedding added
    final_norm: bool = False         # True: a fresh LayerNorm (pre-norm ViTs' habit) before the head


def random_vit_params(cfg: VitConfig) -> dict[str, torch.Tensor]:
    """float64, float32-exact parameters under the course's names (patch.proj conv-shaped)."""
    conv = random_conv(cfg.in_channels, cfg.d_feat, cfg.patch_size)
    params = {"patch.proj.weight": conv.weight.detach().clone(), "patch.proj.bias": conv.bias.detach().clone()}
    params["cls_token"] = torch.randn(1, 1, cfg.d_feat).float().double()
    params["pos_embedding"] = torch.randn(1, cfg.n_patch + 1, cfg.d_feat).float().double()
    layers = [random_torch_layer(cfg.d_feat, cfg.n_head, cfg.d_ff) for _ in range(cfg.n_layer)]
    params.update(encoder_params(layers, "encoder."))
    head = _exact(torch.nn.Linear(cfg.d_feat, cfg.n_class))
    params["head.weight"], params["head.bias"] = head.weight.detach().clone(), head.bias.detach().clone()
    return params


def manual_vit(p: dict[str, torch.Tensor], cfg: VitConfig, images: torch.Tensor,
               variant: VitVariant = VitVariant()) -> torch.Tensor:
    """Logits (N, n_class) from course-named parameters (float64, differentiable)."""
    patches = patch_embed(p["patch.proj.weight"], p["patch.proj.bias"], images.double(), variant.patch_order)
    cls = p["cls_token"].expand(images.size(0), 1, cfg.d_feat)
    tokens = torch.cat([patches, cls] if variant.cls_position == "last" else [cls, patches], dim=1)
    if variant.position:
        tokens = tokens + p["pos_embedding"]
    x, _ = manual_encoder(p, cfg.n_layer, cfg.n_head, tokens, None, variant.layer, "encoder.")
    read = {"first": lambda: x[:, 0], "last": lambda: x[:, -1], "mean": lambda: x.mean(1),
            "mean-patches": lambda: x[:, 1:].mean(1)}[variant.read]()
    if variant.final_norm:
        read = F.layer_norm(read, read.shape[-1:])
    return _lin(p, "head", read)
