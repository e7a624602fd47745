"""Hidden grader for mha: multi-headed attention where queries and keys/values differ in length.

One test per rubric item. Hidden sizes are drawn from each item's own seed (the same for every
student) so that every axis of a call differs from every other (B, n_head, n_Q, n_K, d_head,
d_feat; d_K and d_V for attention alone) and never equal the public checks' sizes. The reference
is torch.nn.MultiheadAttention with weights copied by name (resolved on the student's module by
attribute path) or the float64 oracle in seqlab.oracles.mha. A failing item names a misconception
only when a wrong oracle reproduces the student's result or a probe finds the cause of a crash;
otherwise it says plainly what differs (`differs`), and the plugin charges an item that depends
on an already failed one to that root cause.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch

from seqlab.grading.expect import (
    Misconception,
    differs,
    expect_raises,
    expect_shape,
    expect_tensor,
    fail,
)
from seqlab.grading.remote import StudentError
from seqlab.oracles.mha import (
    diagnose_mha,
    diagnose_sdpa,
    dropout_factors,
    manual_mha,
    manual_sdpa,
    random_torch_mha,
    scores_dropped_before_softmax,
    torch_mha_gradients,
    torch_mha_reference,
    trace_dropout,
    transplant,
)
from seqlab.oracles.tolerance import GRAD_ATOL, GRAD_RTOL, describe_difference, is_close

STUDENT_API = ("ScaledDotProductAttention", "MultiHeadedAttention")
LAYERS = ("lin_Q", "lin_K", "lin_V", "lin_O")
TORCH = "compared with torch.nn.MultiheadAttention"

WHY = {
    "no-scaling": "the scores are not divided by sqrt(d_K) before the softmax",
    "scale-by-d-feat": "each head must scale by 1/sqrt(d_head) (its own width), not 1/sqrt(d_feat): "
                       "d_K is the width of the projected, split keys, not of the input K",
    "floor-division": "the scores are divided with `//`, which floors them to whole numbers: use `/`",
    "softmax-dim": "the softmax normalises over the queries: each attention row must sum to 1 over the keys (dim=-1)",
    "mask-polarity": "mask polarity inverted: in this course 1/True means 'may attend' and 0/False means 'masked'",
    "mask-fill-zero": "masked scores are set to 0 (or a number next to it, such as -1e-9 typed for -1e9), which still leaves "
                      "them exp(0) = 1 of weight; fill them with a large negative number",
    "mask-after-softmax": "the mask is applied after the softmax, so rows no longer sum to 1; mask the scores before it",
    "split-heads-without-permute": "heads split with view(B, n_head, n, d_head) mixes positions; view as (B, n, n_head, d_head), then move the head axis forward",
    "merge-heads-without-permute": "heads merged with a view/reshape without moving the head axis back next to d_head first",
    "missing-output-projection": "the heads' concatenation must go through lin_O",
    "shared-qkv-projection": "lin_Q projects the queries, the keys and the values: K must go through lin_K and V through lin_V",
}

# The public checks' sizes (solution notebook): hidden calls never use them.
PUBLIC_SDPA = {(2, 3, 5, 8, 6)}
# Train-mode dropout probe: neither nn.Dropout's default 0.5 nor the constructor's default 0.1, so a
# dropout that ignores dropout_p shows in the share of weights it zeroes.
DROPOUT_P = 0.3


@dataclass(frozen=True)
class Sizes:
    batch: int
    n_q: int
    n_k: int
    n_head: int
    d_head: int

    @property
    def d_feat(self) -> int:
        return self.n_head * self.d_head


def _distinct(*values: int) -> bool:
    return len(set(values)) == len(values)


def _sizes(batch: int | None = None, n_q: int | None = None, min_len: int = 2) -> Sizes:
    """B, n_Q, n_K, n_head, d_head and d_feat, all different from each other."""
    while True:
        s = Sizes(batch or random.randint(2, 5), n_q or random.randint(min_len, min_len + 5),
                  random.randint(min_len, min_len + 7), random.randint(2, 5), random.randint(2, 6))
        if _distinct(s.batch, s.n_q, s.n_k, s.n_head, s.d_head, s.d_feat):
            return s


def _dropout_sizes() -> Sizes:
    """d_head > n_K, so each head's output (dropped weights) @ v can be solved for the weights; enough
    weights (B * n_head * n_Q * n_K >= 420) to tell a dropout rate of 0.3 from 0.1 or 0.5."""
    while True:
        n_k = random.randint(7, 10)
        s = Sizes(random.randint(3, 4), random.randint(10, 14), n_k, random.randint(2, 3), n_k + random.randint(3, 6))
        if _distinct(s.batch, s.n_q, s.n_k, s.n_head, s.d_head, s.d_feat):
            return s


def _readable_params(s: Sizes) -> dict[str, torch.Tensor]:
    """Random weights whose lin_V and lin_O are orthogonal (well-conditioned), so where dropout acted
    can be read back from x (seqlab.oracles.mha.trace_dropout)."""
    params = transplant(random_torch_mha(s.d_feat, s.n_head))
    for name in ("lin_V.weight", "lin_O.weight"):
        params[name] = torch.linalg.qr(torch.randn(s.d_feat, s.d_feat, dtype=torch.float64))[0].float()
    return params


def _sdpa_sizes() -> tuple[int, int, int, int, int]:
    """B, n_Q, n_K, d_K, d_V for attention alone, all different and not the public checks'."""
    while True:
        sizes = (random.randint(2, 5), random.randint(2, 7), random.randint(2, 9), random.randint(2, 8),
                 random.randint(2, 8))
        if _distinct(*sizes) and sizes not in PUBLIC_SDPA:
            return sizes


