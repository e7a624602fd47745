"""Helpers shared by the quiz tests (a plain module: conftest files are not imported)."""

from __future__ import annotations

import sys
from pathlib import Path

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
