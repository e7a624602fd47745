"""The vit grader's checks: building and calling a student's EncoderLayer, Encoder, PatchEmbedding
and VisionTransformer in the sandbox, with the hidden weights copied in.

Every hidden call uses fixed sizes where each axis differs from every other (batch, tokens,
heads, head width, features, feed-forward width, layers; images, channels, patch size, patches
per side, classes), so no axis mix-up passes by chance and two students with the same code get
the same grade. Weights go in under the course's names in the first layout the student's module
accepts (seqlab.oracles.vit.StudentLayout: `self.attn` may be torch's nn.MultiheadAttention,
`patch.proj` an nn.Conv2d or an nn.Linear); results come back checked for their shapes; an
attention list may be a tuple or the maps stacked into one (n_layer, B, n_head, n, n) tensor.
"""

from __future__ import annotations

import torch

from seqlab.grading.expect import expect_shape, fail
from seqlab.grading.remote import StudentError

from .vit import (
    VitConfig,
    encoder_params,
    layer_params,
    random_torch_layer,
    random_vit_params,
)
from .vit_layout import StudentLayout

__all__ = ["ENCODER", "LAYER", "MASKED", "N_LAYER", "PATCH", "VIT", "VIT_BATCH", "WHY", "dims", "encoder_case",
           "fail_if_diagnosed", "layer_case", "load", "make_encoder", "make_layer", "make_vit", "padding_mask",
           "run_encoder", "run_layer", "vit_case", "vit_logits"]

# (batch, tokens, n_head, d_head, d_ff): d_feat = n_head * d_head; all axes differ
LAYER = (3, 7, 2, 5, 13)
MASKED = (2, 9, 3, 4, 7)
ENCODER = (2, 5, 4, 6, 9)        # with N_LAYER = 3 layers
N_LAYER = 3
# patches: images (2, 3, 20, 20), patch 4 -> 5 x 5 = 25 patches of width 7
PATCH = {"batch": 2, "image_size": 20, "patch_size": 4, "in_channels": 3, "d_feat": 7}
VIT = VitConfig(image_size=20, patch_size=4, in_channels=3, n_class=7, n_layer=2, d_feat=72, n_head=8, d_ff=11)
VIT_BATCH = 6

WHY = {
    "pre-norm": "the norm is applied before the sub-layer (pre-norm: x + f(norm(x))); the course's block is "
                "post-norm: add the input back first, then normalise: norm(x + f(x))",
    "residual-missing": "the attention's input is not added back: the block must compute norm1(x + attn(x)), "
                        "not norm1(attn(x))",
    "residual-after-norm": "the input is added after the norm (x + norm(f(x))): add it before, norm(x + f(x))",
    "ffn-residual-missing": "the feed-forward sub-layer has no residual: norm2(x + ff2(relu(ff1(x)))), "
                            "not norm2(ff2(relu(ff1(x))))",
    "ffn-activation": "the feed-forward layer uses GELU; the course's block (like torch's default) uses ReLU "
                      "between ff1 and ff2",
    "no-scaling": "the attention scores are not divided by sqrt(d_head) before the softmax",
    "scale-by-d-feat": "each head must scale its scores by 1/sqrt(d_head) (its own width), not 1/sqrt(d_feat)",
    "softmax-dim": "the softmax normalises over the queries: each attention row must sum to 1 over the keys",
    "mask-polarity": "mask polarity inverted: in this course 1/True means 'may attend'; torch's "
                     "key_padding_mask means the opposite (True = padding), so hand it ~mask",
    "mask-ignored": "the mask is not used: keys where the mask is 0/False must get no weight in any head",
    "layers-fed-raw-input": "every layer reads the encoder's input: each layer must read the previous layer's output",
    "layers-share-weights": "the layers are one module repeated ([layer] * n_layer), so they share their weights: "
                            "build a new EncoderLayer for each position of the ModuleList",
    "mask-first-layer-only": "only the first layer receives the mask: pass it to every layer",
    "patch-column-major": "the patches are numbered top to bottom first (column-major); number them left to "
                          "right, then top to bottom (row-major), as Conv2d + flatten(2) does",
    "patch-channel-last": "each patch is flattened channel-last (P, P, C); flatten it channel-major (C, P, P), "
                          "as the weights of nn.Conv2d(C, d_feat, P, stride=P) are laid out",
    "patch-memory-view": "the image is reshaped into (N, n_patch, C*P*P) without cutting it into squares: "
                         "reshape to (N, C, h, P, w, P) and permute before flattening",
    "patch-flatten-without-transpose": "the Conv2d output (N, d_feat, h, w) is viewed as (N, n_patch, d_feat) "
                                       "without moving the feature axis last: use flatten(2).transpose(1, 2)",
    "cls-token-at-end": "the class token is appended after the patches: prepend it (position 0) and read "
                        "the head from position 0",
    "head-reads-mean": "the head reads the mean of the tokens: it must read the class token, the encoder "
                       "output at position 0",
    "final-norm": "the head reads a LayerNorm of the class token: that final norm belongs to pre-norm ViTs; "
                  "the course's post-norm encoder already ends in norm2, and the head is nn.Linear on x[:, 0]",
    "position-embedding-missing": "no position embedding is added: add self.pos_embedding to the tokens "
                                  "(class token included) before the encoder",
}


