"""One quiz run in the terminal, from planned questions to the saved history: ask each
question, grade it, optionally ask how it felt, then count it and update its FSRS card.

Shared by every way into a session (``quiz TOPIC``, ``quiz --due``, ``--review``,
``--from-feedback``), so they all schedule alike.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from seqlab.quiz.session import InvalidAnswer, Session, expected_input, parse_felt

if TYPE_CHECKING:
    from rich.console import Console

    from seqlab.quiz.history import History

__all__ = ["ask_all", "finish", "result_json"]


def _read(console: Console, prompt: str, echo: bool) -> str:
    from rich.markup import escape

    raw = console.input(prompt)
    if echo:
        console.print(escape(raw), highlight=False)
    return raw


def ask_all(session: Session, console: Console, lang: str, *, rate: bool = False) -> int | None:
    """Run the question loop; return None when finished, else the exit code of the stop."""
    from seqlab.quiz import render
    from seqlab.quiz.render_memory import felt_prompt

    echo = not sys.stdin.isatty()
    try:
        while (planned := session.current) is not None:
            render.render_question(console, planned, session.position, session.total, lang)
            while True:
                raw = _read(console, render.prompt_markup(planned, lang), echo)
                try:
                    outcome = session.submit(raw)
                    break
                except InvalidAnswer as invalid:
                    render.render_invalid(console, invalid, lang)
            render.render_outcome(console, outcome, lang)
            while rate and outcome.correct:
                try:
                    outcome = session.rate_last(parse_felt(_read(console, felt_prompt(lang), echo)))
                    break
                except InvalidAnswer as invalid:
                    render.render_invalid(console, invalid, lang)
    except EOFError:
        console.print()
        return 0
    except KeyboardInterrupt:
        console.print()
        return 130
    return None


def finish(history: History, session: Session, label: str, now: datetime) -> History:
    """Count the run (``history.record``) and review each answered card (``schedule``)."""
    if not session.outcomes:
        return history
    from seqlab.quiz import history as hist
    from seqlab.quiz.schedule import remember

    results = [(o.planned.question.id, o.planned.question.topic, o.correct)
               for o in session.outcomes]
    hist.record(history, label, results, session.total,
                now.astimezone().strftime("%Y-%m-%dT%H:%M:%S"))
    return remember(history, session.outcomes, now)


def result_json(session: Session, history: History, **meta: Any) -> dict[str, Any]:
    """The run as JSON: ``meta`` first, then the score and every question (with its next due
    date once answered)."""
    score = session.score()
    rows = []
    for number, planned in enumerate(session.planned):
        outcome = session.outcomes[number] if number < len(session.outcomes) else None
        q = planned.question
        card = history.questions.get(q.id, {}).get("card") if outcome else None
        rows.append({
            "id": q.id, "topic": q.topic, "kind": q.kind, "tags": list(q.tags),
            "answer": outcome.given if outcome else None,
            "expected": expected_input(planned),
            "correct": outcome.correct if outcome else None,
            "felt": outcome.felt if outcome else None,
            "due": card.get("due") if isinstance(card, dict) else None,
        })
    return {
        **meta, "finished": score.finished,
        "score": {"correct": score.correct, "answered": score.answered,
                  "total": score.total, "percent": score.percent},
        "questions": rows,
    }
