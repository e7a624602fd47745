"""The gru grader's gradient and training runs: back-propagation through the student's GRU in the
sandbox, compared with torch's GRUCells unrolled here, and a short seeded training run whose
update happens on the trusted side (the student's GRU runs forward and backward in the sandbox,
a trusted linear head and Adam step update its weights, which are loaded back in).
"""

from __future__ import annotations

import torch

from seqlab.grading.expect import differs, expect_tensor, fail
from seqlab.grading.remote import StudentError

from .gru import diagnose_gru, gru_params, random_torch_gru, torch_cells_like, unrolled_torch_gru
from .gru_checks import (
    CELL_NAMES,
    HIDDEN_SIZE,
    INPUT_SIZE,
    N_BATCH,
    SEQ_LEN,
    WHY,
    after_a_crash,
    crash_was,
    expect_gru_like_torch,
    fail_if_diagnosed,
    gru_call,
    is_in_place_error,
    load,
    output_and_state,
)
from .tolerance import is_close
from .training import PlainAdam

__all__ = ["STEPS", "gradient_pass", "trained_accuracy", "why_not_learning"]

GRAD_TOL = {"atol": 1e-4, "rtol": 1e-3}   # gradients sum float32 products: a little looser
STEPS, BATCH, TASK_LEN, TASK_HIDDEN, LR = 25, 32, 6, 8, 0.08


def gradient_pass(submission, batch_first: bool, with_state: bool, upstream_on: str) -> None:
    """One backward pass through the student's GRU, compared with torch.nn.GRU's gradients."""
    torch_gru = random_torch_gru(INPUT_SIZE, HIDDEN_SIZE, 2, batch_first=batch_first)
    params = gru_params(torch_gru)
    model = submission.get("GRU")(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, batch_first=batch_first)
    load(model, params, "GRU(num_layers=2)")
    model.zero_grad()
    shape = (N_BATCH, SEQ_LEN, INPUT_SIZE) if batch_first else (SEQ_LEN, N_BATCH, INPUT_SIZE)
    x, h_0 = torch.randn(shape), torch.randn(2, N_BATCH, HIDDEN_SIZE) if with_state else None
    x_remote = submission.put(x.clone().requires_grad_(True))
    h_remote = submission.put(h_0.clone().requires_grad_(True)) if with_state else None
    try:
        result = model.keep(x_remote) if h_remote is None else model.keep(x_remote, h_remote)
    except StudentError as exc:
        after_a_crash(submission, model, torch_gru, x, h_0, exc)
        raise
    out, h_n = output_and_state(result.fetch())
    x_ref = x.double().requires_grad_(True)
    h_ref = h_0.double().requires_grad_(True) if with_state else None
    torch_cells = torch_cells_like(torch_gru)
    ref_out, ref_h = unrolled_torch_gru(torch_cells, x_ref, h_ref, batch_first)
    if not (is_close(out, ref_out) and is_close(h_n, ref_h)):
        fail_if_diagnosed(diagnose_gru(out, h_n, params, 2, x, h_0, batch_first))
        differs("GRU's output or h_n differs from torch.nn.GRU's, so its gradients cannot match", "gru-equations")
    target, ref_target = (result[0], ref_out) if upstream_on == "output" else (result[1], ref_h)
    upstream = torch.randn(ref_target.shape)
    try:
        target.backward(upstream)
    except StudentError as exc:
        if is_in_place_error(exc):
            crash_was(f"back-propagating from GRU's {upstream_on} raised {exc.type_name} (a tensor was modified in "
                      "place after a step had used it): " + WHY["shared-state"], "shared-state", exc)
        crash_was(f"back-propagating from GRU's {upstream_on} failed ({exc.type_name}): keep every step in torch "
                  "operations (no .detach(), .data, numpy or torch.no_grad())", "detached-state", exc)
    (ref_target * upstream.double()).sum().backward()  # a scalar: a tensor gradient costs seconds once
    why = (f"the gradient of {{}} (upstream gradient on {upstream_on}) differs from torch.nn.GRU's: do not .detach() "
           "(or .data) the states between time steps or layers; back-propagation through time needs the whole chain")
    grads = {"the input x": (x_remote.grad(), x_ref.grad)}
    if with_state:
        grads["the initial state h"] = (h_remote.grad(), h_ref.grad)
    own = model.gradients_at([f"cells.{k}.{name}" for k in range(2) for name in CELL_NAMES])
    for k in range(2):
        for name in CELL_NAMES:
            grads[f"cells.{k}.{name}"] = (own.get(f"cells.{k}.{name}"), getattr(torch_cells[k], name).grad)
    for what, (grad, ref) in grads.items():
        if not isinstance(grad, torch.Tensor) or not is_close(grad, ref, **GRAD_TOL):
            fail(why.format(what), "detached-state")