def fail_if_diagnosed(name: str | None) -> None:
    """A wrong reference reproduced the student's result: fail with its misconception."""
    if name is not None:
        fail(WHY[name], name)


# -- weights into the student's module --------------------------------------------------------------

def load(model, params: dict[str, torch.Tensor], what: str) -> StudentLayout:
    """Copy course-named parameters into the module the spec names (by attribute path), in the
    first layout the student's module accepts."""
    first: StudentError | None = None
    for layout in StudentLayout.candidates(params):
        try:
            model.load_parameters(layout.student(params))
        except StudentError as exc:
            first = first or exc
            continue
        return layout
    detail = first.detail if first is not None else "unknown layout"
    fail(f"{what}: the hidden weights could not be copied in ({detail}); the spec names the sub-layers "
         "attn.lin_Q/lin_K/lin_V/lin_O, ff1, ff2, norm1, norm2 (layers in self.layers), patch.proj, cls_token, "
         "pos_embedding (nn.Parameter), encoder, head, with the shapes of the spec", "sublayer-names")
    raise AssertionError  # unreachable: fail raises


# -- calling the student's modules -----------------------------------------------------------------

def dims(sizes: tuple[int, int, int, int, int]) -> tuple[int, int, int, int, int]:
    batch, n, n_head, d_head, d_ff = sizes
    return batch, n, n_head, n_head * d_head, d_ff


def make_layer(submission, d_feat: int, n_head: int, d_ff: int, dropout_p: float = 0.0):
    return submission.get("EncoderLayer")(d_feat=d_feat, n_head=n_head, d_ff=d_ff, dropout_p=dropout_p)


def make_encoder(submission, n_layer: int, d_feat: int, n_head: int, d_ff: int, dropout_p: float = 0.0):
    return submission.get("Encoder")(n_layer=n_layer, d_feat=d_feat, n_head=n_head, d_ff=d_ff, dropout_p=dropout_p)


def run_layer(model, x: torch.Tensor, n_head: int, mask: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    result = model(x) if mask is None else model(x, mask=mask)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("EncoderLayer should return a pair (x, attention)", "output-shape")
    out = expect_shape(result[0], tuple(x.shape), "EncoderLayer's output x", "output-shape")
    batch, n, _ = x.shape
    att = expect_shape(result[1], (batch, n_head, n, n), "EncoderLayer's attention", "output-shape")
    return out, att


def run_encoder(model, x: torch.Tensor, n_layer: int, n_head: int, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    result = model(x) if mask is None else model(x, mask=mask)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("Encoder should return a pair (x, list of attention maps)", "output-shape")
    out = expect_shape(result[0], tuple(x.shape), "Encoder's output x", "output-shape")
    maps = result[1]
    if isinstance(maps, torch.Tensor) and maps.dim() == 5 and maps.size(0) == n_layer:
        maps = list(maps.unbind(0))  # the per-layer maps stacked: the same information as the list
    if isinstance(maps, torch.Tensor) or not isinstance(maps, (list, tuple)):
        fail(f"Encoder should return a list of {n_layer} attention maps (one per layer), not a single "
             f"{type(maps).__name__}", "attention-list-last-only")
    batch, n, _ = x.shape
    return out, [expect_shape(m, (batch, n_head, n, n), f"attention map {k}", "output-shape")
                 for k, m in enumerate(maps)]


def padding_mask(batch: int, n: int) -> torch.Tensor:
    """(B, 1, n), course polarity; every row keeps its first key and hides its last."""
    mask = torch.rand(batch, 1, n) < 0.6
    mask[:, :, 0], mask[:, :, -1] = True, False
    return mask


def layer_case(submission, sizes, dropout_p: float = 0.0):
    batch, n, n_head, d_feat, d_ff = dims(sizes)
    layer = random_torch_layer(d_feat, n_head, d_ff)
    params = layer_params(layer)
    model = make_layer(submission, d_feat, n_head, d_ff, dropout_p)
    model.eval()
    load(model, params, "EncoderLayer")
    return layer, params, model, torch.randn(batch, n, d_feat), n_head


def encoder_case(submission, mask: bool = True):
    batch, n, n_head, d_feat, d_ff = dims(ENCODER)
    layers = [random_torch_layer(d_feat, n_head, d_ff) for _ in range(N_LAYER)]
    params = encoder_params(layers)
    model = make_encoder(submission, N_LAYER, d_feat, n_head, d_ff)
    model.eval()
    load(model, params, "Encoder")
    x = torch.randn(batch, n, d_feat)
    return layers, params, model, x, (padding_mask(batch, n) if mask else None), n_head


def make_vit(submission, cfg: VitConfig, dropout_p: float = 0.0):
    return submission.get("VisionTransformer")(**cfg.kwargs(dropout_p))


def vit_logits(model, images: torch.Tensor, n_class: int) -> torch.Tensor:
    return expect_shape(model(images), (images.size(0), n_class), "VisionTransformer's logits", "output-shape")


def vit_case(submission, cfg: VitConfig = VIT):
    params = random_vit_params(cfg)
    model = make_vit(submission, cfg)
    model.eval()
    return params, model, load(model, params, "VisionTransformer")
