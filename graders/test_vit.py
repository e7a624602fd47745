"""Hidden grader for vit: a post-norm Transformer encoder block and a small Vision Transformer.

One test per rubric item. Every hidden call uses fixed sizes where each axis differs from every
other (batch, tokens, heads, head width, features, feed-forward width, layers; images, channels,
patch size, patches per side, classes), so no axis mix-up passes by chance and two students with
the same code get the same grade. References: torch.nn.TransformerEncoderLayer (post-norm, ReLU,
batch_first) with its weights copied into the course's names, nn.Conv2d patchify, and the float64
ViT of seqlab.oracles.vit; a failing item is diagnosed against *wrong* references. Items whose
result only repeats an earlier root cause say so through `depends_on`.

Accepted layouts besides the spec's: `self.attn` may be torch's nn.MultiheadAttention (weights in
in_proj_weight/out_proj), `patch.proj` an nn.Conv2d or an nn.Linear(C*P*P, d_feat), the attention
list a tuple or the maps stacked into one (n_layer, B, n_head, n, n) tensor.
"""

from __future__ import annotations

import pytest
import torch

from seqlab.grading.expect import differs, expect_shape, expect_tensor, fail
from seqlab.grading.remote import StudentError
from seqlab.oracles.tolerance import is_close
from seqlab.oracles.training import PlainAdam
from seqlab.oracles.vit import (
    MASK_SUSPECTS,
    StudentLayout,
    VitConfig,
    conv_patchify,
    diagnose_encoder,
    diagnose_layer,
    diagnose_patches,
    diagnose_vit,
    encoder_params,
    layer_params,
    manual_vit,
    random_conv,
    random_torch_layer,
    random_vit_params,
    torch_encoder_reference,
    torch_layer_reference,
)

STUDENT_API = ("EncoderLayer", "Encoder", "PatchEmbedding", "VisionTransformer")

# (batch, tokens, n_head, d_head, d_ff): d_feat = n_head * d_head; all axes differ
LAYER = (3, 7, 2, 5, 13)
MASKED = (2, 9, 3, 4, 7)
ENCODER = (2, 5, 4, 6, 9)        # with N_LAYER = 3 layers
N_LAYER = 3
# patches: images (2, 3, 20, 20), patch 4 -> 5 x 5 = 25 patches of width 7
PATCH = {"batch": 2, "image_size": 20, "patch_size": 4, "in_channels": 3, "d_feat": 7}
VIT = VitConfig(image_size=20, patch_size=4, in_channels=3, n_class=7, n_layer=2, d_feat=72, n_head=8, d_ff=11)
VIT_BATCH = 6
TRAIN = VitConfig(image_size=21, patch_size=7, in_channels=1, n_class=4, n_layer=2, d_feat=30, n_head=5, d_ff=24)
TRAIN_BATCH, TRAIN_STEPS, TRAIN_LR = 32, 12, 1e-2
GRAD = VitConfig(image_size=12, patch_size=4, in_channels=1, n_class=7, n_layer=2, d_feat=30, n_head=5, d_ff=13)
GRAD_BATCH = 11
GRAD_TOL = {"atol": 1e-4, "rtol": 1e-3}

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


# -- weights into the student's module --------------------------------------------------------------

def _load(model, params: dict[str, torch.Tensor], what: str) -> StudentLayout:
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

def _dims(sizes: tuple[int, int, int, int, int]) -> tuple[int, int, int, int, int]:
    batch, n, n_head, d_head, d_ff = sizes
    return batch, n, n_head, n_head * d_head, d_ff


def _layer(submission, d_feat: int, n_head: int, d_ff: int, dropout_p: float = 0.0):
    return submission.get("EncoderLayer")(d_feat=d_feat, n_head=n_head, d_ff=d_ff, dropout_p=dropout_p)


def _encoder(submission, n_layer: int, d_feat: int, n_head: int, d_ff: int, dropout_p: float = 0.0):
    return submission.get("Encoder")(n_layer=n_layer, d_feat=d_feat, n_head=n_head, d_ff=d_ff, dropout_p=dropout_p)


