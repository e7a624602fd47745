"""What to ask today: the questions due (most overdue first), then new ones up to a daily limit.

Pure and stdlib-only (no fsrs): a due date is read straight from the stored card. "Today"
is the calendar day of ``now`` in ``now``'s own time zone, so the command passes local time
and the tests pass a fixed clock. A question is due today when its card falls due before
the end of that day: a review scheduled for this afternoon is offered this morning. The
daily limit counts every question first seen today, in any kind of run (``quiz lstm`` too).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from seqlab.quiz.bank import Question
from seqlab.quiz.session import Planned, arrange

__all__ = ["DEFAULT_NEW", "DuePlan", "card_due", "end_of_day", "first_seen", "next_review",
           "plan_due"]

DEFAULT_NEW = 10
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DuePlan:
    """``planned``: reviews first, then new questions. The rest explains an empty plan."""

    planned: list[Planned]
    reviews: int
    new: int
    due_today: int
    new_today: int
    new_limit: int
    unseen: int
    next_due: datetime | None = None
    next_count: int = 0

    @property
    def new_left(self) -> int:
        return max(0, self.new_limit - self.new_today)


def end_of_day(now: datetime) -> datetime:
    """The midnight that ends ``now``'s day, in ``now``'s time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def card_due(entry: Mapping[str, Any]) -> datetime:
    """When the question is due; one seen without a memory state yet is due at once."""
    card = entry.get("card")
    due = _parse(card.get("due")) if isinstance(card, Mapping) else None
    return due or _LONG_AGO


def first_seen(entry: Mapping[str, Any]) -> datetime | None:
    return _parse(entry.get("first_seen"))


def next_review(questions: Sequence[Question], entries: Mapping[str, Mapping[str, Any]],
                now: datetime, *, after: datetime | None = None) -> tuple[datetime | None, int]:
    """The earliest due time of a seen question (from ``after`` on), and how many questions
    fall due on that same day."""
    dates = sorted(card_due(entries[q.id]) for q in questions if q.id in entries)
    dates = [d for d in dates if after is None or d >= after]
    if not dates:
        return None, 0
    day = dates[0].astimezone(now.tzinfo).date()
    return dates[0], sum(1 for d in dates if d.astimezone(now.tzinfo).date() == day)


def plan_due(
    questions: Sequence[Question],
    entries: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    new_limit: int = DEFAULT_NEW,
    seed: int = 0,
    n: int | None = None,
) -> DuePlan:
    """Due questions by due date (most overdue first), then unseen ones in a seeded order
    until today's new questions reach ``new_limit``; ``n`` caps the whole session."""
    today_end = end_of_day(now)
    day = now.date()
    seen = [q for q in questions if q.id in entries]
    unseen = [q for q in questions if q.id not in entries]
    due_dates = {q.id: card_due(entries[q.id]) for q in seen}
    due = sorted((q for q in seen if due_dates[q.id] < today_end),
                 key=lambda q: (due_dates[q.id], q.topic, q.id))
    new_today = sum(1 for e in entries.values()
                    if (f := first_seen(e)) is not None and f.astimezone(now.tzinfo).date() == day)
    rng = random.Random(seed)
    rng.shuffle(unseen)
    fresh = unseen[:max(0, new_limit - new_today)]
    chosen = (due + fresh)[:n] if n is not None else due + fresh
    next_due, next_count = next_review(seen, entries, now, after=today_end)
    reviews = min(len(due), len(chosen))
    return DuePlan(planned=arrange(chosen, rng), reviews=reviews, new=len(chosen) - reviews,
                   due_today=len(due), new_today=new_today, new_limit=new_limit,
                   unseen=len(unseen), next_due=next_due, next_count=next_count)