def _qkv(s: Sizes, n_q: int | None = None, n_k: int | None = None):
    n_q, n_k = n_q or s.n_q, n_k or s.n_k
    return torch.randn(s.batch, n_q, s.d_feat), torch.randn(s.batch, n_k, s.d_feat), torch.randn(s.batch, n_k, s.d_feat)


def _build(submission, s: Sizes, dropout_p: float = 0.0, bias: bool = True):
    MHA = submission.get("MultiHeadedAttention")
    return MHA(d_feat=s.d_feat, n_head=s.n_head, dropout_p=dropout_p, bias=bias)


def _sdpa(submission):
    return submission.get("ScaledDotProductAttention")()


def _load(model, params: dict[str, torch.Tensor]) -> None:
    """Copy weights into the modules the spec names, resolved by attribute path on the student's
    module (aliases and shared modules count)."""
    names = [f"{layer}.{kind}" for layer in LAYERS for kind in ("weight", "bias")]
    found = model.parameters_at(names)
    if found.get("lin_O.weight") is None:
        fail("MultiHeadedAttention has no `lin_O` output projection: " + WHY["missing-output-projection"],
             "missing-output-projection")
    missing = [n for n in params if found.get(n) is None]
    if missing:
        fail(f"MultiHeadedAttention has no parameter {missing[0]}: the projections must be "
             "nn.Linear(d_feat, d_feat) layers named lin_Q, lin_K, lin_V, lin_O", "sublayer-names")
    if not any(n.endswith(".bias") for n in params) and any(found.get(f"{layer}.bias") is not None
                                                            for layer in LAYERS):
        fail("with bias=False the four projections must have no bias (nn.Linear(..., bias=bias))",
             "bias-ignored")
    model.load_parameters(params)


def _pair(result, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"{what} should return a pair (output, attention)", "output-shape")
    return expect_tensor(result[0], f"{what}'s output"), expect_tensor(result[1], f"{what}'s attention")


def _succeeds(call) -> bool:
    try:
        call()
    except (StudentError, AssertionError):
        return False
    return True


# -- calls that find the cause of a crash ---------------------------------------------------------
def _as_rank(t: torch.Tensor, rank: int) -> torch.Tensor:
    """The same rows with the leading axes flattened to one, then as many size-1 axes as needed."""
    flat = t.reshape(-1, *t.shape[-2:]) if t.dim() > 2 else t
    while flat.dim() < rank:
        flat = flat.unsqueeze(0)
    return flat


