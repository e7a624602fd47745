"""One quiz run in the terminal, from planned questions to the saved history: ask each
question, grade it, optionally ask how it felt, then count it and update its FSRS card.

Shared by every way into a session (``quiz TOPIC``, ``quiz --due``, ``--review``,
``--from-feedback``), so they all schedule alike.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from seqlab.quiz.session import InvalidAnswer, Session, expected_input, parse_felt

if TYPE_CHECKING:
    from rich.console import Console

    from seqlab.quiz.bank import Question
    from seqlab.quiz.history import History
    from seqlab.quiz.session import Planned

__all__ = ["Run", "ask_all", "finish", "result_json"]


def _read(console: Console, prompt: str, echo: bool) -> str:
    """One line of input; piped input is echoed after the prompt (on its own line when the
    two would not fit the width: a long Korean prompt plus "2,3,4" passes 40 columns)."""
    from rich.markup import escape
    from rich.text import Text

    raw = console.input(prompt)
    if echo:
        if Text.from_markup(prompt).cell_len + Text(raw).cell_len > console.width:
            console.print()
        console.print(escape(raw), highlight=False, overflow="fold")
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


class Run:
    """What every session shares: consoles, the loaded history, the seed and the clock.

    ``json_meta``: print the result as JSON on stdout (with these fields first); the quiz
    itself then goes to stderr (``to_stderr``).
    """

    def __init__(self, lang: str, *, to_stderr: bool = False, rate: bool = False,
                 seed: int | None = None, json_meta: dict[str, Any] | None = None) -> None:
        from seqlab.quiz import history as hist
        from seqlab.quiz import render

        self.lang, self.rate, self.json_meta, self.render = lang, rate, json_meta, render
        self.console = render.make_console(stderr=to_stderr)
        self.notices = render.make_console(stderr=True)
        self.now = datetime.now().astimezone()
        self.loaded = hist.load_history(now=self.now)
        if self.loaded.warning:
            self.notice(self.loaded.warning)
        self.seed = seed if seed is not None else random.randrange(1, 1_000_000)

    def message(self, key: str, **params: object) -> str:
        return self.render.message(self.lang, key, **params)

    def notice(self, text: str) -> None:
        self.render.render_notice(self.notices, text)

    def print(self, key: str, **params: object) -> None:
        from rich.markup import escape

        self.console.print(escape(self.message(key, **params)))

    def play(self, planned: list[Planned], label: str, *,
             replay: tuple[str, int, str] | None = None, mode: str = "topic",
             upcoming: list[Question] | None = None) -> int:
        """Ask, grade, schedule, save; then the summary (and, given ``upcoming``, when the
        next of those questions is due)."""
        from seqlab.quiz import history as hist

        session = Session(planned)
        stop_code = ask_all(session, self.console, self.lang, rate=self.rate)
        history = finish(self.loaded.history, session, label, self.now)
        if session.outcomes and (warning := hist.save_history(history)):
            self.notice(warning)
        self.render.render_summary(self.console, session, self.lang,
                                   stopped=stop_code is not None, replay=replay)
        if upcoming is not None:
            from seqlab.quiz.due import next_review
            from seqlab.quiz.render_memory import render_next_review

            when, count = next_review(upcoming, history.questions, self.now)
            render_next_review(self.console, when, count, self.now, self.lang)
        if self.json_meta is not None:
            meta = {"mode": mode, **self.json_meta, "lang": self.lang, "seed": self.seed,
                    "stopped": stop_code is not None}
            print(json.dumps(result_json(session, history, **meta), ensure_ascii=False))
        return stop_code or 0
