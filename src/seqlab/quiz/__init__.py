"""Terminal quiz: bank (load + validate TOML) -> session (pure state machine) -> render (Rich).

Importing this package loads only the bank and session layers (stdlib only); the Rich
layer lives in :mod:`seqlab.quiz.render` (and ``render_memory``), the disk layer in
:mod:`seqlab.quiz.history`, spaced repetition in :mod:`seqlab.quiz.schedule` (FSRS, imported
on first use) and :mod:`seqlab.quiz.due` (what is due today, stdlib only), a whole run in
:mod:`seqlab.quiz.play`, and the feedback drill in :mod:`seqlab.quiz.from_feedback`.
"""

from seqlab.quiz.bank import Bank, Question, QuizError, find_bank_dir, list_topics, load_banks
from seqlab.quiz.session import InvalidAnswer, Outcome, Planned, Score, Session, plan

__all__ = [
    "Bank",
    "InvalidAnswer",
    "Outcome",
    "Planned",
    "Question",
    "QuizError",
    "Score",
    "Session",
    "find_bank_dir",
    "list_topics",
    "load_banks",
    "plan",
]
