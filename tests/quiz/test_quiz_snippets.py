"""Every stated answer that PyTorch can compute is checked against PyTorch itself.

A question's `snippet` runs after its `code` (torch, nn and F predefined, seed 0) and must
leave in `answer` the same value the bank states: the short answer, the text of the right
choice, or true/false. Only this test imports torch; the quiz never does.
"""

from __future__ import annotations

import math

import pytest
from quiz_helpers import REPO

from seqlab.quiz.bank import Question, load_banks
from seqlab.quiz.session import normalise_short

torch = pytest.importorskip("torch")

QUESTIONS = [q for bank in load_banks(REPO / "quizzes").values() for q in bank.questions
             if q.snippet]


def run_snippet(q: Question) -> object:
    namespace = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    torch.manual_seed(0)
    exec(compile(f"{q.code or ''}\n{q.snippet}", f"<{q.source}:{q.id}>", "exec"), namespace)  # noqa: S102
    assert "answer" in namespace, f"{q.source}:{q.id}: the snippet did not set `answer`"
    return namespace["answer"]


def as_tokens(value: object) -> tuple[str, ...]:
    if isinstance(value, torch.Size):
        value = tuple(value)
    if isinstance(value, tuple):
        value = ", ".join(str(v) for v in value)
    return normalise_short(str(value))


def same(computed: tuple[str, ...], stated: tuple[str, ...], tolerance: float) -> bool:
    """Token by token; a stated integer must be exact, a decimal within 1e-4 relative,
    either within the question's own tolerance (what it accepts from students)."""
    if len(computed) != len(stated):
        return False
    for a, b in zip(computed, stated):
        try:
            x, y = float(a), float(b)
        except ValueError:
            if a != b:
                return False
            continue
        if math.isnan(x) or math.isnan(y):
            if not (math.isnan(x) and math.isnan(y)):
                return False
        elif not math.isclose(x, y, rel_tol=0.0 if b.lstrip("-").isdigit() else 1e-4,
                              abs_tol=tolerance):
            return False
    return True


def test_there_are_snippets_to_check():
    assert len(QUESTIONS) >= 40


@pytest.mark.parametrize("q", QUESTIONS, ids=[q.id for q in QUESTIONS])
def test_stated_answer_matches_what_torch_computes(q: Question):
    computed = run_snippet(q)
    if q.kind == "truefalse":
        assert isinstance(computed, bool), f"{q.id}: snippet must set a bool"
        assert computed is q.answer, f"{q.source}:{q.id}: torch says {computed}"
    elif q.kind == "short":
        assert same(as_tokens(computed), normalise_short(q.answer), q.tolerance), (
            f"{q.source}:{q.id}: bank says {q.answer!r}, torch computes {computed!r}")
    else:
        right = [q.choices[i - 1].text["en"] for i in
                 ((q.answer,) if q.kind == "single" else q.answer)]
        computed_items = computed if isinstance(computed, (list, set)) else [computed]
        assert sorted(as_tokens(c) for c in computed_items) == sorted(
            normalise_short(r) for r in right), (
            f"{q.source}:{q.id}: bank's right choice is {right}, torch says {computed!r}")


def test_the_check_catches_a_bank_that_states_a_wrong_number():
    wrong = Question(id="demo", topic="demo", kind="short", tags=("t",),
                     text={"en": "n?", "ko": "n?"}, explanation={"en": ".", "ko": "."},
                     answer="2561", code="lstm = nn.LSTM(10, 20)",
                     snippet="answer = sum(p.numel() for p in lstm.parameters())")
    assert not same(as_tokens(run_snippet(wrong)), normalise_short(wrong.answer), 0.0)
    assert not same(as_tokens(torch.Size([2, 4])), normalise_short("4, 2"), 0.0)
