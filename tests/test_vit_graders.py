"""The vit graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only vit requires: the oracles equal
torch's own modules, every wrong oracle is distinguishable, and each of our own submissions has
the verdict it claims, checked against torch in this process."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from grader_proofs import (  # noqa: F401 -- one_torch_thread is a fixture
    GraderProof,
    ProofClass,
    import_submission,
    misconception_of,
    one_torch_thread,
)

from seqlab.oracles.tolerance import is_close
from seqlab.oracles.vit import (
    VitConfig,
    conv_patchify,
    encoder_params,
    layer_params,
    manual_encoder,
    manual_layer,
    manual_vit,
    patch_embed,
    random_conv,
    random_torch_layer,
    random_vit_params,
    torch_encoder_reference,
    torch_layer_reference,
)
from seqlab.oracles.vit_diagnosis import (
    ENCODER_SUSPECTS,
    LAYER_SUSPECTS,
    MASK_SUSPECTS,
    PATCH_SUSPECTS,
    VIT_SUSPECTS,
)
from seqlab.oracles.vit_layout import StudentLayout
from seqlab.sandbox.dispatcher import resolve_parameter

PROOF = ProofClass("vit")
REQUIRED_MUTANTS = ("pre-norm", "residual-missing", "residual-after-norm", "ffn-residual-missing",
                    "attention-after-dropout", "attention-list-last-only", "patch-column-major",
                    "patch-channel-last", "cls-token-at-end", "head-reads-mean", "position-embedding-missing",
                    "mask-polarity")
CFG = VitConfig(image_size=12, patch_size=4, in_channels=2, n_class=5, n_layer=2, d_feat=18, n_head=6, d_ff=7)


class TestVitGraderProof(GraderProof):
    assignment = "vit"


def test_the_class_has_every_required_mutant_and_5_correct_styles():
    assert set(REQUIRED_MUTANTS) <= {misconception_of(path) for path in PROOF.bugs}
    assert len(PROOF.bugs) >= 12 and len(PROOF.styles) >= 5


# -- the oracles are torch's modules; the wrong ones are all distinguishable ------------------------

def _mask(batch: int, n: int) -> torch.Tensor:
    mask = torch.rand(batch, 1, n) < 0.6
    mask[:, :, 0], mask[:, :, -1] = True, False
    return mask


@pytest.mark.parametrize("masked", [False, True])
def test_manual_encoder_equals_torch_layers_applied_in_order(masked):
    layers = [random_torch_layer(12, 3, 7) for _ in range(2)]
    x = torch.randn(2, 9, 12).double()
    mask = _mask(2, 9) if masked else None
    out, maps = manual_encoder(encoder_params(layers), 2, 3, x, mask)
    ref, ref_maps = torch_encoder_reference(layers, x, mask)
    assert is_close(out, ref) and all(is_close(m, r) for m, r in zip(maps, ref_maps))


def test_masked_torch_reference_equals_torch_given_the_key_padding_mask():
    """torch_layer_reference hands torch the course mask as an attention mask (no sympy import in the
    grading worker): the same output and maps as torch's own src_key_padding_mask = ~mask."""
    layer = random_torch_layer(12, 3, 7)
    x, mask = torch.randn(2, 9, 12).double(), _mask(2, 9)
    padding = ~mask.reshape(2, 9)
    with torch.no_grad():
        expected = layer(x, src_key_padding_mask=padding)
        _, maps = layer.self_attn(x, x, x, key_padding_mask=padding, need_weights=True, average_attn_weights=False)
    out, attention = torch_layer_reference(layer, x, mask)
    assert is_close(out, expected) and is_close(attention, maps)


def test_patch_oracle_equals_conv2d_patchify():
    conv = random_conv(3, 7, 4)
    images = torch.randn(2, 3, 20, 20).double()
    assert is_close(patch_embed(conv.weight, conv.bias, images), conv_patchify(conv, images))


def _distinct(outputs: dict[str, torch.Tensor]) -> list[tuple[str, str]]:
    return [(a, b) for (a, x), (b, y) in itertools.combinations(outputs.items(), 2) if is_close(x, y)]


def test_every_wrong_oracle_differs_from_the_right_one_and_from_each_other():
    layer = random_torch_layer(12, 3, 7)
    params = layer_params(layer)
    x = torch.randn(2, 9, 12).double()
    mask = _mask(2, 9)
    suspects = {f"{name}:{v}": manual_layer(params, 3, x, mask, v)[0] for name, v in LAYER_SUSPECTS + MASK_SUSPECTS}
    suspects["right"] = manual_layer(params, 3, x, mask)[0]
    assert _distinct(suspects) == []
    chained = encoder_params([layer, random_torch_layer(12, 3, 7)])
    encoders = {name: manual_encoder(chained, 2, 3, x, mask, v)[0] for name, v in ENCODER_SUSPECTS}
    encoders["right"] = manual_encoder(chained, 2, 3, x, mask)[0]
    assert _distinct(encoders) == []
    conv, images = random_conv(3, 7, 4), torch.randn(2, 3, 20, 20).double()
    patches = {name: patch_embed(conv.weight, conv.bias, images, order) for name, order in PATCH_SUSPECTS}
    patches["right"] = patch_embed(conv.weight, conv.bias, images)
    assert _distinct(patches) == []
    vit = random_vit_params(CFG)
    images = torch.randn(3, 2, 12, 12)
    with torch.no_grad():
        vits = {f"{name}:{v}": manual_vit(vit, CFG, images, v) for name, v in VIT_SUSPECTS}
        vits["right"] = manual_vit(vit, CFG, images)
    assert _distinct(vits) == []


