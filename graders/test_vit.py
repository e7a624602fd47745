"""Hidden grader for vit: a post-norm Transformer encoder block and a small Vision Transformer.

One test per rubric item; the checks they call live with the oracles (seqlab.oracles.vit_checks:
the hidden sizes, where every axis differs from every other, weights copied into the student's
modules, results checked for their shapes; seqlab.oracles.vit_training: gradients and the seeded
training run, whose update happens on the trusted side). References: torch.nn.TransformerEncoderLayer
(post-norm, ReLU, batch_first) with its weights copied into the course's names, nn.Conv2d patchify,
and the float64 ViT of seqlab.oracles.vit; a failing item is diagnosed against *wrong* references.
Items whose result only repeats an earlier root cause say so through `depends_on`.

Accepted layouts besides the spec's: `self.attn` may be torch's nn.MultiheadAttention (weights in
in_proj_weight/out_proj), `patch.proj` an nn.Conv2d or an nn.Linear(C*P*P, d_feat), the attention
list a tuple or the maps stacked into one (n_layer, B, n_head, n, n) tensor.
"""

from __future__ import annotations

import pytest
import torch

from seqlab.grading.expect import differs, expect_shape, fail
from seqlab.grading.remote import StudentError
from seqlab.oracles.tolerance import is_close
from seqlab.oracles.vit import (
    conv_patchify,
    layer_params,
    manual_vit,
    random_conv,
    random_torch_layer,
    torch_encoder_reference,
    torch_layer_reference,
)
from seqlab.oracles.vit_checks import (
    ENCODER,
    LAYER,
    MASKED,
    N_LAYER,
    PATCH,
    VIT,
    VIT_BATCH,
    dims,
    encoder_case,
    fail_if_diagnosed,
    layer_case,
    load,
    make_encoder,
    make_layer,
    padding_mask,
    run_encoder,
    run_layer,
    vit_case,
    vit_logits,
)
from seqlab.oracles.vit_diagnosis import (
    MASK_SUSPECTS,
    diagnose_encoder,
    diagnose_layer,
    diagnose_patches,
    diagnose_vit,
)
from seqlab.oracles.vit_training import (
    TRAIN_STEPS,
    expect_gradients_like_reference,
    trained_accuracy,
)

STUDENT_API = ("EncoderLayer", "Encoder", "PatchEmbedding", "VisionTransformer")


# -- EncoderLayer ------------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="output-shape")
def test_encoder_layer_keeps_shapes(submission):
    batch, n, n_head, d_feat, d_ff = dims(LAYER)
    model = make_layer(submission, d_feat, n_head, d_ff)
    model.eval()
    for b, length in ((batch, n), (1, n + 1)):
        run_layer(model, torch.randn(b, length, d_feat), n_head)


@pytest.mark.rubric(points=1, misconception="sublayer-names")
def test_encoder_layer_names_its_sublayers(submission):
    layer_case(submission, LAYER)


@pytest.mark.rubric(points=3, misconception="wrong-output",
                    depends_on=("encoder_layer_keeps_shapes", "encoder_layer_names_its_sublayers"))
def test_encoder_layer_matches_torch_post_norm_layer(submission):
    layer, params, model, x, n_head = layer_case(submission, LAYER)
    out, att = run_layer(model, x, n_head)
    ref, att_ref = torch_layer_reference(layer, x)
    if is_close(out, ref) and is_close(att, att_ref):
        return
    name = diagnose_layer(out, att, params, n_head, x)
    fail_if_diagnosed(name)
    if not is_close(att, att_ref):
        differs("the attention map differs from torch.nn.TransformerEncoderLayer's self-attention on the "
                "same input (softmax(Q K^T / sqrt(d_head)) per head)", "wrong-output")
    differs("the attention map matches torch's, but the layer's output differs from "
            "torch.nn.TransformerEncoderLayer(norm_first=False): x = norm1(x + attn), then "
            "x = norm2(x + ff2(relu(ff1(x))))", "wrong-output")