def _run_sdpa(sdpa, Q, K, V, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    what = "ScaledDotProductAttention"
    try:
        return _pair(sdpa(Q, K, V) if mask is None else sdpa(Q, K, V, mask=mask), what)
    except StudentError as exc:
        if exc.is_a("NotImplementedError"):
            raise
        full = None if mask is None else mask.expand(*Q.shape[:-1], K.size(-2))
        for rank in (3, 4):
            args = [_as_rank(t, rank) for t in (Q, K, V)]
            kwargs = {} if full is None else {"mask": _as_rank(full, rank)}
            if rank != Q.dim() and Q.dim() <= 3 and _succeeds(lambda a=args, k=kwargs: _pair(sdpa(*a, **k), what)):
                raise Misconception(
                    f"{what} works on {rank}-D inputs but raised {exc.describe()} on {Q.dim()}-D ones: "
                    "use transpose(-2, -1) and @ (or torch.matmul), which accept any number of leading axes",
                    "leading-axes") from exc
        raise


def _shaped(result, s: Sizes, n_q: int, n_k: int) -> None:
    """A probe's call counts as working only with the right shapes."""
    x, att = _pair(result, "MultiHeadedAttention")
    if tuple(att.shape) != (s.batch, s.n_head, n_q, n_k) or tuple(x.shape) != (s.batch, n_q, s.d_feat):
        fail("wrong shapes", "output-shape")


def _run_mha(model, s: Sizes, Q, K, V, mask=None, keep: bool = False):
    """x and attention (or, with keep, the result left in the sandbox), shapes checked; a crash is
    probed for its cause: a non-contiguous view, a mask without a head axis, K split with n_Q."""
    what = "MultiHeadedAttention"
    call = model.keep if keep else model
    n_q, n_k = (Q.size(1), K.size(1)) if isinstance(Q, torch.Tensor) else (s.n_q, s.n_k)
    try:
        result = call(Q, K, V) if mask is None else call(Q, K, V, mask=mask)
    except StudentError as exc:
        if exc.is_a("NotImplementedError"):
            raise
        if "view size is not compatible" in exc.detail:
            raise Misconception(f"{what}: .view() on a permuted (non-contiguous) tensor; use .reshape() or "
                                 ".contiguous().view()", "view-needs-contiguous") from exc
        if mask is not None and _succeeds(lambda: _shaped(model(Q, K, V), s, n_q, n_k)):
            head_mask = mask.unsqueeze(1) if mask.dim() == 3 else None  # only the mask makes it crash
            if head_mask is not None and _succeeds(lambda: _shaped(model(Q, K, V, mask=head_mask), s, n_q, n_k)):
                raise Misconception(
                    f"a mask of shape {tuple(mask.shape)} was applied to the (B, n_head, n_Q, n_K) scores without a "
                    f"head axis ({exc.describe()}): insert one with mask.unsqueeze(1) so every head uses the same "
                    "mask", "mask-without-head-axis") from exc
            raise
        if n_k != n_q:
            square = _qkv(s, n_q=n_q, n_k=n_q)
            if _succeeds(lambda: _shaped(model(*square), s, n_q, n_q)):
                raise Misconception("it works only when n_K == n_Q: reshape K and V with their own length n_K, "
                                     "not Q's", "kv-length-from-query") from exc
        raise
    if keep:
        if result.type_name not in ("builtins.tuple", "builtins.list"):
            fail(f"{what} should return a pair (output, attention), not {result.type_name}", "output-shape")
        return result
    x, att = _pair(result, what)
    expect_shape(att, (Q.size(0), s.n_head, n_q, n_k), "attention weights", "output-shape")
    expect_shape(x, tuple(Q.shape), "output x", "output-shape")
    return x, att


# -- comparisons ----------------------------------------------------------------------------------
def _name_mha(x, att, params, s: Sizes, Q, K, V, mask=None) -> None:
    name = diagnose_mha(x, att, params, s.n_head, Q, K, V, mask)
    if name is not None:
        fail(WHY[name], name)


def _expect_like_torch(submission, bias: bool = True, mask_kind: str | None = None) -> None:
    s = _sizes()
    n_q, n_k = (min(s.n_q, s.n_k), max(s.n_q, s.n_k)) if mask_kind == "causal" else (s.n_q, s.n_k)
    Q, K, V = _qkv(s, n_q, n_k)
    mask, what = None, ""
    if mask_kind == "padding":
        mask = torch.rand(s.batch, 1, n_k) < 0.6
        mask[:, :, 0], mask[:, :, -1] = True, False  # every row keeps a key and hides one
        what = " with a (B, 1, n_K) padding mask"
    elif mask_kind == "causal":  # query i sees keys up to n_K - n_Q + i
        mask = torch.ones(1, n_q, n_k, dtype=torch.bool).tril(diagonal=n_k - n_q)
        what = " with a (1, n_Q, n_K) causal mask"
    torch_mha = random_torch_mha(s.d_feat, s.n_head, bias=bias)
    params = transplant(torch_mha)
    model = _build(submission, s, bias=bias)
    model.eval()
    _load(model, params)
    x, att = _run_mha(model, s, Q, K, V, mask)
    x_ref, att_ref = torch_mha_reference(torch_mha, Q, K, V, mask)
    if is_close(att, att_ref) and is_close(x, x_ref):
        return
    _name_mha(x, att, params, s, Q, K, V, mask)
    if mask is not None:
        hidden = ~mask.bool().expand(s.batch, n_q, n_k).unsqueeze(1).expand_as(att)
        leak = float(att.detach().double()[hidden].abs().max()) if hidden.any() else 0.0
        if leak > 1e-6:
            differs(f"{what.strip()}, keys where the mask is 0 still get attention weight (up to {leak:.3g}); "
                    "this differs from torch.nn.MultiheadAttention", "wrong-output")
    if not is_close(att, att_ref):
        differs(f"attention weights{what} ({TORCH}) differ: {describe_difference(att, att_ref)}", "wrong-output")
    differs(f"output x{what} ({TORCH}) differs: {describe_difference(x, x_ref)}", "wrong-output")


def _expect_rows_sum_to_one(weights: torch.Tensor, who: str) -> None:
    if is_close(weights.sum(-1), torch.ones(weights.shape[:-1])):
        return
    for axis in range(weights.dim() - 1):
        if is_close(weights.sum(axis), torch.ones(weights.shape[:axis] + weights.shape[axis + 1:])):
            fail(f"{who}: " + WHY["softmax-dim"] + f" (it normalises over axis {axis})", "softmax-dim")
    differs(f"{who}: attention rows do not sum to 1 over the keys (row sums range from "
            f"{float(weights.sum(-1).min()):.3g} to {float(weights.sum(-1).max()):.3g})", "wrong-output")


def _expect_sdpa_definition(out, att, Q, K, V, mask=None, what: str = "") -> None:
    out_ref, att_ref = manual_sdpa(Q, K, V, mask)
    if is_close(att, att_ref) and is_close(out, out_ref):
        return
    name = diagnose_sdpa(out, att, Q, K, V, mask)
    if name is not None:
        fail(WHY[name], name)
    if not is_close(att, att_ref):
        differs(f"attention{what} differs from softmax(Q K^T / sqrt(d_K)): {describe_difference(att, att_ref)}",
                "wrong-output")
    differs(f"output{what} differs from attention @ V: {describe_difference(out, out_ref)}", "wrong-output")


def _expect_raises_value_error(call, valid_call, what: str, misconception: str):
    """The call must raise ValueError. If the same code also crashes on valid input, that crash is
    the cause (reported as such), not a missing check."""
    try:
        return expect_raises("ValueError", call, what, misconception)
    except AssertionError:
        valid_call()
        raise


# -- rubric ---------------------------------------------------------------------------------------
@pytest.mark.rubric(points=2, misconception="output-shape")
def test_attention_output_shapes_with_n_q_differs_from_n_k(submission):
    batch, n_q, n_k, d_k, d_v = _sdpa_sizes()
    out, att = _run_sdpa(_sdpa(submission), torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k),
                         torch.randn(batch, n_k, d_v))
    expect_shape(out, (batch, n_q, d_v), "ScaledDotProductAttention's output (d_V may differ from d_K)")
    expect_shape(att, (batch, n_q, n_k), "ScaledDotProductAttention's attention")
    s = _sizes()
    model = _build(submission, s)
    model.eval()
    _run_mha(model, s, *_qkv(s))


