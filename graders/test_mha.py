"""Hidden grader for mha: multi-headed attention where queries and keys/values differ in length.

One test per rubric item. Sizes are drawn at random per student (n_Q != n_K always), the
reference is torch.nn.MultiheadAttention with weights copied by name or the float64 oracle in
seqlab.oracles.mha, and a failing item is diagnosed by comparing against *wrong* references.
"""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.grading.expect import expect_close, expect_raises, expect_shape, expect_tensor, fail
from seqlab.grading.remote import StudentError
from seqlab.oracles.mha import (
    diagnose_mha,
    diagnose_sdpa,
    manual_mha,
    manual_sdpa,
    random_torch_mha,
    torch_mha_reference,
    transplant,
)
from seqlab.oracles.tolerance import is_close

STUDENT_API = ("ScaledDotProductAttention", "MultiHeadedAttention")

WHY = {
    "no-scaling": "the scores are not divided by sqrt(d_K) before the softmax",
    "scale-by-d-feat": "each head must scale by 1/sqrt(d_head) (its own width), not 1/sqrt(d_feat)",
    "softmax-dim": "the softmax normalises over the queries: each attention row must sum to 1 over the keys (dim=-1)",
    "mask-polarity": "mask polarity inverted: in this course 1/True means 'may attend' and 0/False means 'masked'",
    "mask-fill-zero": "masked scores are set to 0, which still leaves them exp(0) = 1 of weight; fill them with a large negative number",
    "mask-after-softmax": "the mask is applied after the softmax, so rows no longer sum to 1; mask the scores before it",
    "split-heads-without-permute": "heads split with view(B, n_head, n, d_head) mixes positions; view as (B, n, n_head, d_head), then move the head axis forward",
    "merge-heads-without-permute": "heads merged with a view/reshape without moving the head axis back next to d_head first",
    "missing-output-projection": "the heads' concatenation must go through lin_O",
}


def _sizes(min_q: int = 2) -> tuple[int, int, int, int, int]:
    """batch, n_Q, n_K (different), n_head >= 2, d_head."""
    n_q = random.randint(min_q, 6)
    n_k = random.choice([n for n in range(2, 9) if n != n_q])
    return random.randint(2, 4), n_q, n_k, random.randint(2, 4), random.randint(2, 5)