@pytest.mark.rubric(points=2, misconception="mask-polarity", depends_on=("encoder_layer_matches_torch_post_norm_layer",))
def test_encoder_layer_padding_mask_keeps_ones(submission):
    layer, params, model, x, n_head = layer_case(submission, MASKED)
    mask = padding_mask(x.size(0), x.size(1))
    out, att = run_layer(model, x, n_head, mask)
    ref, att_ref = torch_layer_reference(layer, x, mask)
    if is_close(out, ref) and is_close(att, att_ref):
        return
    name = diagnose_layer(out, att, params, n_head, x, mask, MASK_SUSPECTS)
    fail_if_diagnosed(name)
    differs("with a (B, 1, n) key-padding mask the output differs from torch's layer given "
            "src_key_padding_mask = ~mask", "wrong-output")


@pytest.mark.rubric(points=1, misconception="dropout-in-eval", depends_on=("encoder_layer_matches_torch_post_norm_layer",))
def test_encoder_layer_dropout_inactive_in_eval(submission):
    layer, _, model, x, n_head = layer_case(submission, LAYER, dropout_p=0.5)
    ref, _ = torch_layer_reference(layer, x)
    submission.seed(11)
    first, _ = run_layer(model, x, n_head)
    second, _ = run_layer(model, x, n_head)
    if not torch.equal(first, second):
        fail("in eval() mode dropout must do nothing: use nn.Dropout modules (or F.dropout(..., "
             "training=self.training)); two calls gave different outputs", "dropout-in-eval")
    if not is_close(first, ref):
        differs("with dropout_p=0.5 in eval() mode the output differs from torch's layer", "wrong-output")


@pytest.mark.rubric(points=1, misconception="dropout-missing", depends_on=("encoder_layer_keeps_shapes",))
def test_encoder_layer_dropout_active_in_train_attention_before_it(submission):
    batch, n, n_head, d_feat, d_ff = dims(LAYER)
    params = layer_params(random_torch_layer(d_feat, n_head, d_ff))
    x = torch.randn(batch, n + 5, d_feat)
    plain = make_layer(submission, d_feat, n_head, d_ff, 0.0)
    plain.eval()
    noisy = make_layer(submission, d_feat, n_head, d_ff, 0.5)
    noisy.train()
    for model in (plain, noisy):
        load(model, params, "EncoderLayer")
    out_ref, att_ref = run_layer(plain, x, n_head)
    submission.seed(12)
    out, att = run_layer(noisy, x, n_head)
    if is_close(out, out_ref):
        fail("with dropout_p=0.5 in train() mode the output is unchanged: apply dropout (nn.Dropout) to the "
             "attention weights and to each sub-layer's output before the residual add", "dropout-missing")
    if not is_close(att, att_ref):
        fail("the attention returned in train() mode is not the map before dropout: return the softmax "
             "weights, and apply dropout only where they multiply V (nn.MultiheadAttention returns its "
             "weights after its own dropout)", "attention-after-dropout")


# -- Encoder -----------------------------------------------------------------------------------------

@pytest.mark.rubric(points=2, misconception="wrong-output",
                    depends_on=("encoder_layer_matches_torch_post_norm_layer", "encoder_layer_padding_mask_keeps_ones"))
def test_encoder_chains_its_layers_in_order(submission):
    layers, params, model, x, mask, n_head = encoder_case(submission)
    out, _ = run_encoder(model, x, N_LAYER, n_head, mask)
    ref, _ = torch_encoder_reference(layers, x, mask)
    if is_close(out, ref):
        return
    name = diagnose_encoder(out, params, N_LAYER, n_head, x, mask)
    fail_if_diagnosed(name)
    differs(f"the output of {N_LAYER} layers differs from torch's layers applied one after the other, "
            "each on the previous layer's output", "wrong-output")