@pytest.mark.rubric(points=2, misconception="no-scaling")
def test_scaled_dot_product_matches_definition(submission):
    batch, n_q, n_k, d_k, d_v = _sdpa_sizes()
    Q, K, V = torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k), torch.randn(batch, n_k, d_v)
    out, att = _run_sdpa(_sdpa(submission), Q, K, V)
    _expect_sdpa_definition(out, att, Q, K, V)


@pytest.mark.rubric(points=1, misconception="leading-axes", depends_on=("scaled_dot_product_matches_definition",))
def test_scaled_dot_product_broadcasts_leading_axes(submission):
    while True:
        lead = (random.randint(2, 4), random.randint(2, 4), random.randint(2, 4))
        _, n_q, n_k, d_k, d_v = _sdpa_sizes()
        if _distinct(*lead, n_q, n_k, d_k, d_v):
            break
    Q, K, V = torch.randn(*lead, n_q, d_k), torch.randn(*lead, n_k, d_k), torch.randn(*lead, n_k, d_v)
    mask = torch.ones(1, 1, n_q, n_k, dtype=torch.bool).tril(diagonal=max(n_k - n_q, 0))
    sdpa = _sdpa(submission)
    try:
        out, att = _pair(sdpa(Q, K, V, mask=mask), "ScaledDotProductAttention")
    except StudentError as exc:
        if exc.is_a("NotImplementedError") or _succeeds(lambda: sdpa(Q, K, V)):
            raise  # a stub, or only the mask makes it crash: not a matter of leading axes
        raise Misconception(f"with inputs of shape {tuple(Q.shape)} ScaledDotProductAttention raised "
                             f"{exc.describe()}: use transpose(-2, -1), not fixed axes", "leading-axes") from exc
    expect_shape(att, (*lead, n_q, n_k), f"the attention for inputs of shape {tuple(Q.shape)}", "leading-axes")
    _expect_sdpa_definition(out, att, Q, K, V, mask, f" for inputs of shape {tuple(Q.shape)}")


