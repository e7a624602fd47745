"""Quiz history in the user's XDG state directory, written atomically.

``$XDG_STATE_HOME/seqlab/quiz-history.json`` (default ``~/.local/state/seqlab``). A
history problem must never cost the student their quiz: a corrupt file is reported and
renamed aside, and a failed write becomes a warning. The functions that change the
history are pure; only :func:`load_history` and :func:`save_history` touch the disk.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FILENAME",
    "History",
    "LoadResult",
    "TopicStats",
    "history_path",
    "load_history",
    "missed_ids",
    "record",
    "save_history",
    "state_dir",
    "topic_stats",
]

FILENAME = "quiz-history.json"
VERSION = 1


@dataclass
class History:
    """``sessions``: one summary per quiz run; ``questions``: per id, right/wrong counts and
    the last result (``--review`` asks the questions whose last answer was wrong)."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "sessions": self.sessions, "questions": self.questions}


@dataclass(frozen=True)
class LoadResult:
    history: History
    warning: str | None = None


@dataclass(frozen=True)
class TopicStats:
    topic: str
    sessions: int
    answered: int
    correct: int
    best_percent: int
    last_played: str
    to_review: int


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "seqlab"


def history_path() -> Path:
    return state_dir() / FILENAME


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _validate(data: Any) -> History:
    """Check every field later code relies on: a hand-edited file must not crash the quiz."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("not a seqlab quiz history (missing version)")
    sessions, questions = data.get("sessions"), data.get("questions")
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise ValueError("'sessions' is not a list of objects")
    for s in sessions:
        per_topic = s.get("per_topic", {})
        if not isinstance(s.get("when", ""), str) or not isinstance(per_topic, dict) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(_count(n) for n in pair)
            for pair in per_topic.values()
        ):
            raise ValueError("a session record is malformed")
    if not isinstance(questions, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("topic"), str)
        and _count(v.get("right", 0)) and _count(v.get("wrong", 0))
        and v.get("last", "right") in ("right", "wrong")
        for v in questions.values()
    ):
        raise ValueError("'questions' is not a map of question records")
    return History(sessions=sessions, questions=questions)


def _aside_path(path: Path) -> Path:
    """A fresh name next to ``path``: never overwrite an earlier corrupt copy."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    return aside


def load_history(path: Path | None = None) -> LoadResult:
    """Read the history; a missing file is empty, a corrupt one is renamed aside."""
    path = path or history_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadResult(History())
    except OSError as exc:
        return LoadResult(History(), f"cannot read quiz history {path}: {exc.strerror or exc}")
    try:
        return LoadResult(_validate(json.loads(raw.decode("utf-8"))))
    except (ValueError, TypeError) as exc:
        aside = _aside_path(path)
        try:
            os.replace(path, aside)
        except OSError:
            return LoadResult(History(), f"quiz history {path} is corrupt ({exc}); ignoring it")
        reason = str(exc).splitlines()[0]
        return LoadResult(History(), f"quiz history was corrupt ({reason}); moved it to {aside}")


def save_history(history: History, path: Path | None = None) -> str | None:
    """Write atomically (temp file in the same folder, then os.replace); return a warning."""
    path = path or history_path()
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(history.to_json(), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        return None
    except OSError as exc:
        if tmp_name:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
        return f"could not save quiz history to {path}: {exc.strerror or exc}"


def record(
    history: History,
    topic: str,
    results: Iterable[tuple[str, str, bool]],
    total: int,
    when: str,
) -> History:
    """Add one run: ``results`` are (question id, question topic, correct) in answer order."""
    results = list(results)
    for qid, qtopic, correct in results:
        entry = history.questions.setdefault(qid, {"topic": qtopic, "right": 0, "wrong": 0})
        entry["topic"] = qtopic
        entry["right" if correct else "wrong"] = int(entry.get("right" if correct else "wrong", 0)) + 1
        entry["last"] = "right" if correct else "wrong"
    history.sessions.append({
        "topic": topic,
        "when": when,
        "answered": len(results),
        "correct": sum(1 for r in results if r[2]),
        "total": total,
        "per_topic": _per_topic(results),
    })
    return history


def _per_topic(results: list[tuple[str, str, bool]]) -> dict[str, list[int]]:
    counts: dict[str, list[int]] = {}
    for _, qtopic, correct in results:
        pair = counts.setdefault(qtopic, [0, 0])
        pair[0] += int(correct)
        pair[1] += 1
    return counts


def missed_ids(history: History, topics: Iterable[str]) -> set[str]:
    """Ids in ``topics`` whose last recorded answer was wrong."""
    wanted = set(topics)
    return {qid for qid, e in history.questions.items()
            if e.get("topic") in wanted and e.get("last") == "wrong"}


def topic_stats(history: History) -> list[TopicStats]:
    """Per question topic: runs, answers, best run percentage, last play, questions to review."""
    acc: dict[str, dict[str, Any]] = {}
    for s in history.sessions:
        per_topic = s.get("per_topic")
        if not isinstance(per_topic, dict):
            continue
        for topic, pair in per_topic.items():
            if not (isinstance(pair, list) and len(pair) == 2):
                continue
            right, answered = int(pair[0]), int(pair[1])
            a = acc.setdefault(topic, {"sessions": 0, "answered": 0, "correct": 0,
                                       "best": 0, "last": ""})
            a["sessions"] += 1
            a["answered"] += answered
            a["correct"] += right
            if answered:
                a["best"] = max(a["best"], round(100 * right / answered))
            a["last"] = max(a["last"], str(s.get("when", "")))
    return [
        TopicStats(topic=t, sessions=a["sessions"], answered=a["answered"],
                   correct=a["correct"], best_percent=a["best"], last_played=a["last"],
                   to_review=len(missed_ids(history, [t])))
        for t, a in sorted(acc.items())
    ]
