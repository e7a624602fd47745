"""The mha graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only mha requires: each submission's
expected verdict is first checked here against torch's own modules, in this process, so the
corpus cannot drift into files that are not what their names claim."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from grader_proofs import (
    GraderProof,
    ProofClass,
    charged_ids,
    import_submission,
    misconception_of,
    precision,
)
from seqlab_testing import REPO

from seqlab.oracles.mha import (
    manual_sdpa,
    merged_heads,
    random_torch_mha,
    scores_dropped_before_softmax,
    torch_mha_gradients,
    torch_mha_reference,
    trace_dropout,
    transplant,
)
from seqlab.oracles.tolerance import is_close
from seqlab.sandbox.dispatcher import resolve_parameter

PROOF = ProofClass("mha")
REQUIRED_MUTANTS = ("mask-without-head-axis", "shared-qkv-projection", "floor-division", "leading-axes",
                    "no-gradient", "scale-by-d-feat", "kv-length-from-query", "output-shape", "softmax-dim",
                    "dropout-on-output", "dropout-on-merged-heads", "dropout-not-rescaled", "dropout-p-ignored")


class TestMhaGraderProof(GraderProof):
    assignment = "mha"

    def test_precision_is_reported(self, graded, capsys):
        exact, total = precision(graded, PROOF.bugs)
        with capsys.disabled():
            print(f"\nmha precision: {exact}/{total} single-bug mutants charged with exactly their own id")
        assert exact == total


    def test_the_skeleton_is_charged_with_its_stubs_only(self, graded):
        """Every later item that hits the same stub says "same cause as" instead of naming a
        misconception the stub says nothing about."""
        assert charged_ids(graded["skeleton"]) == {"not-implemented"}

    def test_made_up_gradients_earn_nothing(self, graded):
        """Issue 10 item 5: forward under no_grad, p.grad = ones written by hand: right values,
        still no gradient marks (they are compared with torch's own gradients)."""
        item = _item(graded["bug_no_gradient__no_grad_fake_grads"], "gradients_match_torch_multihead_attention")
        assert not item["passed"] and item["misconception"] == "no-gradient"

    def test_a_failure_an_earlier_item_explains_names_no_new_id(self, graded):
        """`//` also breaks back-propagation: that item says so and charges nothing new."""
        item = _item(graded["bug_floor_division"], "gradients_match_torch_multihead_attention")
        assert not item["passed"] and item["misconception"] is None
        assert item["message"].startswith("same cause as “Scores divided with // (floor division)”")

    def test_a_crash_is_reported_with_its_type_and_the_students_line(self, graded):
        item = _item(graded["bug_mask_without_head_axis"], "padding_mask_keeps_ones")
        assert item["misconception"] == "mask-without-head-axis"
        assert "RuntimeError" in item["message"] and "(cell 0, line" in item["message"]

    def test_projections_bound_twice_get_their_weights(self, graded):
        """The ModuleList also bound as lin_Q .. lin_O (it lost 17/30 as "no lin_O")."""
        student = graded["ok_modulelist_aliases"]
        assert student["score"] == student["max_score"]


def _item(student: dict, item_id: str) -> dict:
    return next(t for t in student["tests"] if t["id"] == item_id)


def test_hidden_sizes_keep_every_axis_apart_and_differ_from_the_public_checks():
    grader = import_submission(REPO / "graders" / "test_mha.py")  # trusted code, imported for its size rules
    for seed in range(300):
        random.seed(seed)
        s = grader._sizes()
        assert len({s.batch, s.n_q, s.n_k, s.n_head, s.d_head, s.d_feat}) == 6
        sizes = grader._sdpa_sizes()
        assert len(set(sizes)) == 5 and sizes != (2, 3, 5, 8, 6)


def test_the_class_has_every_required_mutant_and_5_correct_styles():
    assert set(REQUIRED_MUTANTS) <= {misconception_of(path) for path in PROOF.bugs}
    assert len(PROOF.styles) >= 5


# -- the expected verdicts, checked against torch (never against the graders) --------------------
B, N_HEAD, N_Q, N_K, D_HEAD = 3, 2, 4, 6, 5  # all different; d_feat = 10
D_FEAT = N_HEAD * D_HEAD


def _model(module, bias: bool = True, dropout_p: float = 0.0):  # weights as torch's, by attribute path
    torch_mha = random_torch_mha(D_FEAT, N_HEAD, bias=bias)
    model = module.MultiHeadedAttention(d_feat=D_FEAT, n_head=N_HEAD, dropout_p=dropout_p, bias=bias)
    with torch.no_grad():
        for name, value in transplant(torch_mha).items():
            resolve_parameter(model, name).copy_(value)
    return model, torch_mha


def _forward(module, bias: bool = True, mask: torch.Tensor | None = None, batch: int = B, n_q: int = N_Q) -> bool:
    model, torch_mha = _model(module, bias)
    Q, K, V = torch.randn(batch, n_q, D_FEAT), torch.randn(batch, N_K, D_FEAT), torch.randn(batch, N_K, D_FEAT)
    x, att = model.eval()(Q, K, V) if mask is None else model.eval()(Q, K, V, mask=mask)
    x_ref, att_ref = torch_mha_reference(torch_mha, Q, K, V, mask)
    return is_close(x, x_ref) and is_close(att, att_ref)


def _padding() -> torch.Tensor:
    mask = torch.rand(B, 1, N_K) < 0.6
    mask[..., 0], mask[..., -1] = True, False
    return mask


def _sdpa(module, lead: tuple[int, ...]) -> bool:
    Q, K, V = torch.randn(*lead, N_Q, D_HEAD), torch.randn(*lead, N_K, D_HEAD), torch.randn(*lead, N_K, 7)
    out, att = module.ScaledDotProductAttention()(Q, K, V)
    out_ref, att_ref = manual_sdpa(Q, K, V)
    return is_close(out, out_ref) and is_close(att, att_ref)


def _raises_value_error(call: Callable[[], object]) -> bool:
    try:
        call()
    except ValueError:
        return True
    return False


def _masked_rows_finite(module) -> bool:
    mask = torch.ones(B, N_Q, N_K, dtype=torch.bool)
    mask[:, 1] = False
    model, _ = _model(module)
    x, att = model.eval()(torch.randn(B, N_Q, D_FEAT), torch.randn(B, N_K, D_FEAT), torch.randn(B, N_K, D_FEAT),
                          mask=mask)
    return bool(torch.isfinite(x).all() and torch.isfinite(att).all())


def _dropout(module, train: bool) -> bool:
    plain, _ = _model(module)
    noisy = module.MultiHeadedAttention(d_feat=D_FEAT, n_head=N_HEAD, dropout_p=0.5)
    noisy.load_state_dict(plain.state_dict())
    Q, K = torch.randn(B, N_Q + 12, D_FEAT), torch.randn(B, N_K + 12, D_FEAT)
    x_ref, att_ref = plain.eval()(Q, K, K)
    x, att = (noisy.train() if train else noisy.eval())(Q, K, K)
    return (not is_close(x, x_ref) and is_close(att, att_ref)) if train else is_close(x, x_ref)


def _dropout_on_weights(module, p: float = 0.3, rows: int = 1500) -> bool:
    """Dropout of each attention weight, by its statistics over many rows of one input (the same
    Q, K, V repeated over the batch): lin_O inverted gives the heads' output z of every row; z must
    average to the eval value (kept weights scaled by 1/(1-p)) and each entry's variance must be
    p/(1-p) * sum_j A_ij^2 v_jd^2, that of dropping every weight A_ij alone with probability p.
    Dropout after lin_O or on the merged heads, another p, or no rescaling break one of the two.
    Dropout of the values has that same variance per entry but one mask for every query, so the two
    queries' outputs move together; each weight's own mask leaves them uncorrelated."""
    model, torch_mha = _model(module, dropout_p=p)
    n_q, n_k = 2, 3
    Q, K, V = (torch.randn(1, n, D_FEAT).expand(rows, n, D_FEAT) for n in (n_q, n_k, n_k))
    with torch.no_grad():
        x = model.train()(Q, K, V)[0].double()
    weight, bias = (resolve_parameter(model, f"lin_O.{kind}").detach().double() for kind in ("weight", "bias"))
    z = torch.linalg.solve(weight, (x - bias).reshape(-1, D_FEAT).T).T.reshape(rows, n_q, N_HEAD, D_HEAD)
    _, attention = torch_mha_reference(torch_mha, Q[:1], K[:1], V[:1])
    w_v, b_v = torch_mha.in_proj_weight[2 * D_FEAT:].detach(), torch_mha.in_proj_bias[2 * D_FEAT:].detach()
    v = (V[0].double() @ w_v.T + b_v).reshape(n_k, N_HEAD, D_HEAD).transpose(0, 1)      # (n_head, n_K, d_head)
    mean = torch.einsum("hqk,hkd->qhd", attention[0], v)
    var = p / (1 - p) * torch.einsum("hqk,hkd->qhd", attention[0] ** 2, v ** 2)
    mean_ok = bool(((z.mean(0) - mean).abs() <= 5 * (var / rows).sqrt() + 1e-4).all())
    centred = z - z.mean(0)
    correlation = (centred[:, 0] * centred[:, 1]).mean(0) / (centred[:, 0].std(0) * centred[:, 1].std(0))
    return mean_ok and bool(((z.var(0) / var - 1).abs() < 0.25).all()) and float(correlation.mean()) < 0.1


def _gradients(module) -> bool:
    model, torch_mha = _model(module)
    Q, K, V = torch.randn(B, N_Q, D_FEAT), torch.randn(B, N_K, D_FEAT), torch.randn(B, N_K, D_FEAT)
    grad_x = torch.randn(B, N_Q, D_FEAT)
    inputs = [t.clone().requires_grad_(True) for t in (Q, K, V)]
    model.train()(*inputs)[0].backward(grad_x)
    reference = torch_mha_gradients(torch_mha, Q, K, V, grad_x)
    got = {name: resolve_parameter(model, name).grad for name in reference if "." in name}
    got.update(zip("QKV", (t.grad for t in inputs)))
    return all(isinstance(got[n], torch.Tensor) and is_close(got[n], g, atol=1e-4, rtol=1e-3)
               for n, g in reference.items())


PROPERTIES: dict[str, Callable] = {
    "forward": lambda m: _forward(m),
    "forward-no-bias": lambda m: _forward(m, bias=False),
    "forward-size-one": lambda m: _forward(m, batch=1) and _forward(m, n_q=1),
    "padding-mask": lambda m: _forward(m, mask=_padding()),
    "causal-mask": lambda m: _forward(m, mask=torch.ones(1, N_Q, N_K, dtype=torch.bool).tril(N_K - N_Q)),
    "sdpa-3d": lambda m: _sdpa(m, (B,)),
    "sdpa-any-rank": lambda m: _sdpa(m, ()) and _sdpa(m, (B, N_HEAD, 2)),
    "masked-row-finite": _masked_rows_finite,
    "kv-count-checked": lambda m: _raises_value_error(lambda: m.ScaledDotProductAttention()(
        torch.randn(N_Q, D_HEAD), torch.randn(N_K, D_HEAD), torch.randn(N_K + 1, D_HEAD)))
        and _raises_value_error(lambda: m.MultiHeadedAttention(D_FEAT, N_HEAD)(
            torch.randn(B, N_Q, D_FEAT), torch.randn(B, N_K, D_FEAT), torch.randn(B, N_K + 1, D_FEAT))),
    "qk-width-checked": lambda m: _raises_value_error(lambda: m.ScaledDotProductAttention()(
        torch.randn(N_Q, D_HEAD), torch.randn(N_K, D_HEAD + 1), torch.randn(N_K, D_HEAD))),
    "head-count-checked": lambda m: _raises_value_error(lambda: m.MultiHeadedAttention(d_feat=11, n_head=3)(
        torch.randn(2, 3, 11), torch.randn(2, 4, 11), torch.randn(2, 4, 11))),
    "dropout-off-in-eval": lambda m: _dropout(m, train=False),
    "dropout-on-in-train": lambda m: _dropout(m, train=True),
    "gradients-like-torch": _gradients,
    "dropout-on-weights": _dropout_on_weights,
}

# Which torch-checked property a mutant of each id must break (at least one of them).
BROKEN_BY = {
    "output-shape": {"forward", "forward-size-one", "sdpa-any-rank"},
    "no-scaling": {"sdpa-3d"}, "softmax-dim": {"sdpa-3d", "forward"}, "floor-division": {"sdpa-3d"},
    "scale-by-d-feat": {"forward"}, "wrong-output": {"forward"}, "leading-axes": {"sdpa-any-rank"},
    "mask-polarity": {"padding-mask", "causal-mask"}, "mask-fill-zero": {"padding-mask", "causal-mask"},
    "mask-after-softmax": {"padding-mask", "causal-mask"}, "mask-without-head-axis": {"padding-mask"},
    "masked-row-nan": {"masked-row-finite"}, "kv-count-unchecked": {"kv-count-checked"},
    "qk-width-unchecked": {"qk-width-checked"}, "head-divisibility-unchecked": {"head-count-checked"},
    "dropout-in-eval": {"dropout-off-in-eval"}, "dropout-missing": {"dropout-on-in-train"},
    "attention-after-dropout": {"dropout-on-in-train"}, "dropout-on-output": {"dropout-on-weights"},
    "dropout-on-merged-heads": {"dropout-on-weights"}, "dropout-not-rescaled": {"dropout-on-weights"},
    "dropout-p-ignored": {"dropout-on-weights"}, "dropout-before-softmax": {"dropout-on-in-train", "dropout-on-weights"},
    "dropout-on-inputs": {"dropout-on-in-train", "dropout-on-weights"},
    "no-gradient": {"gradients-like-torch"},
    "bias-ignored": {"forward-no-bias"}, "kv-length-from-query": {"forward"},
    "split-heads-without-permute": {"forward"}, "merge-heads-without-permute": {"forward"},
    "missing-output-projection": {"forward"}, "shared-qkv-projection": {"forward"},
    "view-needs-contiguous": {"forward"},
}


def broken_properties(path: Path) -> set[str]:
    module = import_submission(path)
    broken = set()
    torch.manual_seed(0)
    for name, check in PROPERTIES.items():
        try:
            ok = check(module)
        except Exception:  # noqa: BLE001 -- a crash breaks the property (e.g. a 4-D-only transpose)
            ok = False
        if not ok:
            broken.add(name)
    return broken


@pytest.mark.parametrize("style", PROOF.styles, ids=lambda p: p.stem)
def test_correct_style_really_agrees_with_torch(style):
    assert broken_properties(style) == set()


@pytest.mark.parametrize("mutant", PROOF.bugs, ids=lambda p: p.stem)
def test_mutant_really_breaks_what_its_id_says(mutant):
    expected = BROKEN_BY[misconception_of(mutant)]
    assert broken_properties(mutant) & expected, f"torch finds nothing wrong of {sorted(expected)}"



# -- the read-back of where dropout acted, on outputs built with torch's own F.dropout ------------
def _readable(n_head: int = 2, d_head: int = 9) -> dict[str, torch.Tensor]:
    params = transplant(random_torch_mha(n_head * d_head, n_head))
    for name in ("lin_V.weight", "lin_O.weight"):
        params[name] = torch.linalg.qr(torch.randn(n_head * d_head, n_head * d_head, dtype=torch.float64))[0].float()
    return params


@pytest.mark.parametrize("where", ["none", "weights", "merged-heads", "output", "values", "raw-values"])
def test_trace_dropout_finds_where_torchs_dropout_acted(where):
    torch.manual_seed(3)
    batch, n_head, n_q, n_k, d_head, p = 3, 2, 8, 6, 9, 0.3
    params = _readable(n_head, d_head)
    Q, K, V = torch.randn(batch, n_q, n_head * d_head), torch.randn(batch, n_k, n_head * d_head), \
        torch.randn(batch, n_k, n_head * d_head)
    V_seen = F.dropout(V, p, training=True) if where == "raw-values" else V  # dropout on V before lin_V
    merged, attention, v = merged_heads(params, n_head, Q, K, V_seen)
    if where == "values":
        merged = (attention @ F.dropout(v, p, training=True)).transpose(1, 2).reshape(merged.shape)
    if where == "weights":
        merged = (F.dropout(attention, p, training=True) @ v).transpose(1, 2).reshape(merged.shape)
    if where == "merged-heads":
        merged = F.dropout(merged, p, training=True)
    x = merged @ params["lin_O.weight"].double().T + params["lin_O.bias"].double()
    if where == "output":
        x = F.dropout(x, p, training=True)
    trace = trace_dropout(x.float(), params, n_head, Q, K, V)
    assert trace.where == ("values" if where == "raw-values" else where)
    assert where == "none" or (abs(trace.scale - 1 / (1 - p)) < 1e-3 and 0.1 < trace.rate < 0.5)


def test_scores_dropped_before_the_softmax_are_told_from_weights_dropped_after_it():
    torch.manual_seed(4)
    n_head, p = 2, 0.3
    params = _readable(n_head)
    Q, K = torch.randn(3, 8, 18), torch.randn(3, 6, 18)
    q, k = (x.double() @ params[f"lin_{n}.weight"].double().T + params[f"lin_{n}.bias"].double() for n, x in (("Q", Q), ("K", K)))
    q, k = (t.reshape(3, -1, n_head, 9).transpose(1, 2) for t in (q, k))
    scores = q @ k.transpose(-2, -1) / 3.0
    before = torch.softmax(F.dropout(scores, p, training=True), dim=-1).float()
    after = F.dropout(torch.softmax(scores, dim=-1), p, training=True).float()
    assert scores_dropped_before_softmax(before, params, n_head, Q, K, p)
    assert not scores_dropped_before_softmax(after, params, n_head, Q, K, p)
    assert not scores_dropped_before_softmax(torch.softmax(scores, dim=-1).float() * 0.9, params, n_head, Q, K, p)