@pytest.mark.rubric(points=2, misconception="softmax-dim")
def test_attention_rows_sum_to_one(submission):
    batch, n_q, n_k, d_k, d_v = _sdpa_sizes()
    _, att = _run_sdpa(_sdpa(submission), torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k),
                       torch.randn(batch, n_k, d_v))
    expect_shape(att, (batch, n_q, n_k), "ScaledDotProductAttention's attention", "output-shape")
    _expect_rows_sum_to_one(att, "ScaledDotProductAttention")
    s = _sizes()
    model = _build(submission, s)
    model.eval()
    _, att_mha = _run_mha(model, s, *_qkv(s))
    _expect_rows_sum_to_one(att_mha, "MultiHeadedAttention")


@pytest.mark.rubric(points=2, misconception="wrong-output")
def test_matches_torch_multihead_attention(submission):
    _expect_like_torch(submission, bias=True)


@pytest.mark.rubric(points=2, misconception="bias-ignored", depends_on=("matches_torch_multihead_attention",))
def test_matches_torch_multihead_attention_without_bias(submission):
    _expect_like_torch(submission, bias=False)


@pytest.mark.rubric(points=2, misconception="scale-by-d-feat", depends_on=("matches_torch_multihead_attention",))
def test_scales_each_head_by_sqrt_d_head(submission):
    s = _sizes()
    params = transplant(random_torch_mha(s.d_feat, s.n_head))
    model = _build(submission, s)
    model.eval()
    _load(model, params)
    Q, K, V = _qkv(s)
    x, att = _run_mha(model, s, Q, K, V)
    _, att_ref = manual_mha(params, s.n_head, Q, K, V)
    if not is_close(att, att_ref):
        _name_mha(x, att, params, s, Q, K, V)
        differs(f"each head's attention differs from softmax(q k^T / sqrt(d_head)): "
                f"{describe_difference(att, att_ref)}", "wrong-output")


@pytest.mark.rubric(points=1, misconception="sublayer-names")
def test_projections_are_named_lin_q_k_v_o(submission):
    s = _sizes()
    _load(_build(submission, s), transplant(random_torch_mha(s.d_feat, s.n_head)))


@pytest.mark.rubric(points=2, misconception="mask-polarity", depends_on=("matches_torch_multihead_attention",))
def test_padding_mask_keeps_ones(submission):
    _expect_like_torch(submission, mask_kind="padding")


@pytest.mark.rubric(points=2, misconception="mask-polarity", depends_on=("matches_torch_multihead_attention",))
def test_causal_mask_keeps_ones(submission):
    _expect_like_torch(submission, mask_kind="causal")


@pytest.mark.rubric(points=2, misconception="masked-row-nan")
def test_fully_masked_query_row_stays_finite(submission):
    batch, n_q, n_k, d_k, d_v = _sdpa_sizes()
    mask = torch.rand(batch, n_q, n_k) < 0.7
    mask[:, :, 0] = True
    mask[:, random.randrange(n_q), :] = False  # this query may attend to nothing
    out, att = _run_sdpa(_sdpa(submission), torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k),
                         torch.randn(batch, n_k, d_v), mask=mask)
    s = _sizes()
    mask = torch.rand(s.batch, s.n_q, s.n_k) < 0.7
    mask[:, :, 0] = True
    mask[:, random.randrange(s.n_q), :] = False
    model = _build(submission, s)
    model.eval()
    x, att_mha = _run_mha(model, s, *_qkv(s), mask)
    for value, what in ((out, "ScaledDotProductAttention's output"), (att, "ScaledDotProductAttention's attention"),
                        (x, "MultiHeadedAttention's output"), (att_mha, "MultiHeadedAttention's attention")):
        if not torch.isfinite(value).all():
            fail(f"{what} has NaN when a query's keys are all masked: fill masked scores with a large "
                 "finite negative number, not -inf", "masked-row-nan")


