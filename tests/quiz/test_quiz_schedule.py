"""Spaced repetition with a fixed clock: FSRS updates each answered question, a wrong answer
comes back sooner than a right one, due questions come most overdue first, and new ones stop
at the daily limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from seqlab.quiz.bank import Choice, Question
from seqlab.quiz.due import card_due, end_of_day, next_review, plan_due
from seqlab.quiz.history import History
from seqlab.quiz.schedule import overview, rating_for, remember, retrievability, review
from seqlab.quiz.session import Outcome, Planned

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def make(qid: str, topic: str = "lstm", tags: tuple[str, ...] = ("t",)) -> Question:
    choices = (Choice({"en": "a", "ko": "가"}), Choice({"en": "b", "ko": "나"}))
    return Question(id=qid, topic=topic, kind="single", tags=tags, text={"en": qid, "ko": qid},
                    explanation={"en": "e", "ko": "설명"}, answer=1, choices=choices)


def outcome(q: Question, correct: bool, felt: str | None = None) -> Outcome:
    return Outcome(Planned(q, (1, 2)), "1" if correct else "2", correct, felt)


def answered(history: History, when: datetime, *results: tuple[Question, bool]) -> History:
    return remember(history, [outcome(q, ok) for q, ok in results], when)


# --- FSRS updates ---------------------------------------------------------------------------

def test_a_wrong_answer_is_due_again_sooner_than_a_right_one():
    a, b = make("a"), make("b")
    h = answered(History(), NOW, (a, False), (b, True))
    wrong, right = card_due(h.questions["a"]), card_due(h.questions["b"])
    assert NOW < wrong < right
    assert wrong - NOW >= DAY  # whole days: no minute-long learning steps in a daily quiz


def test_the_same_holds_for_a_question_already_in_review():
    a = make("a")
    first = answered(History(), NOW, (a, True)).questions["a"]["card"]
    later = card_due({"card": first})
    right = card_due({"card": review(first, "good", later)})
    wrong = card_due({"card": review(first, "again", later)})
    assert later < wrong < right
    assert right - later > later - NOW  # a second right answer stretches the interval


def test_how_it_felt_orders_the_intervals_hard_good_easy():
    dues = [card_due({"card": review(None, rating_for(True, felt), NOW)})
            for felt in ("hard", None, "easy")]
    assert dues == sorted(dues) and len(set(dues)) == 3
    assert rating_for(False, "easy") == "again"


def test_scheduling_is_deterministic_for_the_same_answers():
    assert review(None, "good", NOW) == review(None, "good", NOW)


def test_retrievability_is_one_right_after_a_review_and_falls_with_time():
    card = review(None, "good", NOW)
    now, week, month = (retrievability(card, NOW + d * DAY) for d in (0, 7, 30))
    assert now == pytest.approx(1.0) and 1.0 > week > month > 0.0


def test_remember_keeps_the_first_seen_time_and_the_card_as_plain_json():
    import json

    a = make("a")
    h = answered(History(), NOW, (a, True))
    h = answered(h, NOW + 3 * DAY, (a, False))
    entry = h.questions["a"]
    assert entry["first_seen"] == NOW.isoformat()
    assert json.loads(json.dumps(entry["card"])) == entry["card"]
    assert entry["card"]["last_review"] == (NOW + 3 * DAY).isoformat()


def test_a_naive_time_is_refused_rather_than_guessed():
    with pytest.raises(ValueError):
        review(None, "good", datetime(2026, 1, 1))


# --- what is due today ----------------------------------------------------------------------

def entries_due_at(**offsets: timedelta) -> History:
    """Questions reviewed long ago whose cards fall due at NOW + offset."""
    h = History()
    for qid, offset in offsets.items():
        card = review(None, "again", NOW - 30 * DAY)
        card["due"] = (NOW + offset).isoformat()
        h.questions[qid] = {"topic": "lstm", "right": 0, "wrong": 1, "last": "wrong",
                            "card": card, "first_seen": (NOW - 30 * DAY).isoformat()}
    return h


def test_due_questions_come_most_overdue_first_then_new_ones():
    qs = [make(q) for q in ("late1", "late5", "later-today", "tomorrow", "new1", "new2")]
    h = entries_due_at(late1=-DAY, late5=-5 * DAY, **{"later-today": timedelta(hours=5)},
                       tomorrow=DAY)
    due = plan_due(qs, h.questions, NOW, new_limit=10, seed=1)
    ids = [p.question.id for p in due.planned]
    assert ids[:3] == ["late5", "late1", "later-today"]
    assert sorted(ids[3:]) == ["new1", "new2"] and "tomorrow" not in ids
    assert (due.reviews, due.new, due.due_today) == (3, 2, 3)


def test_today_ends_at_midnight_in_the_clocks_own_time_zone():
    seoul = timezone(timedelta(hours=9))
    now = datetime(2026, 3, 10, 22, 0, tzinfo=seoul)
    assert end_of_day(now) == datetime(2026, 3, 11, 0, 0, tzinfo=seoul)
    h = entries_due_at(late=DAY, soon=DAY)
    h.questions["late"]["card"]["due"] = (now + timedelta(hours=1, minutes=30)).isoformat()
    h.questions["soon"]["card"]["due"] = (now + timedelta(hours=3, minutes=30)).isoformat()
    qs = [make("late"), make("soon")]
    assert [p.question.id for p in plan_due(qs, h.questions, now, new_limit=0).planned] == [
        "late"]  # 23:30 tonight is today; 01:30 is tomorrow in Seoul (though today in UTC)
    assert plan_due(qs, h.questions, now + timedelta(hours=2, minutes=30),
                    new_limit=0).due_today == 2


def test_new_questions_stop_at_the_daily_limit_counting_those_seen_earlier_today():
    qs = [make(f"q{i}") for i in range(8)]
    assert plan_due(qs, {}, NOW, new_limit=5).new == 5
    h = answered(History(), NOW - timedelta(hours=2), (qs[0], True), (qs[1], False),
                 (qs[2], True))
    later = plan_due(qs, h.questions, NOW, new_limit=5)
    assert (later.new_today, later.new_left, later.new, later.reviews) == (3, 2, 2, 0)
    assert {p.question.id for p in later.planned} <= {q.id for q in qs[3:]}
    assert plan_due(qs, h.questions, NOW + DAY, new_limit=5).new_today == 0  # a new day


def test_zero_new_questions_asks_only_the_reviews():
    qs = [make("old"), make("fresh")]
    h = entries_due_at(old=-DAY)
    due = plan_due(qs, h.questions, NOW, new_limit=0)
    assert [p.question.id for p in due.planned] == ["old"]


def test_n_caps_the_session_reviews_first():
    qs = [make(f"r{i}") for i in range(4)] + [make("n")]
    h = entries_due_at(**{f"r{i}": -(i + 1) * DAY for i in range(4)})
    due = plan_due(qs, h.questions, NOW, new_limit=10, n=2)
    assert [p.question.id for p in due.planned] == ["r3", "r2"] and due.new == 0


def test_when_nothing_is_due_the_plan_knows_the_next_review():
    qs = [make("a"), make("b"), make("c")]
    h = entries_due_at(a=3 * DAY, b=3 * DAY + timedelta(hours=1), c=9 * DAY)
    due = plan_due(qs, h.questions, NOW, new_limit=10)
    assert due.planned == [] and due.unseen == 0
    assert due.next_due == NOW + 3 * DAY and due.next_count == 2
    assert next_review(qs, h.questions, NOW) == (NOW + 3 * DAY, 2)


def test_a_seen_question_without_a_card_yet_is_due_at_once():
    due = plan_due([make("x")], {"x": {"topic": "lstm", "right": 1, "wrong": 0}}, NOW,
                   new_limit=0)
    assert [p.question.id for p in due.planned] == ["x"]


def test_the_same_seed_plans_the_same_new_questions():
    qs = [make(f"q{i}") for i in range(20)]
    first = [p.question.id for p in plan_due(qs, {}, NOW, new_limit=5, seed=4).planned]
    assert first == [p.question.id for p in plan_due(qs, {}, NOW, new_limit=5, seed=4).planned]


# --- per-topic memory ------------------------------------------------------------------------

def test_overview_counts_seen_due_today_due_this_week_and_retention():
    h = entries_due_at(a=-DAY, b=2 * DAY, c=10 * DAY)
    h.questions["m"] = {**h.questions["a"], "topic": "mdn"}
    h.questions["gone"] = dict(h.questions["a"])
    rows = {r.topic: r for r in overview(h, NOW, {"lstm": 25, "mdn": 26, "gru": 9},
                                         known_ids={"a", "b", "c", "m"})}
    lstm = rows["lstm"]
    assert (lstm.seen, lstm.total, lstm.due_today, lstm.due_week) == (3, 25, 1, 2)
    assert 0.0 < lstm.retention < 1.0
    assert (rows["mdn"].seen, rows["mdn"].due_today) == (1, 1)
    assert (rows["gru"].seen, rows["gru"].retention) == (0, None)


def test_a_card_fsrs_cannot_read_starts_over_instead_of_losing_the_answer():
    a = make("a")
    h = History(questions={"a": {"topic": "lstm", "right": 0, "wrong": 0,
                                 "card": {"card_id": 1, "state": 2, "step": None,
                                          "stability": None, "difficulty": None,
                                          "due": NOW.isoformat(), "last_review": None}}})
    h = answered(h, NOW, (a, True))
    assert h.questions["a"]["card"] == review(None, "good", NOW)
