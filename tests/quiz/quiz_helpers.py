"""Helpers shared by the quiz tests (a plain module: conftest files are not imported)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from seqlab.quiz.history import History, save_history
from seqlab.quiz.schedule import review
from seqlab.quiz.session import Planned

REPO = Path(__file__).resolve().parents[2]
QUIZ_SCRIPT = Path(sys.executable).parent / "quiz"


def quiz_command() -> list[str]:
    """The installed console script when there is one, else the module (same code)."""
    if QUIZ_SCRIPT.exists():
        return [str(QUIZ_SCRIPT)]
    return [sys.executable, "-m", "seqlab.cli.quiz"]


def wrong_input(planned: Planned) -> str:
    """A valid answer that is judged wrong."""
    q = planned.question
    if q.kind == "short":
        return "12345678"
    right = planned.correct_numbers()
    if q.kind == "truefalse":
        return "2" if right == (1,) else "1"
    others = [n for n in range(1, len(planned.order) + 1) if n not in right]
    return str(others[0]) if others else ",".join(str(n) for n in right[:-1])


def wrong_for(row: dict) -> str:
    """A valid wrong answer to a question of a `--json` result (its display order)."""
    if row["kind"] == "short":
        return "12345678"
    return "2" if row["expected"] == "1" else "1"


def history_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "seqlab" / "quiz-history.json"


def seed_history(env: dict[str, str], reviewed: dict[str, tuple[str, str, timedelta]]) -> None:
    """A history where each question (id -> topic, FSRS rating, how long ago) was reviewed
    once, so it falls due when FSRS says (an "again" a few days ago is overdue now)."""
    now = datetime.now().astimezone()
    history = History()
    for qid, (topic, rating, ago) in reviewed.items():
        history.questions[qid] = {"topic": topic, "right": int(rating != "again"),
                                  "wrong": int(rating == "again"),
                                  "last": "wrong" if rating == "again" else "right",
                                  "card": review(None, rating, now - ago),
                                  "first_seen": (now - ago).isoformat()}
    assert save_history(history, history_file(env)) is None