@pytest.mark.rubric(points=2, misconception="kv-count-unchecked")
def test_mismatched_key_value_counts_raise_value_error(submission):
    s = _sizes()
    sdpa = _sdpa(submission)
    model = _build(submission, s)
    Q, K, V = _qkv(s)
    V_long = torch.randn(s.batch, s.n_k + random.randint(1, 3), s.d_feat)
    checks = ((lambda: sdpa(Q, K, V_long), lambda: _run_sdpa(sdpa, Q, K, V), "ScaledDotProductAttention with n_K != n_V"),
              (lambda: model(Q, K, V_long), lambda: _run_mha(model, s, Q, K, V), "MultiHeadedAttention with n_K != n_V"))
    for call, valid_call, what in checks:
        error = _expect_raises_value_error(call, valid_call, what, "kv-count-unchecked")
        if "K" not in error.detail or "V" not in error.detail:
            fail(f"{what}: the ValueError's message should name K and V", "kv-count-unchecked")


@pytest.mark.rubric(points=1, misconception="qk-width-unchecked")
def test_mismatched_query_key_widths_raise_value_error(submission):
    batch, n_q, n_k, d_k, d_v = _sdpa_sizes()
    sdpa = _sdpa(submission)
    Q, K, V = torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k), torch.randn(batch, n_k, d_v)
    K_wide = torch.randn(batch, n_k, d_k + 1)
    _expect_raises_value_error(lambda: sdpa(Q, K_wide, V), lambda: _run_sdpa(sdpa, Q, K, V),
                               "ScaledDotProductAttention with d_K of Q != d_K of K", "qk-width-unchecked")


@pytest.mark.rubric(points=1, misconception="head-divisibility-unchecked")
def test_head_count_must_divide_d_feat(submission):
    n_head = random.randint(3, 5)
    d_feat = n_head * random.randint(2, 4) + random.randint(1, n_head - 1)
    MHA = submission.get("MultiHeadedAttention")
    what = f"MultiHeadedAttention(d_feat={d_feat}, n_head={n_head})"
    try:
        model = MHA(d_feat=d_feat, n_head=n_head, dropout_p=0.0)
    except StudentError as exc:
        if exc.is_a("ValueError"):
            return
        if exc.is_a("NotImplementedError"):
            raise
        fail(f"{what} should raise ValueError, but raised {exc.describe()}")
    expect_raises("ValueError", lambda: model(torch.randn(2, 3, d_feat), torch.randn(2, 4, d_feat),
                                              torch.randn(2, 4, d_feat)), what)


@pytest.mark.rubric(points=2, misconception="dropout-in-eval")
def test_dropout_inactive_in_eval(submission):
    s = _sizes()
    params = transplant(random_torch_mha(s.d_feat, s.n_head))
    Q, K, V = _qkv(s)
    plain = _build(submission, s, dropout_p=0.0)
    noisy = _build(submission, s, dropout_p=0.5)
    for model in (plain, noisy):
        model.eval()
        _load(model, params)
    x_ref, _ = _run_mha(plain, s, Q, K, V)
    submission.seed(random.randint(0, 2**31 - 1))
    for _ in range(2):
        x, _ = _run_mha(noisy, s, Q, K, V)
        if not is_close(x, x_ref):
            fail("in eval() mode dropout must do nothing: use self.dropout (nn.Dropout) or "
                 "F.dropout(..., training=self.training)", "dropout-in-eval")


def _dropout_reaches_queries_or_keys(noisy, s: Sizes, Q, K, V) -> str | None:
    """Which of the queries or keys train-mode dropout acts on, read from the attention alone.
    With every key equal, every correct weight is 1/n_K whatever happens after the softmax; with
    every query equal, all rows of a head's weights are equal. Dropout on the keys (K or k) breaks
    the first, dropout on the queries (Q or q) the second."""
    same_keys = K[:, :1].expand_as(K).contiguous()
    _, att = _run_mha(noisy, s, Q, same_keys, V)
    if isinstance(att, torch.Tensor) and not torch.allclose(att.double(), torch.full_like(att.double(), 1 / s.n_k),
                                                           atol=1e-5):
        return "keys"
    same_queries = Q[:, :1].expand_as(Q).contiguous()
    _, att = _run_mha(noisy, s, same_queries, K, V)
    if isinstance(att, torch.Tensor) and not torch.allclose(att, att[..., :1, :].expand_as(att), atol=1e-5):
        return "queries"
    return None


