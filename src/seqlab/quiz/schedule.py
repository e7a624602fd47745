"""Spaced repetition with FSRS (the `fsrs` package): every answer updates its question's memory
state; the state says when the question is due again and how likely it is still remembered.

The scheduler is configured for a daily quiz: no minute-long learning steps (every interval is
whole days, at least one), and no fuzzing (the same answers give the same schedule, which a
student can reason about and a test can check). A wrong answer is rated ``Again``, a right one
``Good``, or ``Hard``/``Easy`` when the student said how it felt (``quiz --rate``).

``fsrs`` is imported on first use only (it costs about 35 ms): ``quiz --list`` never loads it.
A card is stored as ``fsrs.Card.to_dict()`` inside the question's history entry, so the file
stays plain JSON and a later fsrs reads it back with ``Card.from_dict``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from seqlab.quiz.due import card_due, end_of_day

if TYPE_CHECKING:
    from fsrs import Scheduler

    from seqlab.quiz.history import History
    from seqlab.quiz.session import Outcome

__all__ = [
    "RATINGS",
    "TopicMemory",
    "overview",
    "rating_for",
    "remember",
    "retrievability",
    "review",
]

RATINGS = ("again", "hard", "good", "easy")
WEEK = timedelta(days=6)  # today's end plus six days: "due within 7 days", today included


@dataclass(frozen=True)
class TopicMemory:
    """``retention``: FSRS's mean probability, now, of recalling a seen question (None: none)."""

    topic: str
    seen: int
    total: int | None
    due_today: int
    due_week: int
    retention: float | None


@lru_cache(maxsize=1)
def _scheduler() -> Scheduler:
    from fsrs import Scheduler

    return Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("schedule times must be timezone-aware")
    return when.astimezone(UTC)


def rating_for(correct: bool, felt: str | None = None) -> str:
    """wrong -> again; right -> good, or hard/easy when the student said so."""
    if not correct:
        return "again"
    return felt if felt in ("hard", "easy") else "good"


def review(card: Mapping[str, Any] | None, rating: str, when: datetime) -> dict[str, Any]:
    """The card after one review at ``when`` (a new card when ``card`` is None)."""
    from fsrs import Card, Rating

    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}")
    at = _utc(when)
    current = (Card.from_dict(dict(card)) if card  # type: ignore[arg-type]
               else Card(card_id=int(at.timestamp() * 1000), due=at))
    updated, _log = _scheduler().review_card(current, Rating[rating.capitalize()], at)
    return dict(updated.to_dict())


def retrievability(card: Mapping[str, Any], now: datetime) -> float:
    """FSRS's probability that the question is answered right at ``now``."""
    from fsrs import Card

    return float(_scheduler().get_card_retrievability(Card.from_dict(dict(card)),  # type: ignore[arg-type]
                                                      _utc(now)))


def remember(history: History, outcomes: Iterable[Outcome], now: datetime) -> History:
    """Review each answered question's card (the counts are kept by ``history.record``)."""
    stamp = _utc(now).isoformat()
    for outcome in outcomes:
        q = outcome.planned.question
        entry = history.questions.setdefault(q.id, {"topic": q.topic, "right": 0, "wrong": 0})
        entry.setdefault("first_seen", stamp)
        rating = rating_for(outcome.correct, outcome.felt)
        try:
            entry["card"] = review(entry.get("card"), rating, now)
        except (ValueError, TypeError, KeyError, AssertionError):
            # a card this fsrs cannot read (hand-edited, or from a future format): start over
            # rather than lose the answer or the quiz
            entry["card"] = review(None, rating, now)
    return history


def overview(history: History, now: datetime, totals: Mapping[str, int] | None = None,
             known_ids: Collection[str] | None = None) -> list[TopicMemory]:
    """Per topic: questions seen, due by the end of today, due within 7 days, mean retention.

    ``totals`` (questions per bank) adds topics nobody has played yet and the "of N";
    ``known_ids`` (the banks' question ids) leaves out questions no longer in any bank.
    """
    today_end = end_of_day(now)
    week_end = today_end + WEEK
    rows: dict[str, dict[str, Any]] = {t: {"seen": 0, "today": 0, "week": 0, "recall": []}
                                       for t in (totals or {})}
    for qid, entry in history.questions.items():
        topic = entry.get("topic")
        if known_ids is not None and qid not in known_ids:
            continue
        row = rows.setdefault(topic, {"seen": 0, "today": 0, "week": 0, "recall": []})
        row["seen"] += 1
        due = card_due(entry)
        row["today"] += due < today_end
        row["week"] += due < week_end
        if entry.get("card"):
            try:
                row["recall"].append(retrievability(entry["card"], now))
            except (ValueError, TypeError, KeyError):
                pass  # counted as seen and due; no estimate from a card fsrs cannot read
    return [
        TopicMemory(topic=t, seen=r["seen"], total=(totals or {}).get(t), due_today=r["today"],
                    due_week=r["week"],
                    retention=sum(r["recall"]) / len(r["recall"]) if r["recall"] else None)
        for t, r in sorted(rows.items())
    ]