@pytest.mark.rubric(points=2, misconception="attention-list", depends_on=("encoder_chains_its_layers_in_order",))
def test_encoder_returns_one_attention_map_per_layer_first_layer_first(submission):
    layers, _, model, x, _, n_head = encoder_case(submission, mask=False)
    _, maps = run_encoder(model, x, N_LAYER, n_head)
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
    batch, n, n_head, d_feat, d_ff = dims(ENCODER)
    model = make_encoder(submission, N_LAYER, d_feat, n_head, d_ff, dropout_p=0.5)
    model.train()
    submission.seed(13)
    _, maps = run_encoder(model, torch.randn(batch, n, d_feat), N_LAYER, n_head)
    if len(maps) != N_LAYER:
        differs(f"the attention list has {len(maps)} maps for {N_LAYER} layers", "attention-list")
    for k, m in enumerate(maps):
        if not is_close(m.sum(-1), torch.ones(m.shape[:-1])):
            fail(f"in train() mode the rows of attention map {k} do not sum to 1: the list must hold the "
                 "softmax weights before dropout", "attention-after-dropout")


# -- PatchEmbedding ----------------------------------------------------------------------------------

@pytest.mark.rubric(points=2, misconception="patch-embedding")
def test_patch_embedding_matches_conv_patchify_row_major(submission):
    batch, size, patch, channels, d_feat = (PATCH[k] for k in ("batch", "image_size", "patch_size",
                                                               "in_channels", "d_feat"))
    conv = random_conv(channels, d_feat, patch)
    model = submission.get("PatchEmbedding")(image_size=size, patch_size=patch, in_channels=channels, d_feat=d_feat)
    load(model, {"proj.weight": conv.weight.detach(), "proj.bias": conv.bias.detach()}, "PatchEmbedding")
    images = torch.randn(batch, channels, size, size)
    n_patch = (size // patch) ** 2
    out = expect_shape(model(images), (batch, n_patch, d_feat), "PatchEmbedding's output", "output-shape")
    ref = conv_patchify(conv, images)
    if is_close(out, ref):
        return
    name = diagnose_patches(out, conv.weight.detach(), conv.bias.detach(), images)
    fail_if_diagnosed(name)
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

@pytest.mark.rubric(points=3, misconception="wrong-output",
                    depends_on=("encoder_chains_its_layers_in_order", "patch_embedding_matches_conv_patchify_row_major"))
def test_vision_transformer_reads_the_class_token_at_position_0(submission):
    params, model, _ = vit_case(submission)
    images = torch.randn(VIT_BATCH, VIT.in_channels, VIT.image_size, VIT.image_size)
    logits = vit_logits(model, images, VIT.n_class)
    with torch.no_grad():
        ref = manual_vit(params, VIT, images)
    if is_close(logits, ref):
        return
    name = diagnose_vit(logits, params, VIT, images)
    fail_if_diagnosed(name)
    differs("the logits differ from head(encoder(cat[cls_token, patches] + pos_embedding)[:, 0])", "wrong-output")


@pytest.mark.rubric(points=1, misconception="output-shape",
                    depends_on=("vision_transformer_reads_the_class_token_at_position_0",))
def test_vision_transformer_handles_any_batch_size(submission):
    _, model, _ = vit_case(submission)
    images = torch.randn(VIT_BATCH + 4, VIT.in_channels, VIT.image_size, VIT.image_size)  # 10: no other axis
    together = vit_logits(model, images, VIT.n_class)
    alone = vit_logits(model, images[2:3], VIT.n_class)
    if not is_close(alone[0], together[2]):
        differs("an image's logits change with the other images of the batch (or a batch of one): "
                "expand the class token to the batch (cls_token.expand(N, -1, -1))", "output-shape")


@pytest.mark.rubric(points=2, misconception="no-gradient",
                    depends_on=("vision_transformer_reads_the_class_token_at_position_0",))
def test_vision_transformer_gradients_match_the_reference(submission):
    expect_gradients_like_reference(submission)


@pytest.mark.rubric(points=2, misconception="vit-not-learning",
                    depends_on=("vision_transformer_reads_the_class_token_at_position_0",
                                "vision_transformer_gradients_match_the_reference"))
def test_vision_transformer_learns_a_synthetic_image_task(submission):
    generator = torch.Generator().manual_seed(2024)
    submission.seed(14)
    accuracy = trained_accuracy(submission, generator)
    if accuracy < 0.6:
        differs(f"after {TRAIN_STEPS} Adam steps on a 4-class image task (which quadrant is bright) the ViT "
                f"reached {accuracy:.0%} accuracy (chance 25%, a correct ViT > 85%)", "vit-not-learning")