def _expect_dropout_on_the_weights(x, params, s: Sizes, Q, K, V) -> None:
    """x of a train-mode call must be lin_O of (dropped attention weights) @ v, with nn.Dropout's
    rule: a share dropout_p of the weights zeroed, the others multiplied by 1 / (1 - dropout_p)."""
    trace = trace_dropout(x, params, s.n_head, Q, K, V)
    if trace.where == "output":
        fail(f"dropout is applied to the output x (about {trace.rate:.0%} of its entries are exactly 0), not only to "
             "the attention weights before they multiply V", "dropout-on-output")
    if trace.where == "merged-heads":
        fail(f"dropout is applied to the concatenated heads just before lin_O (about {trace.rate:.0%} of those "
             "features are zeroed), not to the attention weights before they multiply V", "dropout-on-merged-heads")
    if trace.where == "values":
        fail(f"dropout is applied to the values (about {trace.rate:.0%} of V's or v's entries are zeroed), not to the "
             "attention weights that average them: apply dropout to the softmax weights only", "dropout-on-inputs")
    if trace.where != "weights":
        differs(f"with dropout_p={DROPOUT_P} in train() mode, x is not lin_O of (attention weights with dropout) @ V: "
                "apply dropout to the attention weights only, after the softmax", "wrong-output")
    count = s.batch * s.n_head * s.n_q * s.n_k
    rate_ok = abs(trace.rate - DROPOUT_P) <= 5 * (DROPOUT_P * (1 - DROPOUT_P) / count) ** 0.5
    if abs(trace.scale - 1.0) <= 1e-3:
        fail(f"dropout zeroes attention weights but does not scale the kept ones by 1/(1 - p) = "
             f"{1 / (1 - DROPOUT_P):.3g}, so the expected output in train() differs from eval(): use nn.Dropout or "
             "F.dropout, or divide the kept weights by 1 - p", "dropout-not-rescaled")
    if not rate_ok and abs(trace.scale * (1 - trace.rate) - 1.0) <= 0.15:
        fail(f"with dropout_p={DROPOUT_P} dropout zeroes about {trace.rate:.0%} of the attention weights: the "
             "dropout layer must use the constructor's dropout_p, not a fixed probability", "dropout-p-ignored")
    if not rate_ok or abs(trace.scale * (1 - DROPOUT_P) - 1.0) > 1e-3:
        differs(f"with dropout_p={DROPOUT_P} dropout zeroes {trace.rate:.0%} of the attention weights and multiplies "
                f"the others by {trace.scale:.3g}; nn.Dropout(p) zeroes a share p and scales the rest by 1/(1 - p)",
                "wrong-output")


@pytest.mark.rubric(points=1, misconception="dropout-missing")
def test_dropout_active_in_train_attention_returned_before_it(submission):
    s = _dropout_sizes()
    params = _readable_params(s)
    Q, K, V = _qkv(s)
    plain = _build(submission, s, dropout_p=0.0)
    plain.eval()
    noisy = _build(submission, s, dropout_p=DROPOUT_P)
    noisy.train()
    for model in (plain, noisy):
        _load(model, params)
    x_ref, att_ref = _run_mha(plain, s, Q, K, V)
    submission.seed(random.randint(0, 2**31 - 1))
    x, att = _run_mha(noisy, s, Q, K, V)
    if is_close(x, x_ref):
        fail(f"with dropout_p={DROPOUT_P} in train() mode the output is unchanged: dropout on the attention "
             "weights is missing", "dropout-missing")
    x_oracle, att_oracle = manual_mha(params, s.n_head, Q, K, V)
    readable = is_close(x_ref, x_oracle) and is_close(att_ref, att_oracle)  # else the forward itself is wrong
    if not is_close(att, att_ref):                                           # (graded by the torch items)
        if (dropout_factors(att, att_ref, 1e-5) or (0.0,))[0] > 0:
            fail("the attention returned must be the weights before dropout (apply dropout only when "
                 "multiplying with V)", "attention-after-dropout")
        if readable and scores_dropped_before_softmax(att, params, s.n_head, Q, K, DROPOUT_P):
            fail("dropout is applied to the scores before the softmax (a dropped key gets a score of 0, not a weight "
                 "of 0): apply it to the attention weights after the softmax, and return the weights from before it",
                 "dropout-before-softmax")
        dropped = _dropout_reaches_queries_or_keys(noisy, s, Q, K, V) if readable else None
        if dropped:
            fail(f"dropout acts on the {dropped} (or their projections), so the attention itself changes in train() "
                 "mode: apply dropout only to the attention weights after the softmax", "dropout-on-inputs")
        differs("in train() mode the attention returned differs from eval() mode's for the same weights and inputs: "
                "return the softmax weights before dropout", "wrong-output")
    if readable:
        _expect_dropout_on_the_weights(x, params, s, Q, K, V)


