"""Quiz history in the user's XDG state directory, written atomically.

``$XDG_STATE_HOME/seqlab/quiz-history.json`` (default ``~/.local/state/seqlab``). A
history problem must never cost the student their quiz: a corrupt file is reported and
renamed aside, and a failed write becomes a warning. The functions that change the
history are pure; only :func:`load_history` and :func:`save_history` touch the disk.

Version 2 adds each question's FSRS memory state (``card``, see :mod:`seqlab.quiz.schedule`)
and when it was first seen (``first_seen``, for the daily limit of new questions). A
version 1 file is migrated on load: each question gets the card of one review, rated by
its last answer (wrong: Again, right: Good), at the last time its topic was played; the
original is kept next to it as ``quiz-history.json.v1``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
VERSION = 2


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
    migrated_from: int | None = None


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


def _time_ok(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _card_ok(card: Any) -> bool:
    """The fields ``fsrs.Card.from_dict`` reads, with the types it needs (a card past its
    first review has a positive stability and difficulty: fsrs asserts it)."""
    if not isinstance(card, dict):
        return False
    memory = (card.get("stability"), card.get("difficulty"))
    reviewed = all(_number_or_none(v) and v is not None and v > 0 for v in memory)
    return (isinstance(card.get("card_id"), int) and not isinstance(card.get("card_id"), bool)
            and card.get("state") in (1, 2, 3)
            and (card.get("step") is None or _count(card.get("step")))
            and all(_number_or_none(v) for v in memory)
            and (reviewed or (card.get("state") == 1 and memory == (None, None)))
            and _time_ok(card.get("due"))
            and (card.get("last_review") is None or _time_ok(card.get("last_review"))))


def _validate(data: Any) -> History:
    """Check every field later code relies on: a hand-edited file must not crash the quiz."""
    if not isinstance(data, dict) or data.get("version") not in (1, VERSION):
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
    if data["version"] == VERSION and not all(
        ("card" not in v or _card_ok(v["card"]))
        and ("first_seen" not in v or _time_ok(v["first_seen"]))
        for v in questions.values()
    ):
        raise ValueError("a question's memory state (card) is malformed")
    return History(sessions=sessions, questions=questions)


def _played_at(text: Any) -> datetime | None:
    """A version 1 session time (local, no zone) as an aware time."""
    try:
        value = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if value is None:
        return None
    return value if value.tzinfo else value.astimezone()


def migrate_v1(history: History, now: datetime) -> History:
    """Give every version 1 question an FSRS card, as if reviewed once when last played."""
    from seqlab.quiz.schedule import review

    played: dict[str, datetime] = {}
    for s in history.sessions:
        when = _played_at(s.get("when"))
        for topic in s.get("per_topic", {}) if when else ():
            played[topic] = max(played.get(topic, when), when)
    for entry in history.questions.values():
        when = min(played.get(entry["topic"], now), now)
        if "card" not in entry:
            rating = "again" if entry.get("last") == "wrong" else "good"
            entry["card"] = review(None, rating, when)
        entry.setdefault("first_seen", when.astimezone(UTC).isoformat())
    return history


def _aside_path(path: Path) -> Path:
    """A fresh name next to ``path``: never overwrite an earlier corrupt copy."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    return aside


def load_history(path: Path | None = None, now: datetime | None = None) -> LoadResult:
    """Read the history; a missing file is empty, a corrupt one is renamed aside, an old
    one is migrated (``now`` stands in for times the old file did not record)."""
    path = path or history_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadResult(History())
    except OSError as exc:
        return LoadResult(History(), f"cannot read quiz history {path}: {exc.strerror or exc}")
    try:
        data = json.loads(raw.decode("utf-8"))
        history = _validate(data)
    except (ValueError, TypeError) as exc:
        aside = _aside_path(path)
        try:
            os.replace(path, aside)
        except OSError:
            return LoadResult(History(), f"quiz history {path} is corrupt ({exc}); ignoring it")
        reason = str(exc).splitlines()[0]
        return LoadResult(History(), f"quiz history was corrupt ({reason}); moved it to {aside}")
    if data["version"] == VERSION:
        return LoadResult(history)
    backup = path.with_name(f"{path.name}.v{data['version']}")
    try:
        if not backup.exists():
            backup.write_bytes(raw)
    except OSError:
        pass  # the migrated history is still saved; only the keepsake copy is missing
    migrated = migrate_v1(history, now or datetime.now(UTC))
    return LoadResult(migrated, migrated_from=data["version"])


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
