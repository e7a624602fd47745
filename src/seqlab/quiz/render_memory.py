"""What the spaced-repetition side of the quiz draws: the memory table (``--stats``), the due
session's header, "nothing due, next review ...", and the feedback drill's header.
Text from a bank, a history or a feedback file is escaped before it is markup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqlab.quiz.messages import message

if TYPE_CHECKING:
    from seqlab.quiz.due import DuePlan
    from seqlab.quiz.history import TopicStats
    from seqlab.quiz.schedule import TopicMemory

__all__ = [
    "felt_prompt",
    "render_drill_header",
    "render_due_header",
    "render_next_review",
    "render_nothing_due",
    "render_stats",
    "when_text",
]


def felt_prompt(lang: str) -> str:
    return f"[cyan]{escape(message(lang, 'rate.prompt'))}[/] › "


def when_text(when: datetime, now: datetime, lang: str) -> tuple[str, str]:
    """(local date, "tomorrow" / "in 3 days") of a due time seen from ``now``."""
    day = when.astimezone(now.tzinfo).date()
    days = (day - now.date()).days
    if days <= 0:
        relative = message(lang, "when.today")
    elif days == 1:
        relative = message(lang, "when.tomorrow")
    else:
        relative = message(lang, "when.days", days=days)
    return day.isoformat(), relative


def render_next_review(console: Console, when: datetime | None, count: int, now: datetime,
                       lang: str) -> None:
    if when is None:
        return
    date, relative = when_text(when, now, lang)
    console.print(escape(message(lang, "due.next", date=date, when=relative, count=count)))


def render_due_header(console: Console, plan: DuePlan, lang: str) -> None:
    console.print(f"[bold]{escape(message(lang, 'due.header', reviews=plan.reviews, new=plan.new, limit=plan.new_limit))}[/]")


def render_nothing_due(console: Console, plan: DuePlan, now: datetime, lang: str) -> None:
    """Nothing to ask: say when the next review is, and why no new question came."""
    console.print(f"[bold]{escape(message(lang, 'due.nothing'))}[/]")
    render_next_review(console, plan.next_due, plan.next_count, now, lang)
    if plan.unseen and not plan.new_limit:
        console.print(escape(message(lang, "due.no-new")))
    elif plan.unseen and not plan.new_left:
        console.print(escape(message(lang, "due.new-done", limit=plan.new_limit)))
    elif not plan.unseen:
        console.print(escape(message(lang, "due.all-new-seen")))


def render_drill_header(console: Console, file: str, commands: Sequence[str],
                        lang: str) -> None:
    tags = ", ".join(commands)
    console.print(f"[bold]{escape(message(lang, 'feedback.header', count=len(commands), file=file, tags=tags))}[/]")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)}%"


def render_stats(console: Console, memory: Sequence[TopicMemory], runs: Sequence[TopicStats],
                 lang: str) -> None:
    """One row per topic: seen, due today, due within 7 days, FSRS's retention; on wide
    terminals also the old run counts (runs, right answers, last played)."""
    played = {s.topic: s for s in runs}
    if not played and not any(m.seen for m in memory):
        console.print(message(lang, "stats.empty"))
        return
    wide = console.width >= 80
    # Headers carry their own line breaks and nothing wraps: Rich would rather crop a
    # column than wrap a header, and at 40 columns every cell counts (one-space gaps).
    table = Table(title=message(lang, "stats.title"), box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, padding=(0, 1) if wide else (0, 0))
    table.add_column(message(lang, "stats.topic"), overflow="ellipsis")
    for key in ("seen", "today", "week", "retention", *(("runs", "correct") if wide else ())):
        table.add_column(message(lang, f"stats.{key}"), justify="right", no_wrap=True)
    if wide:
        table.add_column(message(lang, "stats.last"), no_wrap=True)
    rows = {m.topic: m for m in memory}
    for topic in sorted(set(rows) | set(played)):
        m, s = rows.get(topic), played.get(topic)
        seen = m.seen if m else 0
        cells = [escape(topic), f"{seen}/{m.total}" if m and m.total is not None else str(seen),
                 str(m.due_today if m else 0), str(m.due_week if m else 0),
                 _percent(m.retention if m else None)]
        if wide:
            cells += [str(s.sessions), f"{s.correct}/{s.answered}", escape(s.last_played[:10])] \
                if s else ["0", "0/0", ""]
        table.add_row(*cells, style=None if seen or s else "dim")
    console.print(table)
    console.print(f"[dim]{escape(message(lang, 'stats.note'))}[/]")