def rise_or_fall(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy lines with a large random offset; y = 1 if the line rises. The model must remember the start."""
    y = torch.randint(0, 2, (n,), generator=generator)
    offset = 2 * torch.randn(n, 1, generator=generator)
    change = (0.5 + torch.rand(n, 1, generator=generator)) * (2 * y - 1).unsqueeze(1)
    x = offset + change * torch.linspace(0, 1, TASK_LEN) + 0.3 * torch.randn(n, TASK_LEN, generator=generator)
    return x.unsqueeze(-1), y


def why_not_learning(submission) -> None:
    """Training failed: name the bug a smaller probe reproduces, if one does."""
    expect_gru_like_torch(submission, 1, batch_first=True)
    gradient_pass(submission, batch_first=True, with_state=False, upstream_on="output")


def _train(model, head: torch.nn.Linear, gru_weights: dict[str, torch.Tensor], optimizer: PlainAdam,
           generator: torch.Generator) -> None:
    """STEPS Adam steps: the GRU's forward and backward run in the sandbox, the head and the update here."""
    zero_grad = model.zero_grad  # looked up once: one call per step, not two
    for _ in range(STEPS):
        x, y = rise_or_fall(BATCH, generator)
        zero_grad()
        out_remote = model.keep(x)[0]
        out = expect_tensor(out_remote.fetch(), "GRU's output").detach().requires_grad_(True)
        if tuple(out.shape) == (TASK_LEN, BATCH, TASK_HIDDEN):
            fail(WHY["output-not-transposed"], "output-not-transposed")
        if tuple(out.shape) != (BATCH, TASK_LEN, TASK_HIDDEN):
            differs(f"GRU's batch-first output has shape {tuple(out.shape)}, expected (B, L, H) = "
                    f"{(BATCH, TASK_LEN, TASK_HIDDEN)}", "gru-output-shape")
        head.zero_grad()
        torch.nn.functional.cross_entropy(head(out[:, -1]), y).backward()
        out_remote.backward(out.grad)
        grads = model.gradients_by_name()
        optimizer.step({**grads, **{f"head.{n}": p.grad for n, p in head.named_parameters()}})
        model.load_parameters(gru_weights)


def trained_accuracy(submission, generator: torch.Generator) -> float:
    """Train a fresh GRU(1, TASK_HIDDEN, batch_first=True) with a trusted linear head on its last
    step for STEPS Adam steps; its accuracy on 512 new examples (a crash while training is probed
    for the bug behind it first)."""
    model = submission.get("GRU")(1, TASK_HIDDEN, batch_first=True)
    head = torch.nn.Linear(TASK_HIDDEN, 2)
    gru_weights = {n: p.detach().clone() for n, p in model.parameters_by_name().items()}
    head_weights = {n: p.detach() for n, p in head.named_parameters()}
    optimizer = PlainAdam({**gru_weights, **{f"head.{n}": p for n, p in head_weights.items()}}, LR)
    try:
        _train(model, head, gru_weights, optimizer, generator)
    except StudentError:
        why_not_learning(submission)
        raise
    x, y = rise_or_fall(512, generator)
    with torch.no_grad():
        out, _ = gru_call(model, x)
        return float((head(out[:, -1]).argmax(1) == y).double().mean())
