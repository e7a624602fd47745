"""The quiz session is a pure state machine: planning, answer checking and scoring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqlab.quiz.bank import Choice, Question
from seqlab.quiz.session import (
    InvalidAnswer,
    Planned,
    Session,
    check_answer,
    expected_input,
    normalise_short,
    plan,
)


def make(kind: str, answer: object, n_choices: int = 0, qid: str = "q", tags=("t",),
         accept: tuple[str, ...] = (), tolerance: float = 0.0) -> Question:
    choices = tuple(Choice({"en": f"choice {i}", "ko": f"보기 {i}"}) for i in range(1, n_choices + 1))
    return Question(id=qid, topic="demo", kind=kind, tags=tuple(tags),
                    text={"en": "text", "ko": "본문"}, explanation={"en": "why", "ko": "이유"},
                    answer=answer, choices=choices, accept=accept, tolerance=tolerance)


def unshuffled(q: Question) -> Planned:
    return Planned(q, tuple(range(1, len(q.choices) + 1)))


POOL = [make("single", 1, 3, qid=f"q{i}", tags=("even" if i % 2 == 0 else "odd",))
        for i in range(12)]


# --- planning -------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_questions_in_the_same_order_with_the_same_choices():
    assert plan(POOL, n=5, seed=42) == plan(POOL, n=5, seed=42)


def test_different_seeds_give_different_orders():
    orders = {tuple(p.question.id for p in plan(POOL, seed=s)) for s in range(5)}
    assert len(orders) > 1


def test_n_limits_the_number_of_questions_and_never_repeats_one():
    ids = [p.question.id for p in plan(POOL, n=7, seed=1)]
    assert len(ids) == 7 and len(set(ids)) == 7


def test_n_larger_than_the_pool_asks_every_question_once():
    assert len(plan(POOL, n=100, seed=1)) == len(POOL)


def test_tag_keeps_only_questions_carrying_that_tag():
    assert {p.question.id for p in plan(POOL, tag="even", seed=3)} == {
        f"q{i}" for i in range(0, 12, 2)}


def test_only_ids_restricts_the_pool_for_review():
    assert {p.question.id for p in plan(POOL, only_ids={"q3", "q5"}, seed=0)} == {"q3", "q5"}


def test_shuffled_choices_still_point_at_the_right_answer():
    q = make("single", 2, 4)
    for seed in range(20):
        (planned,) = plan([q], seed=seed)
        (right,) = planned.correct_numbers()
        assert planned.choices[right - 1].text["en"] == "choice 2"


# --- short answers ----------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["2,4,8", "(2, 4, 8)", "[2,4,8]", "torch.Size([2, 4, 8])",
                                   " 2 4 8 ", "2x4x8", "(2,4,8,)"])
def test_a_shape_typed_in_any_usual_way_is_the_same_answer(typed):
    assert normalise_short(typed) == ("2", "4", "8")


def test_numbers_are_compared_by_value():
    q = unshuffled(make("short", "0.5"))
    assert check_answer(q, ".50").correct
    assert check_answer(q, "1/2").correct is False


def test_a_large_count_may_be_typed_with_thousands_separators():
    q = unshuffled(make("short", "2560"))
    assert check_answer(q, "2,560").correct and check_answer(q, "2560").correct


def test_tolerance_accepts_a_rounded_number_and_rejects_a_wrong_one():
    q = unshuffled(make("short", "0.964", tolerance=0.005))
    assert check_answer(q, "0.96").correct
    assert not check_answer(q, "0.97").correct


def test_accepted_alternatives_count_as_right():
    q = unshuffled(make("short", "1", accept=("-1",)))
    assert check_answer(q, "-1").correct and not check_answer(q, "0").correct


def test_a_shape_with_a_missing_axis_is_wrong():
    assert not check_answer(unshuffled(make("short", "1, 4, 5")), "4, 5").correct


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=5),
       st.sampled_from(["{}", "({})", "[{}]", "torch.Size([{}])"]),
       st.sampled_from([",", ", ", " , "]))
def test_any_bracketing_and_spacing_of_a_shape_normalises_alike(dims, wrapper, sep):
    typed = wrapper.format(sep.join(str(d) for d in dims))
    assert normalise_short(typed) == tuple(str(d) for d in dims)


# --- choices, true/false, invalid input -------------------------------------------------

def test_single_choice_right_and_wrong():
    q = unshuffled(make("single", 3, 4))
    assert check_answer(q, "3").correct and not check_answer(q, "1").correct


def test_multiple_answers_must_be_exactly_the_right_set_in_any_order():
    q = unshuffled(make("multi", (1, 3), 4))
    assert check_answer(q, "3, 1").correct and check_answer(q, "1 3").correct
    assert not check_answer(q, "1").correct and not check_answer(q, "1,2,3").correct


@pytest.mark.parametrize("typed", ["1", "t", "True", "y", "o", "참", "예"])
def test_true_can_be_typed_as_a_number_or_a_word_in_either_language(typed):
    assert check_answer(unshuffled(make("truefalse", True)), typed).correct


@pytest.mark.parametrize("typed", ["2", "f", "false", "n", "x", "거짓", "아니오"])
def test_false_can_be_typed_as_a_number_or_a_word_in_either_language(typed):
    assert check_answer(unshuffled(make("truefalse", False)), typed).correct


@pytest.mark.parametrize(("kind", "answer", "typed", "code"), [
    ("single", 1, "", "empty"),
    ("single", 1, "   ", "empty"),
    ("single", 1, "abc", "not-a-number"),
    ("single", 1, "0", "out-of-range"),
    ("single", 1, "9", "out-of-range"),
    ("single", 1, "1 2", "one-number"),
    ("multi", (1,), "1,x", "not-a-number"),
    ("truefalse", True, "maybe", "truefalse"),
    ("short", "3", "", "empty"),
])
def test_input_that_is_not_an_answer_is_rejected_with_a_hint_code(kind, answer, typed, code):
    q = unshuffled(make(kind, answer, 4 if kind in ("single", "multi") else 0))
    with pytest.raises(InvalidAnswer) as info:
        check_answer(q, typed)
    assert info.value.code == code


def test_invalid_input_costs_nothing():
    session = Session(plan([make("single", 1, 3)], seed=0))
    with pytest.raises(InvalidAnswer):
        session.submit("7")
    assert session.position == 1 and session.outcomes == [] and not session.finished


# --- session and score --------------------------------------------------------------------

def test_the_session_walks_through_the_questions_and_scores_them():
    questions = [make("single", 1, 2, qid=f"q{i}") for i in range(3)]
    session = Session(plan(questions, seed=0))
    assert (session.position, session.total) == (1, 3)
    session.submit(expected_input(session.current))
    session.submit(expected_input(session.current))
    first_wrong = session.current
    session.submit(str(3 - first_wrong.correct_numbers()[0]))
    assert session.finished and session.current is None
    score = session.score()
    assert (score.correct, score.answered, score.total, score.percent) == (2, 3, 3, 67)
    assert [o.correct for o in session.outcomes] == [True, True, False]


def test_a_stopped_session_scores_only_what_was_answered():
    session = Session(plan([make("truefalse", True, qid=f"q{i}") for i in range(4)], seed=0))
    session.submit("1")
    score = session.score()
    assert (score.correct, score.answered, score.total, score.finished) == (1, 1, 4, False)


def test_an_empty_score_is_zero_percent_not_a_division_error():
    assert Session([]).score().percent == 0


def test_expected_input_is_always_judged_right_for_every_real_question(banks):
    for bank in banks.values():
        for planned in plan(bank.questions, seed=7):
            assert check_answer(planned, expected_input(planned)).correct, planned.question.id