# -- each of our own submissions has the verdict it claims, checked against torch here -------------

def _load(module: torch.nn.Module, params: dict[str, torch.Tensor]) -> StudentLayout:
    for layout in StudentLayout.candidates(params):
        values = layout.student(params)
        targets = {n: resolve_parameter(module, n) for n in values}
        if all(t is not None and t.shape == values[n].shape for n, t in targets.items()):
            with torch.no_grad():
                for name, target in targets.items():
                    target.copy_(values[name])
            return layout
    raise AssertionError("the spec's names cannot be loaded")


def _layer_disagrees(module) -> str | None:
    torch_layer = random_torch_layer(12, 3, 7)
    mine = module.EncoderLayer(d_feat=12, n_head=3, d_ff=7, dropout_p=0.5).eval()
    _load(mine, layer_params(torch_layer))
    x = torch.randn(2, 9, 12)
    for mask in (None, _mask(2, 9)):
        out, att = mine(x) if mask is None else mine(x, mask=mask)
        ref, att_ref = torch_layer_reference(torch_layer, x, mask)
        if not (is_close(out, ref) and is_close(att, att_ref)):
            return f"EncoderLayer (mask={mask is not None}) differs from torch's layer"
    ref, att_ref = torch_layer_reference(torch_layer, x)
    mine.train()
    out, att = mine(x)
    if is_close(out, ref) or not is_close(att, att_ref):
        return "EncoderLayer in train(): dropout missing or the map taken after it"
    return None


def _encoder_disagrees(module) -> str | None:
    layers = [random_torch_layer(12, 3, 7) for _ in range(3)]
    mine = module.Encoder(n_layer=3, d_feat=12, n_head=3, d_ff=7, dropout_p=0.5).eval()
    _load(mine, encoder_params(layers))
    x, mask = torch.randn(2, 9, 12), _mask(2, 9)
    out, maps = mine(x, mask=mask)
    ref, refs = torch_encoder_reference(layers, x, mask)
    if not is_close(out, ref) or len(maps) != 3 or not all(is_close(m, r) for m, r in zip(maps, refs)):
        return "Encoder differs from torch's layers in order, or its attention list is not one map per layer"
    mine.train()
    if not all(is_close(m.sum(-1), torch.ones(m.shape[:-1])) for m in mine(x)[1]):
        return "Encoder in train(): maps taken after dropout"
    return None


def _vit_disagrees(module) -> str | None:
    conv = random_conv(2, 7, 4)
    patch = module.PatchEmbedding(image_size=12, patch_size=4, in_channels=2, d_feat=7)
    _load(patch, {"proj.weight": conv.weight.detach(), "proj.bias": conv.bias.detach()})
    images = torch.randn(3, 2, 12, 12)
    if not is_close(patch(images), conv_patchify(conv, images)):
        return "PatchEmbedding differs from Conv2d patchify"
    try:
        module.PatchEmbedding(image_size=14, patch_size=4, in_channels=2, d_feat=7)(torch.randn(1, 2, 14, 14))
    except ValueError:
        pass
    else:
        return "PatchEmbedding accepts an indivisible image size"
    params = random_vit_params(CFG)
    mine = module.VisionTransformer(**CFG.kwargs()).train()
    layout = _load(mine, params)
    leaves = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    ref = manual_vit(leaves, CFG, images)
    logits = mine(images)
    if not is_close(logits, ref.detach()):
        return "VisionTransformer differs from the reference ViT"
    upstream = torch.randn(ref.shape)
    ref.backward(upstream.double())
    logits.backward(upstream)
    grads = layout.course({n: p.grad for n, p in ((n, resolve_parameter(mine, n)) for n in layout.names)
                           if p is not None})
    for name, leaf in leaves.items():
        if not isinstance(grads.get(name), torch.Tensor) or not is_close(grads[name], leaf.grad, atol=1e-4, rtol=1e-3):
            return f"the gradient of {name} differs from the reference's"
    return None


def _disagreement(path: Path) -> str | None:
    torch.manual_seed(0)
    module = import_submission(path)
    return _layer_disagrees(module) or _encoder_disagrees(module) or _vit_disagrees(module)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("style", PROOF.styles, ids=lambda p: p.stem)
def test_correct_style_agrees_with_torch_everywhere(style):
    assert _disagreement(style) is None


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("mutant", PROOF.bugs, ids=lambda p: p.stem)
def test_mutant_really_disagrees_with_torch(mutant):
    assert _disagreement(mutant) is not None
