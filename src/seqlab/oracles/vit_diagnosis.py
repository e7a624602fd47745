"""The *wrong* encoders, patch embeddings and ViTs the vit grader compares a failing result with,
to name the student's misconception (each one bug away from seqlab.oracles.vit's references).
"""

from __future__ import annotations

import torch

from .tolerance import is_close
from .vit import (
    LayerVariant,
    VitConfig,
    VitVariant,
    manual_encoder,
    manual_layer,
    manual_vit,
    patch_embed,
)

__all__ = ["ENCODER_SUSPECTS", "LAYER_SUSPECTS", "MASK_SUSPECTS", "PATCH_SUSPECTS", "VIT_SUSPECTS", "diagnose_encoder",
           "diagnose_layer", "diagnose_patches", "diagnose_vit"]

LAYER_SUSPECTS: tuple[tuple[str, LayerVariant], ...] = (
    ("pre-norm", LayerVariant(attn_block="pre", ff_block="pre")),
    ("residual-missing", LayerVariant(attn_block="none")),
    ("residual-missing", LayerVariant(attn_block="none", ff_block="none")),
    ("residual-after-norm", LayerVariant(attn_block="after_norm", ff_block="after_norm")),
    ("ffn-residual-missing", LayerVariant(ff_block="none")),
    ("ffn-activation", LayerVariant(activation="gelu")),
    ("no-scaling", LayerVariant(scale="none")),
    ("scale-by-d-feat", LayerVariant(scale="d_feat")),
    ("softmax-dim", LayerVariant(softmax_dim=-2)),
)
MASK_SUSPECTS: tuple[tuple[str, LayerVariant], ...] = (
    ("mask-polarity", LayerVariant(mask_mode="inverted")),
    ("mask-ignored", LayerVariant(mask_mode="ignored")),
)
ENCODER_SUSPECTS: tuple[tuple[str, LayerVariant], ...] = (
    ("layers-fed-raw-input", LayerVariant(raw_input=True)),
    ("mask-first-layer-only", LayerVariant(mask_first_layer_only=True)),
    ("layers-share-weights", LayerVariant(shared_layers=True)),
)
PATCH_SUSPECTS: tuple[tuple[str, str], ...] = (
    ("patch-column-major", "column-major"),
    ("patch-channel-last", "channel-last"),
    ("patch-memory-view", "memory-view"),
    ("patch-flatten-without-transpose", "conv-view"),
)
VIT_SUSPECTS: tuple[tuple[str, VitVariant], ...] = (
    ("cls-token-at-end", VitVariant(cls_position="last", read="last")),
    ("cls-token-at-end", VitVariant(cls_position="last")),
    ("head-reads-mean", VitVariant(read="mean")),
    ("head-reads-mean", VitVariant(read="mean-patches")),
    ("position-embedding-missing", VitVariant(position=False)),
    ("final-norm", VitVariant(final_norm=True)),
)


def _close(actual: object, expected: torch.Tensor) -> bool:
    return isinstance(actual, torch.Tensor) and is_close(actual, expected)


def diagnose_layer(x: object, attention: object, p: dict[str, torch.Tensor], n_head: int,
                   inputs: torch.Tensor, mask: torch.Tensor | None = None,
                   suspects: tuple[tuple[str, LayerVariant], ...] = LAYER_SUSPECTS) -> str | None:
    """The misconception whose wrong layer reproduces the student's output (or attention map)."""
    with torch.no_grad():
        for name, variant in suspects:
            wrong_x, wrong_attention = manual_layer(p, n_head, inputs, mask, variant)
            # the map alone shows these: its scores, its mask, or attention run on norm1(x) (pre-norm)
            in_the_map = (variant.scale != "d_head" or variant.softmax_dim != -1 or variant.mask_mode != "course"
                          or variant.attn_block == "pre")
            if _close(x, wrong_x) or (in_the_map and _close(attention, wrong_attention)):
                return name
    return None


def diagnose_encoder(x: object, p: dict[str, torch.Tensor], n_layer: int, n_head: int,
                     inputs: torch.Tensor, mask: torch.Tensor | None = None) -> str | None:
    """The encoder-level misconception (how layers are chained) that reproduces the student's x."""
    with torch.no_grad():
        for name, variant in ENCODER_SUSPECTS:
            if variant.mask_first_layer_only and mask is None:
                continue
            if _close(x, manual_encoder(p, n_layer, n_head, inputs, mask, variant)[0]):
                return name
    return None


def diagnose_patches(out: object, weight: torch.Tensor, bias: torch.Tensor, images: torch.Tensor) -> str | None:
    for name, order in PATCH_SUSPECTS:
        if _close(out, patch_embed(weight, bias, images, order)):
            return name
    return None


def diagnose_vit(logits: object, p: dict[str, torch.Tensor], cfg: VitConfig, images: torch.Tensor) -> str | None:
    """The class-token / read-out / position misconception whose wrong ViT reproduces the logits."""
    with torch.no_grad():
        for name, variant in VIT_SUSPECTS:
            if _close(logits, manual_vit(p, cfg, images, variant)):
                return name
    return None