@pytest.mark.rubric(points=2, misconception="no-gradient", depends_on=("matches_torch_multihead_attention",))
def test_gradients_match_torch_multihead_attention(submission):
    """The gradients the submission's autograd computes for the four projections and the inputs
    equal torch's for the same weights, inputs and upstream gradient (never "non-zero"). In eval()
    mode: dropout, graded by its own items, plays no part even where it ignores dropout_p=0."""
    s = _sizes()
    torch_mha = random_torch_mha(s.d_feat, s.n_head)
    model = _build(submission, s, dropout_p=0.0)
    model.eval()
    _load(model, transplant(torch_mha))
    Q, K, V = _qkv(s)
    grad_x = torch.randn(s.batch, s.n_q, s.d_feat)
    inputs = [submission.put(t.clone().requires_grad_(True)) for t in (Q, K, V)]
    result = _run_mha(model, s, *inputs, keep=True)
    try:
        result[0].backward(grad_x)
    except StudentError as exc:  # not a diagnosis: a wrong forward step (e.g. `//`) breaks it too
        differs(f"back-propagating from the output x failed ({exc.type_name}): keep every step in "
                "torch operations (no .detach(), .data, numpy or torch.no_grad())", "no-gradient")
    reference = torch_mha_gradients(torch_mha, Q, K, V, grad_x)
    grads = model.gradients_at([n for n in reference if "." in n])
    grads.update({name: tensor.grad() for name, tensor in zip("QKV", inputs)})
    for name, expected in reference.items():
        grad = grads.get(name)
        where = f"the input {name}" if "." not in name else name
        if not isinstance(grad, torch.Tensor) or not bool(grad.abs().sum() > 0):
            differs(f"no gradient reaches {where}: keep every step from it to x in torch operations "
                    "(no .detach(), .data, numpy or torch.no_grad())", "no-gradient")
        if not is_close(grad, expected, atol=GRAD_ATOL, rtol=GRAD_RTOL):
            differs(f"the gradient of {where} differs from torch.nn.MultiheadAttention's for the same weights, "
                    f"inputs and upstream gradient: {describe_difference(grad, expected)}", "no-gradient")


@pytest.mark.rubric(points=1, misconception="output-shape",
                    depends_on=("matches_torch_multihead_attention", "scaled_dot_product_matches_definition"))
def test_batch_of_one_and_single_query(submission):
    for batch, n_q in ((1, None), (None, 1)):
        s = _sizes(batch=batch, n_q=n_q)
        torch_mha = random_torch_mha(s.d_feat, s.n_head)
        params = transplant(torch_mha)
        model = _build(submission, s)
        model.eval()
        _load(model, params)
        Q, K, V = _qkv(s)
        x, att = _run_mha(model, s, Q, K, V)
        x_ref, att_ref = torch_mha_reference(torch_mha, Q, K, V)
        if not (is_close(att, att_ref) and is_close(x, x_ref)):
            _name_mha(x, att, params, s, Q, K, V)
            differs(f"for B={s.batch}, n_Q={s.n_q} the output differs ({TORCH}): "
                    f"{describe_difference(x, x_ref)}", "wrong-output")
    d_v = next(d for d in range(2, 20) if d not in (s.d_head, s.n_k))
    Q, K, V = torch.randn(1, s.d_head), torch.randn(s.n_k, s.d_head), torch.randn(s.n_k, d_v)
    out, att = _run_sdpa(_sdpa(submission), Q, K, V)
    expect_shape(out, (1, d_v), "ScaledDotProductAttention's output for a single query without batch axis",
                 "output-shape")
    _expect_sdpa_definition(out, att, Q, K, V, what=" for a single query without batch axis")