def _run_layer(model, x: torch.Tensor, n_head: int, mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    result = model(x) if mask is None else model(x, mask=mask)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("EncoderLayer should return a pair (x, attention)", "output-shape")
    out = expect_shape(result[0], tuple(x.shape), "EncoderLayer's output x", "output-shape")
    batch, n, _ = x.shape
    att = expect_shape(result[1], (batch, n_head, n, n), "EncoderLayer's attention", "output-shape")
    return out, att


def _run_encoder(model, x: torch.Tensor, n_layer: int, n_head: int, mask: torch.Tensor | None = None
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


def _padding_mask(batch: int, n: int) -> torch.Tensor:
    """(B, 1, n), course polarity; every row keeps its first key and hides its last."""
    mask = torch.rand(batch, 1, n) < 0.6
    mask[:, :, 0], mask[:, :, -1] = True, False
    return mask


def _layer_case(submission, sizes, dropout_p: float = 0.0):
    batch, n, n_head, d_feat, d_ff = _dims(sizes)
    layer = random_torch_layer(d_feat, n_head, d_ff)
    params = layer_params(layer)
    model = _layer(submission, d_feat, n_head, d_ff, dropout_p)
    model.eval()
    _load(model, params, "EncoderLayer")
    return layer, params, model, torch.randn(batch, n, d_feat), n_head


# -- EncoderLayer ------------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="output-shape")
def test_encoder_layer_keeps_shapes(submission):
    batch, n, n_head, d_feat, d_ff = _dims(LAYER)
    model = _layer(submission, d_feat, n_head, d_ff)
    model.eval()
    for b, length in ((batch, n), (1, n + 1)):
        _run_layer(model, torch.randn(b, length, d_feat), n_head)


@pytest.mark.rubric(points=1, misconception="sublayer-names")
def test_encoder_layer_names_its_sublayers(submission):
    _layer_case(submission, LAYER)


@pytest.mark.rubric(points=3, misconception="wrong-output",
                    depends_on=("encoder_layer_keeps_shapes", "encoder_layer_names_its_sublayers"))
def test_encoder_layer_matches_torch_post_norm_layer(submission):
    layer, params, model, x, n_head = _layer_case(submission, LAYER)
    out, att = _run_layer(model, x, n_head)
    ref, att_ref = torch_layer_reference(layer, x)
    if is_close(out, ref) and is_close(att, att_ref):
        return
    name = diagnose_layer(out, att, params, n_head, x)
    if name is not None:
        fail(WHY[name], name)
    if not is_close(att, att_ref):
        differs("the attention map differs from torch.nn.TransformerEncoderLayer's self-attention on the "
                "same input (softmax(Q K^T / sqrt(d_head)) per head)", "wrong-output")
    differs("the attention map matches torch's, but the layer's output differs from "
            "torch.nn.TransformerEncoderLayer(norm_first=False): x = norm1(x + attn), then "
            "x = norm2(x + ff2(relu(ff1(x))))", "wrong-output")


@pytest.mark.rubric(points=2, misconception="mask-polarity", depends_on=("encoder_layer_matches_torch_post_norm_layer",))
def test_encoder_layer_padding_mask_keeps_ones(submission):
    layer, params, model, x, n_head = _layer_case(submission, MASKED)
    mask = _padding_mask(x.size(0), x.size(1))
    out, att = _run_layer(model, x, n_head, mask)
    ref, att_ref = torch_layer_reference(layer, x, mask)
    if is_close(out, ref) and is_close(att, att_ref):
        return
    name = diagnose_layer(out, att, params, n_head, x, mask, MASK_SUSPECTS)
    if name is not None:
        fail(WHY[name], name)
    differs("with a (B, 1, n) key-padding mask the output differs from torch's layer given "
            "src_key_padding_mask = ~mask", "wrong-output")


@pytest.mark.rubric(points=1, misconception="dropout-in-eval", depends_on=("encoder_layer_matches_torch_post_norm_layer",))
def test_encoder_layer_dropout_inactive_in_eval(submission):
    layer, _, model, x, n_head = _layer_case(submission, LAYER, dropout_p=0.5)
    ref, _ = torch_layer_reference(layer, x)
    submission.seed(11)
    first, _ = _run_layer(model, x, n_head)
    second, _ = _run_layer(model, x, n_head)
    if not torch.equal(first, second):
        fail("in eval() mode dropout must do nothing: use nn.Dropout modules (or F.dropout(..., "
             "training=self.training)); two calls gave different outputs", "dropout-in-eval")
    if not is_close(first, ref):
        differs("with dropout_p=0.5 in eval() mode the output differs from torch's layer", "wrong-output")


@pytest.mark.rubric(points=1, misconception="dropout-missing", depends_on=("encoder_layer_keeps_shapes",))
def test_encoder_layer_dropout_active_in_train_attention_before_it(submission):
    batch, n, n_head, d_feat, d_ff = _dims(LAYER)
    params = layer_params(random_torch_layer(d_feat, n_head, d_ff))
    x = torch.randn(batch, n + 5, d_feat)
    plain = _layer(submission, d_feat, n_head, d_ff, 0.0)
    plain.eval()
    noisy = _layer(submission, d_feat, n_head, d_ff, 0.5)
    noisy.train()
    for model in (plain, noisy):
        _load(model, params, "EncoderLayer")
    out_ref, att_ref = _run_layer(plain, x, n_head)
    submission.seed(12)
    out, att = _run_layer(noisy, x, n_head)
    if is_close(out, out_ref):
        fail("with dropout_p=0.5 in train() mode the output is unchanged: apply dropout (nn.Dropout) to the "
             "attention weights and to each sub-layer's output before the residual add", "dropout-missing")
    if not is_close(att, att_ref):
        fail("the attention returned in train() mode is not the map before dropout: return the softmax "
             "weights, and apply dropout only where they multiply V (nn.MultiheadAttention returns its "
             "weights after its own dropout)", "attention-after-dropout")


# -- Encoder -----------------------------------------------------------------------------------------

def _encoder_case(submission, mask: bool = True):
    batch, n, n_head, d_feat, d_ff = _dims(ENCODER)
    layers = [random_torch_layer(d_feat, n_head, d_ff) for _ in range(N_LAYER)]
    params = encoder_params(layers)
    model = _encoder(submission, N_LAYER, d_feat, n_head, d_ff)
    model.eval()
    _load(model, params, "Encoder")
    x = torch.randn(batch, n, d_feat)
    return layers, params, model, x, (_padding_mask(batch, n) if mask else None), n_head


@pytest.mark.rubric(points=2, misconception="wrong-output",
                    depends_on=("encoder_layer_matches_torch_post_norm_layer", "encoder_layer_padding_mask_keeps_ones"))
def test_encoder_chains_its_layers_in_order(submission):
    layers, params, model, x, mask, n_head = _encoder_case(submission)
    out, _ = _run_encoder(model, x, N_LAYER, n_head, mask)
    ref, _ = torch_encoder_reference(layers, x, mask)
    if is_close(out, ref):
        return
    name = diagnose_encoder(out, params, N_LAYER, n_head, x, mask)
    if name is not None:
        fail(WHY[name], name)
    differs(f"the output of {N_LAYER} layers differs from torch's layers applied one after the other, "
            "each on the previous layer's output", "wrong-output")


@pytest.mark.rubric(points=2, misconception="attention-list", depends_on=("encoder_chains_its_layers_in_order",))
def test_encoder_returns_one_attention_map_per_layer_first_layer_first(submission):
    layers, _, model, x, _, n_head = _encoder_case(submission, mask=False)
    _, maps = _run_encoder(model, x, N_LAYER, n_head)
    _, refs = torch_encoder_reference(layers, x)
    if len(maps) != N_LAYER:
        if len(maps) == 1:
            fail(f"the attention list holds one map for {N_LAYER} layers: append every layer's map inside "
                 "the loop", "attention-list-last-only")
        fail(f"the attention list has {len(maps)} maps for {N_LAYER} layers: one per layer", "attention-list")
    if all(is_close(m, r) for m, r in zip(maps, refs)):
        return
    if all(is_close(m, refs[-1]) for m in maps):
        fail("every entry of the attention list is the last layer's map: append each layer's own map "
             "inside the loop (a new tensor per layer)", "attention-list-last-only")
    if all(is_close(m, r) for m, r in zip(maps, reversed(refs))):
        fail("the attention list is in reverse order: the first layer's map comes first", "attention-list-order")
    differs("the attention maps differ from each torch layer's self-attention on that layer's input", "attention-list")


@pytest.mark.rubric(points=1, misconception="attention-after-dropout",
                    depends_on=("encoder_returns_one_attention_map_per_layer_first_layer_first",
                                "encoder_layer_dropout_active_in_train_attention_before_it"))
def test_encoder_attention_maps_are_taken_before_dropout(submission):
    batch, n, n_head, d_feat, d_ff = _dims(ENCODER)
    model = _encoder(submission, N_LAYER, d_feat, n_head, d_ff, dropout_p=0.5)
    model.train()
    submission.seed(13)
    _, maps = _run_encoder(model, torch.randn(batch, n, d_feat), N_LAYER, n_head)
    if len(maps) != N_LAYER:
        differs(f"the attention list has {len(maps)} maps for {N_LAYER} layers", "attention-list")
    for k, m in enumerate(maps):
        if not is_close(m.sum(-1), torch.ones(m.shape[:-1])):
            fail(f"in train() mode the rows of attention map {k} do not sum to 1: the list must hold the "
                 "softmax weights before dropout", "attention-after-dropout")


# -- PatchEmbedding ------------------------------------------------------------------------------------

@pytest.mark.rubric(points=2, misconception="patch-embedding")
def test_patch_embedding_matches_conv_patchify_row_major(submission):
    batch, size, patch, channels, d_feat = (PATCH[k] for k in ("batch", "image_size", "patch_size",
                                                               "in_channels", "d_feat"))
    conv = random_conv(channels, d_feat, patch)
    model = submission.get("PatchEmbedding")(image_size=size, patch_size=patch, in_channels=channels, d_feat=d_feat)
    _load(model, {"proj.weight": conv.weight.detach(), "proj.bias": conv.bias.detach()}, "PatchEmbedding")
    images = torch.randn(batch, channels, size, size)
    n_patch = (size // patch) ** 2
    out = expect_shape(model(images), (batch, n_patch, d_feat), "PatchEmbedding's output", "output-shape")
    ref = conv_patchify(conv, images)
    if is_close(out, ref):
        return
    name = diagnose_patches(out, conv.weight.detach(), conv.bias.detach(), images)
    if name is not None:
        fail(WHY[name], name)
    differs("the patch embeddings differ from nn.Conv2d(C, d_feat, P, stride=P) followed by "
            "flatten(2).transpose(1, 2)", "patch-embedding")


@pytest.mark.rubric(points=1, misconception="patch-size-unchecked")
def test_patch_embedding_rejects_indivisible_image_size(submission):
    size, patch, channels, d_feat = 18, PATCH["patch_size"], PATCH["in_channels"], PATCH["d_feat"]
    what = f"PatchEmbedding(image_size={size}, patch_size={patch})"
    patch_embedding = submission.get("PatchEmbedding")
    try:  # at construction or at the first forward call
        model = patch_embedding(image_size=size, patch_size=patch, in_channels=channels, d_feat=d_feat)
        model(torch.randn(PATCH["batch"], channels, size, size))
    except StudentError as exc:
        if exc.is_a("ValueError"):
            return
        raise  # any other crash is reported as what it is
    fail(f"{what} should raise ValueError ({size} is not a multiple of {patch}), but nothing was raised",
         "patch-size-unchecked")


# -- VisionTransformer -------------------------------------------------------------------------------

def _vit(submission, cfg: VitConfig, dropout_p: float = 0.0):
    return submission.get("VisionTransformer")(**cfg.kwargs(dropout_p))


def _logits(model, images: torch.Tensor, n_class: int) -> torch.Tensor:
    return expect_shape(model(images), (images.size(0), n_class), "VisionTransformer's logits", "output-shape")


def _vit_case(submission, cfg: VitConfig = VIT):
    params = random_vit_params(cfg)
    model = _vit(submission, cfg)
    model.eval()
    return params, model, _load(model, params, "VisionTransformer")


@pytest.mark.rubric(points=3, misconception="wrong-output",
                    depends_on=("encoder_chains_its_layers_in_order", "patch_embedding_matches_conv_patchify_row_major"))
def test_vision_transformer_reads_the_class_token_at_position_0(submission):
    params, model, _ = _vit_case(submission)
    images = torch.randn(VIT_BATCH, VIT.in_channels, VIT.image_size, VIT.image_size)
    logits = _logits(model, images, VIT.n_class)
    with torch.no_grad():
        ref = manual_vit(params, VIT, images)
    if is_close(logits, ref):
        return
    name = diagnose_vit(logits, params, VIT, images)
    if name is not None:
        fail(WHY[name], name)
    differs("the logits differ from head(encoder(cat[cls_token, patches] + pos_embedding)[:, 0])", "wrong-output")


@pytest.mark.rubric(points=1, misconception="output-shape",
                    depends_on=("vision_transformer_reads_the_class_token_at_position_0",))
def test_vision_transformer_handles_any_batch_size(submission):
    _, model, _ = _vit_case(submission)
    images = torch.randn(VIT_BATCH + 4, VIT.in_channels, VIT.image_size, VIT.image_size)  # 10: no other axis
    together = _logits(model, images, VIT.n_class)
    alone = _logits(model, images[2:3], VIT.n_class)
    if not is_close(alone[0], together[2]):
        differs("an image's logits change with the other images of the batch (or a batch of one): "
                "expand the class token to the batch (cls_token.expand(N, -1, -1))", "output-shape")


@pytest.mark.rubric(points=2, misconception="no-gradient",
                    depends_on=("vision_transformer_reads_the_class_token_at_position_0",))
def test_vision_transformer_gradients_match_the_reference(submission):
    params, model, loaded = _vit_case(submission, GRAD)
    model.train()  # dropout_p = 0: train mode is deterministic
    images = torch.randn(GRAD_BATCH, GRAD.in_channels, GRAD.image_size, GRAD.image_size)
    upstream = torch.randn(GRAD_BATCH, GRAD.n_class)
    result = model.keep(images)
    logits = expect_tensor(result.fetch(), "VisionTransformer's logits")
    leaves = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    ref = manual_vit(leaves, GRAD, images)
    if not is_close(logits, ref.detach()):
        differs("the logits differ from the reference, so their gradients cannot match", "wrong-output")
    try:
        result.backward(upstream)
    except StudentError as exc:
        fail(f"back-propagating from the logits failed ({exc.type_name}): keep every step in torch "
             "operations (no .detach(), .data, numpy or torch.no_grad())", "no-gradient")
    ref.backward(upstream.double())
    grads = loaded.course(model.gradients_at(list(loaded.names)))
    for name, leaf in leaves.items():
        grad = grads.get(name)
        if not isinstance(grad, torch.Tensor) or not bool(grad.abs().sum() > 0):
            fail(f"no gradient reaches {name}: it must be an nn.Parameter used in forward without "
                 ".detach() or .data", "no-gradient")
        if not is_close(grad, leaf.grad, **GRAD_TOL):
            fail(f"the gradient of {name} differs from the reference's for the same inputs and upstream "
                 "gradient: something in forward is detached or computed outside autograd", "no-gradient")


def _quadrants(n: int, cfg: VitConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Which quadrant of a noisy image is bright: 4 classes, needs the positions of the patches."""
    labels = torch.randint(0, 4, (n,), generator=generator)
    images = 0.5 * torch.randn(n, cfg.in_channels, cfg.image_size, cfg.image_size, generator=generator)
    half = cfg.image_size // 2
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 2)
        images[i, :, row * half:(row + 1) * half, col * half:(col + 1) * half] += 1.0
    return images, labels


@pytest.mark.rubric(points=2, misconception="vit-not-learning",
                    depends_on=("vision_transformer_reads_the_class_token_at_position_0",
                                "vision_transformer_gradients_match_the_reference"))
def test_vision_transformer_learns_a_synthetic_image_task(submission):
    generator = torch.Generator().manual_seed(2024)
    submission.seed(14)
    params = random_vit_params(TRAIN)
    model = _vit(submission, TRAIN, dropout_p=0.1)
    loaded = _load(model, params, "VisionTransformer")
    model.train()
    names = list(loaded.names)
    trusted = {n: p.clone() for n, p in loaded.student(params).items()}
    optimizer = PlainAdam(trusted, TRAIN_LR)
    zero_grad = model.zero_grad
    for _ in range(TRAIN_STEPS):
        images, labels = _quadrants(TRAIN_BATCH, TRAIN, generator)
        zero_grad()
        result = model.keep(images)
        logits = expect_shape(result.fetch(), (TRAIN_BATCH, TRAIN.n_class), "VisionTransformer's logits",
                              "output-shape").double()
        grad = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(labels, TRAIN.n_class)) / TRAIN_BATCH
        result.backward(grad.float())
        optimizer.step(model.gradients_at(names))
        model.load_parameters(trusted)
    model.eval()
    images, labels = _quadrants(256, TRAIN, generator)
    accuracy = float((_logits(model, images, TRAIN.n_class).argmax(1) == labels).double().mean())
    if accuracy < 0.6:
        differs(f"after {TRAIN_STEPS} Adam steps on a 4-class image task (which quadrant is bright) the ViT "
                f"reached {accuracy:.0%} accuracy (chance 25%, a correct ViT > 85%)", "vit-not-learning")
