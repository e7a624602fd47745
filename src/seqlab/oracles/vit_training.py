"""The vit grader's gradient and training runs: back-propagation through the student's ViT in the
sandbox, compared with the float64 reference ViT's gradients for the same inputs and upstream
gradient (seqlab.oracles.vit.manual_vit), and a short seeded training run whose loss gradient
and Adam update are computed here, on the trusted side, and loaded back into the student's ViT.
"""

from __future__ import annotations

import torch

from seqlab.gradients import backward_from
from seqlab.grading.expect import differs, expect_shape, expect_tensor, fail
from seqlab.grading.remote import StudentError

from .tolerance import is_close
from .training import PlainAdam
from .vit import VitConfig, manual_vit, random_vit_params
from .vit_checks import load, make_vit, vit_case, vit_logits

__all__ = ["TRAIN_STEPS", "expect_gradients_like_reference", "trained_accuracy"]

GRAD = VitConfig(image_size=12, patch_size=4, in_channels=1, n_class=7, n_layer=2, d_feat=30, n_head=5, d_ff=13)
GRAD_BATCH = 11
GRAD_TOL = {"atol": 1e-4, "rtol": 1e-3}
TRAIN = VitConfig(image_size=21, patch_size=7, in_channels=1, n_class=4, n_layer=2, d_feat=30, n_head=5, d_ff=24)
TRAIN_BATCH, TRAIN_STEPS, TRAIN_LR = 32, 12, 1e-2


def expect_gradients_like_reference(submission) -> None:
    """Every parameter's gradient equals the reference's, for the same images and upstream gradient."""
    params, model, loaded = vit_case(submission, GRAD)
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
    backward_from(ref, upstream.double())
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


def trained_accuracy(submission, generator: torch.Generator) -> float:
    """TRAIN_STEPS Adam steps on the quadrant task (cross-entropy's gradient and the update here,
    forward and backward in the sandbox, dropout on); the accuracy on 256 new images in eval()."""
    params = random_vit_params(TRAIN)
    model = make_vit(submission, TRAIN, dropout_p=0.1)
    loaded = load(model, params, "VisionTransformer")
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
    return float((vit_logits(model, images, TRAIN.n_class).argmax(1) == labels).double().mean())