def _qkv(batch: int, n_q: int, n_k: int, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.randn(batch, n_q, d), torch.randn(batch, n_k, d), torch.randn(batch, n_k, d)


def _build(submission, d_feat: int, n_head: int, dropout_p: float = 0.0, bias: bool = True):
    MHA = submission.get("MultiHeadedAttention")
    return MHA(d_feat=d_feat, n_head=n_head, dropout_p=dropout_p, bias=bias)


def _load(model, params: dict[str, torch.Tensor]) -> None:
    names = set(model.parameters_by_name())
    missing = sorted(n for n in params if n not in names)
    if any(n.startswith("lin_O.") for n in missing):
        fail("MultiHeadedAttention has no `lin_O` output projection: " + WHY["missing-output-projection"],
             "missing-output-projection")
    if missing:
        fail(f"MultiHeadedAttention has no parameter {missing[0]}: the projections must be "
             "nn.Linear(d_feat, d_feat) layers named lin_Q, lin_K, lin_V, lin_O", "sublayer-names")
    if not any(n.endswith(".bias") for n in params) and any(n.startswith("lin_") and n.endswith(".bias")
                                                            for n in names):
        fail("with bias=False the four projections must have no bias (nn.Linear(..., bias=bias))",
             "bias-ignored")
    model.load_parameters(params)


def _pair(result, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"{what} should return a pair (output, attention)", "output-shape")
    return expect_tensor(result[0], f"{what}'s output"), expect_tensor(result[1], f"{what}'s attention")


def _call(fn, what: str, *args, mask=None):
    try:
        return _pair(fn(*args) if mask is None else fn(*args, mask=mask), what)
    except StudentError as exc:
        if "view size is not compatible" in exc.detail:
            fail(f"{what}: .view() on a permuted (non-contiguous) tensor; use .reshape() or "
                 ".contiguous().view()", "view-needs-contiguous")
        raise


def _kv_length_check(run, batch: int, n_q: int, d: int) -> None:
    """Called when a cross-attention call raised: does it work once n_K == n_Q?"""
    try:
        run(*_qkv(batch, n_q, n_q, d))
    except (StudentError, AssertionError):
        return
    fail("it works only when n_K == n_Q: reshape K and V with their own length n_K, not Q's",
         "kv-length-from-query")


def _run_mha(model, n_head: int, Q, K, V, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    batch, n_q, d_feat = Q.shape
    try:
        x, att = _call(model, "MultiHeadedAttention", Q, K, V, mask=mask)
    except StudentError:
        if K.size(1) != n_q:
            _kv_length_check(lambda q, k, v: _call(model, "MultiHeadedAttention", q, k, v), batch, n_q, d_feat)
        raise
    expect_shape(att, (batch, n_head, n_q, K.size(1)), "attention weights", "output-shape")
    expect_shape(x, (batch, n_q, d_feat), "output x", "output-shape")
    return x, att


def _expect_like_torch(submission, bias: bool = True, mask_kind: str | None = None) -> None:
    batch, n_q, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    if mask_kind == "causal":
        n_q, n_k = min(n_q, n_k), max(n_q, n_k)  # query i sees keys up to n_K - n_Q + i
    Q, K, V = _qkv(batch, n_q, n_k, d_feat)
    mask = None
    if mask_kind == "padding":
        mask = torch.rand(batch, 1, n_k) < 0.6
        mask[:, :, 0], mask[:, :, -1] = True, False  # every row keeps a key and hides one
    elif mask_kind == "causal":
        mask = torch.ones(1, n_q, n_k, dtype=torch.bool).tril(diagonal=n_k - n_q)
    torch_mha = random_torch_mha(d_feat, n_head, bias=bias)
    params = transplant(torch_mha)
    model = _build(submission, d_feat, n_head, bias=bias)
    model.eval()
    _load(model, params)
    x, att = _run_mha(model, n_head, Q, K, V, mask)
    x_ref, att_ref = torch_mha_reference(torch_mha, Q, K, V, mask)
    if is_close(att, att_ref) and is_close(x, x_ref):
        return
    name = diagnose_mha(x, att, params, n_head, Q, K, V, mask)
    if name is not None:
        fail(WHY[name], name)
    if mask is not None:
        plain_x, plain_att = _run_mha(model, n_head, Q, K, V)
        plain_x_ref, plain_att_ref = torch_mha_reference(torch_mha, Q, K, V)
        if not (is_close(plain_att, plain_att_ref) and is_close(plain_x, plain_x_ref)):
            mask_kind = None  # wrong without any mask too: the bug is not about masking
    if mask_kind is None:
        expect_close(att, att_ref, "attention weights (compared with torch.nn.MultiheadAttention)",
                     "wrong-output")
        expect_close(x, x_ref, "output x (compared with torch.nn.MultiheadAttention)", "wrong-output")
    expect_close(att, att_ref, "attention weights (compared with torch.nn.MultiheadAttention)")
    expect_close(x, x_ref, "output x (compared with torch.nn.MultiheadAttention)")


def _fail_if_diagnosed(name: str | None) -> None:
    """A wrong result that a known misconception reproduces is reported as that misconception,
    so a numeric bug is not mislabelled as a shape or broadcasting problem by a later test."""
    if name is not None:
        fail(WHY[name], name)


def _sdpa(submission):
    return submission.get("ScaledDotProductAttention")()


@pytest.mark.rubric(points=2, misconception="output-shape")
def test_attention_output_shapes_with_n_q_differs_from_n_k(submission):
    batch, n_q, n_k, n_head, d_head = _sizes(min_q=1)
    d_v = d_head + random.randint(1, 3)
    out, att = _call(_sdpa(submission), "ScaledDotProductAttention", torch.randn(batch, n_q, d_head),
                     torch.randn(batch, n_k, d_head), torch.randn(batch, n_k, d_v))
    expect_shape(out, (batch, n_q, d_v), "ScaledDotProductAttention's output (d_V may differ from d_K)")
    expect_shape(att, (batch, n_q, n_k), "ScaledDotProductAttention's attention")
    model = _build(submission, n_head * d_head, n_head)
    model.eval()
    _run_mha(model, n_head, *_qkv(batch, n_q, n_k, n_head * d_head))


@pytest.mark.rubric(points=2, misconception="no-scaling")
def test_scaled_dot_product_matches_definition(submission):
    batch, n_q, n_k, _, d_k = _sizes()
    Q, K, V = torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k), torch.randn(batch, n_k, d_k + 1)
    out, att = _call(_sdpa(submission), "ScaledDotProductAttention", Q, K, V)
    out_ref, att_ref = manual_sdpa(Q, K, V)
    if not (is_close(att, att_ref) and is_close(out, out_ref)):
        name = diagnose_sdpa(out, att, Q, K, V)
        if name is not None:
            fail(WHY[name], name)
        expect_close(att, att_ref, "attention = softmax(Q K^T / sqrt(d_K))")
        expect_close(out, out_ref, "output = attention @ V")


@pytest.mark.rubric(points=1, misconception="leading-axes")
def test_scaled_dot_product_broadcasts_leading_axes(submission):
    _, n_q, n_k, _, d_k = _sizes()
    lead = (random.randint(2, 3), random.randint(2, 3), random.randint(1, 2))
    Q, K, V = torch.randn(*lead, n_q, d_k), torch.randn(*lead, n_k, d_k), torch.randn(*lead, n_k, d_k)
    mask = torch.ones(1, 1, n_q, n_k, dtype=torch.bool).tril(diagonal=max(n_k - n_q, 0))
    out, att = _call(_sdpa(submission), "ScaledDotProductAttention", Q, K, V, mask=mask)
    out_ref, att_ref = manual_sdpa(Q, K, V, mask)
    if not (is_close(att, att_ref) and is_close(out, out_ref)):
        _fail_if_diagnosed(diagnose_sdpa(out, att, Q, K, V, mask))
    what = f"with inputs of shape {tuple(Q.shape)}, the"
    expect_close(att, att_ref, f"{what} attention (use transpose(-2, -1), not fixed axes)")
    expect_close(out, out_ref, f"{what} output")


@pytest.mark.rubric(points=2, misconception="softmax-dim")
def test_attention_rows_sum_to_one(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    Q, K, V = _qkv(batch, n_q, n_k, d_head)
    _, att = _call(_sdpa(submission), "ScaledDotProductAttention", Q, K, V)
    model = _build(submission, n_head * d_head, n_head)
    model.eval()
    _, att_mha = _run_mha(model, n_head, *_qkv(batch, n_q, n_k, n_head * d_head))
    for weights, who in ((att, "ScaledDotProductAttention"), (att_mha, "MultiHeadedAttention")):
        expect_shape(weights, weights.shape[:-2] + (n_q, n_k), f"{who}'s attention", "output-shape")
        if not is_close(weights.sum(-1), torch.ones(weights.shape[:-1])):
            if is_close(weights.sum(-2), torch.ones(weights.shape[:-2] + (n_k,))):
                fail(f"{who}: " + WHY["softmax-dim"], "softmax-dim")
            fail(f"{who}: attention rows do not sum to 1 over the keys", "softmax-dim")


@pytest.mark.rubric(points=2, misconception="wrong-output")
def test_matches_torch_multihead_attention(submission):
    _expect_like_torch(submission, bias=True)


@pytest.mark.rubric(points=2, misconception="bias-ignored")
def test_matches_torch_multihead_attention_without_bias(submission):
    _expect_like_torch(submission, bias=False)


@pytest.mark.rubric(points=2, misconception="scale-by-d-feat")
def test_scales_each_head_by_sqrt_d_head(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    params = transplant(random_torch_mha(d_feat, n_head))
    model = _build(submission, d_feat, n_head)
    model.eval()
    _load(model, params)
    Q, K, V = _qkv(batch, n_q, n_k, d_feat)
    x, att = _run_mha(model, n_head, Q, K, V)
    _, att_ref = manual_mha(params, n_head, Q, K, V)
    if not is_close(att, att_ref):
        name = diagnose_mha(x, att, params, n_head, Q, K, V)
        fail(WHY.get(name or "scale-by-d-feat", WHY["scale-by-d-feat"]), name or "scale-by-d-feat")


@pytest.mark.rubric(points=1, misconception="sublayer-names")
def test_projections_are_named_lin_q_k_v_o(submission):
    _, _, _, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    params = transplant(random_torch_mha(d_feat, n_head))
    _load(_build(submission, d_feat, n_head), params)


@pytest.mark.rubric(points=2, misconception="mask-polarity")
def test_padding_mask_keeps_ones(submission):
    _expect_like_torch(submission, mask_kind="padding")


@pytest.mark.rubric(points=2, misconception="mask-polarity")
def test_causal_mask_keeps_ones(submission):
    _expect_like_torch(submission, mask_kind="causal")


@pytest.mark.rubric(points=2, misconception="masked-row-nan")
def test_fully_masked_query_row_stays_finite(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    mask = torch.rand(batch, n_q, n_k) < 0.7
    mask[:, :, 0] = True
    mask[:, random.randrange(n_q), :] = False  # this query may attend to nothing
    Q, K, V = _qkv(batch, n_q, n_k, d_head)
    out, att = _call(_sdpa(submission), "ScaledDotProductAttention", Q, K, V, mask=mask)
    model = _build(submission, n_head * d_head, n_head)
    model.eval()
    x, att_mha = _run_mha(model, n_head, *_qkv(batch, n_q, n_k, n_head * d_head), mask)
    for value, what in ((out, "ScaledDotProductAttention's output"), (att, "ScaledDotProductAttention's attention"),
                        (x, "MultiHeadedAttention's output"), (att_mha, "MultiHeadedAttention's attention")):
        if not torch.isfinite(value).all():
            fail(f"{what} has NaN when a query's keys are all masked: fill masked scores with a large "
                 "finite negative number, not -inf", "masked-row-nan")


@pytest.mark.rubric(points=2, misconception="kv-count-unchecked")
def test_mismatched_key_value_counts_raise_value_error(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    sdpa = _sdpa(submission)
    model = _build(submission, d_feat, n_head)
    Q, K, _ = _qkv(batch, n_q, n_k, d_feat)
    V_long = torch.randn(batch, n_k + random.randint(1, 3), d_feat)
    checks = ((lambda: sdpa(Q, K, V_long), "ScaledDotProductAttention with n_K != n_V"),
              (lambda: model(Q, K, V_long), "MultiHeadedAttention with n_K != n_V"))
    for call, what in checks:
        error = expect_raises("ValueError", call, what)
        if "K" not in error.detail or "V" not in error.detail:
            fail(f"{what}: the ValueError's message should name K and V", "kv-count-unchecked")


@pytest.mark.rubric(points=1, misconception="qk-width-unchecked")
def test_mismatched_query_key_widths_raise_value_error(submission):
    batch, n_q, n_k, _, d_k = _sizes()
    sdpa = _sdpa(submission)
    Q, K, V = torch.randn(batch, n_q, d_k), torch.randn(batch, n_k, d_k + 1), torch.randn(batch, n_k, d_k)
    expect_raises("ValueError", lambda: sdpa(Q, K, V), "ScaledDotProductAttention with d_K of Q != d_K of K")


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
        fail(f"{what} should raise ValueError, but raised {exc.describe()}")
    expect_raises("ValueError", lambda: model(*_qkv(2, 3, 4, d_feat)), what)


@pytest.mark.rubric(points=2, misconception="dropout-in-eval")
def test_dropout_inactive_in_eval(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    params = transplant(random_torch_mha(d_feat, n_head))
    Q, K, V = _qkv(batch, n_q, n_k, d_feat)
    plain = _build(submission, d_feat, n_head, dropout_p=0.0)
    noisy = _build(submission, d_feat, n_head, dropout_p=0.5)
    for model in (plain, noisy):
        model.eval()
        _load(model, params)
    x_ref, _ = _run_mha(plain, n_head, Q, K, V)
    submission.seed(random.randint(0, 2**31 - 1))
    for _ in range(2):
        x, _ = _run_mha(noisy, n_head, Q, K, V)
        if not is_close(x, x_ref):
            fail("in eval() mode dropout must do nothing: use self.dropout (nn.Dropout) or "
                 "F.dropout(..., training=self.training)", "dropout-in-eval")


@pytest.mark.rubric(points=1, misconception="dropout-missing")
def test_dropout_active_in_train_attention_returned_before_it(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    params = transplant(random_torch_mha(d_feat, n_head))
    Q, K, V = _qkv(batch, n_q + 4, n_k + 4, d_feat)
    plain = _build(submission, d_feat, n_head, dropout_p=0.0)
    plain.eval()
    noisy = _build(submission, d_feat, n_head, dropout_p=0.5)
    noisy.train()
    for model in (plain, noisy):
        _load(model, params)
    x_ref, att_ref = _run_mha(plain, n_head, Q, K, V)
    submission.seed(random.randint(0, 2**31 - 1))
    x, att = _run_mha(noisy, n_head, Q, K, V)
    if is_close(x, x_ref):
        fail("with dropout_p=0.5 in train() mode the output is unchanged: dropout on the attention "
             "weights is missing", "dropout-missing")
    if not is_close(att, att_ref):
        fail("the attention returned must be the weights before dropout (apply dropout only when "
             "multiplying with V)", "attention-after-dropout")


@pytest.mark.rubric(points=2, misconception="no-gradient")
def test_gradients_reach_all_four_projections(submission):
    batch, n_q, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    model = _build(submission, d_feat, n_head)
    model.train()
    result = model.keep(*_qkv(batch, n_q, n_k, d_feat))
    try:
        result[0].backward(torch.randn(batch, n_q, d_feat))
    except StudentError as exc:
        fail(f"back-propagating from the output x failed ({exc.type_name}): keep every step in "
             "torch operations (no .detach(), .data, numpy or torch.no_grad())", "no-gradient")
    grads = model.gradients_by_name()
    for layer in ("lin_Q", "lin_K", "lin_V", "lin_O"):
        grad = grads.get(f"{layer}.weight")
        if layer == "lin_O" and f"{layer}.weight" not in grads:
            fail(WHY["missing-output-projection"], "missing-output-projection")
        if grad is None or not torch.is_tensor(grad) or not bool(grad.abs().sum() > 0):
            misconception = "missing-output-projection" if layer == "lin_O" else "no-gradient"
            fail(f"no gradient reaches {layer}.weight: is {layer} used in forward, without detaching?",
                 misconception)


@pytest.mark.rubric(points=1, misconception="output-shape")
def test_batch_of_one_and_single_query(submission):
    _, _, n_k, n_head, d_head = _sizes()
    d_feat = n_head * d_head
    torch_mha = random_torch_mha(d_feat, n_head)
    model = _build(submission, d_feat, n_head)
    model.eval()
    _load(model, transplant(torch_mha))
    Q, K, V = _qkv(1, 1, n_k, d_feat)
    x, att = _run_mha(model, n_head, Q, K, V)
    x_ref, att_ref = torch_mha_reference(torch_mha, Q, K, V)
    if not (is_close(att, att_ref) and is_close(x, x_ref)):
        _fail_if_diagnosed(diagnose_mha(x, att, transplant(torch_mha), n_head, Q, K, V))
    expect_close(att, att_ref, "attention weights for one sequence and one query", "wrong-output")
    expect_close(x, x_ref, "output x for one sequence and one query", "wrong-output")
    out, att = _call(_sdpa(submission), "ScaledDotProductAttention", Q[0], K[0], V[0])
    out_ref, att_ref = manual_sdpa(Q[0], K[0], V[0])
    if not is_close(out, out_ref):
        _fail_if_diagnosed(diagnose_sdpa(out, att, Q[0], K[0], V[0]))
    what = "ScaledDotProductAttention's output for a single query without batch axis"
    expect_shape(out, tuple(out_ref.shape), what, "output-shape")
    expect_close(out, out_ref, what, "wrong-output")
