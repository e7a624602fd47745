"""Load and validate quiz banks (``quizzes/<topic>.toml``).

A topic is the stem of its TOML file: the engine learns topics by listing files, so
nothing keeps a second list. Every question is validated on load and every error names
``file:question-id`` so an author can jump straight to the broken entry.

Bank format (one ``[[questions]]`` table per question)::

    [[questions]]
    id = "lstm-forget-gate"          # unique across all banks, lowercase-with-dashes
    kind = "single"                  # single | multi | truefalse | short
    tags = ["gates", "forget-gate-on-candidate"]
    text = { en = "...", ko = "..." }
    choices = [{ en = "...", ko = "..." }, ...]   # single and multi only
    answer = 2                       # single: 1-based; multi: [1, 3]; truefalse: true;
                                     # short: "2, 4, 8" (see session.normalise_short)
    accept = ["..."]                 # short only: other accepted answers (optional)
    tolerance = 0.01                 # short only: absolute tolerance for numbers (optional)
    explanation = { en = "...", ko = "..." }
    code = "..."                     # shown with the question (optional)
    snippet = "answer = ..."         # run by the tests after `code`, with torch, nn and F
                                     # predefined; `answer` must equal the stated answer

This module imports nothing heavy: it runs on the way to the first question.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

__all__ = [
    "KINDS",
    "LANGS",
    "Bank",
    "Choice",
    "Question",
    "QuizError",
    "bank_dirs",
    "count_questions",
    "find_bank_dir",
    "list_topics",
    "load_bank",
    "load_banks",
]

KINDS = ("single", "multi", "truefalse", "short")
LANGS = ("en", "ko")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*questions[ \t]*\]\]", re.MULTILINE)
_QUESTION_KEYS = {
    "id", "kind", "tags", "text", "choices", "answer", "accept", "tolerance",
    "explanation", "code", "snippet",
}


class QuizError(SeqlabError):
    """A broken bank or missing bank folder: exit 1, one line naming ``file:question-id``."""


@dataclass(frozen=True)
class Choice:
    text: dict[str, str]


@dataclass(frozen=True)
class Question:
    id: str
    topic: str
    kind: str
    tags: tuple[str, ...]
    text: dict[str, str]
    explanation: dict[str, str]
    answer: Any
    choices: tuple[Choice, ...] = ()
    accept: tuple[str, ...] = ()
    tolerance: float = 0.0
    code: str | None = None
    snippet: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Bank:
    topic: str
    path: Path
    questions: tuple[Question, ...] = field(default_factory=tuple)

    def tags(self) -> list[str]:
        return sorted({tag for q in self.questions for tag in q.tags})


def bank_dirs() -> list[Path]:
    """Candidate bank folders, most specific first.

    ``SEQLAB_QUIZZES`` overrides everything; then the copy shipped in a wheel
    (``seqlab/_data/quizzes``); then the repository's ``quizzes/`` for the src layout.
    """
    override = os.environ.get("SEQLAB_QUIZZES")
    if override:
        return [Path(override)]
    here = Path(__file__).resolve()
    return [here.parents[1] / "_data" / "quizzes", here.parents[3] / "quizzes"]


def find_bank_dir() -> Path:
    for candidate in bank_dirs():
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    tried = ", ".join(str(p) for p in bank_dirs())
    raise QuizError(f"no quiz banks found (looked in {tried})",
                    "set SEQLAB_QUIZZES to a folder of <topic>.toml files")


def list_topics(directory: Path | None = None) -> list[str]:
    directory = directory or find_bank_dir()
    return sorted(p.stem for p in directory.glob("*.toml"))


def count_questions(path: Path) -> int:
    """Count ``[[questions]]`` headers without parsing: ``quiz --list`` must start fast.

    Validation happens when a topic is loaded (and for every bank in the test suite).
    """
    try:
        return len(_HEADER.findall(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        raise QuizError(f"{path.name}: cannot read bank: {exc}") from exc


def load_banks(directory: Path | None = None) -> dict[str, Bank]:
    """Load every bank in ``directory``; ids must be unique across all of them."""
    directory = directory or find_bank_dir()
    banks: dict[str, Bank] = {}
    seen: dict[str, str] = {}
    for topic in list_topics(directory):
        bank = load_bank(directory / f"{topic}.toml")
        for q in bank.questions:
            if q.id in seen:
                raise QuizError(f"{q.source}:{q.id}: duplicate id, also in {seen[q.id]}",
                                "ids must be unique across all banks")
            seen[q.id] = f"{q.source}"
        banks[topic] = bank
    return banks


def load_bank(path: Path) -> Bank:
    name = path.name
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise QuizError(f"{name}: cannot read bank: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise QuizError(f"{name}: invalid TOML: {exc}") from exc
    extra = set(data) - {"questions"}
    if extra:
        raise QuizError(f"{name}: unknown top-level key(s) {sorted(extra)}",
                        "a bank holds only [[questions]] tables")
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise QuizError(f"{name}: no [[questions]] found")
    questions: list[Question] = []
    ids: set[str] = set()
    for index, entry in enumerate(raw, start=1):
        question = _parse_question(entry, name, path.stem, index)
        if question.id in ids:
            raise QuizError(f"{name}:{question.id}: duplicate id")
        ids.add(question.id)
        questions.append(question)
    return Bank(topic=path.stem, path=path, questions=tuple(questions))


def _parse_question(entry: Any, name: str, topic: str, index: int) -> Question:
    qid = entry.get("id") if isinstance(entry, dict) else None
    where = f"{name}:{qid}" if isinstance(qid, str) and qid else f"{name}:#{index}"
    if not isinstance(entry, dict):
        raise QuizError(f"{where}: a question must be a table")

    def fail(message: str, hint: str | None = None) -> QuizError:
        return QuizError(f"{where}: {message}", hint)

    if not isinstance(qid, str) or not _SLUG.match(qid):
        raise fail("missing or malformed id", "use lowercase letters, digits and dashes")
    unknown = set(entry) - _QUESTION_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise fail(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    tags = entry.get("tags")
    if not isinstance(tags, list) or not tags or not all(
        isinstance(t, str) and _SLUG.match(t) for t in tags
    ):
        raise fail("tags must be a non-empty list of lowercase-dash strings")
    text = _bilingual(entry.get("text"), "text", fail)
    explanation = _bilingual(entry.get("explanation"), "explanation", fail)
    choices = _choices(entry.get("choices"), kind, fail)
    answer = _answer(entry.get("answer"), kind, len(choices), fail)
    accept = entry.get("accept", [])
    tolerance = entry.get("tolerance", 0.0)
    if kind != "short" and ("accept" in entry or "tolerance" in entry):
        raise fail("accept/tolerance are only for short answers")
    if not isinstance(accept, list) or not all(isinstance(a, str) and a.strip() for a in accept):
        raise fail("accept must be a list of non-empty strings")
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise fail("tolerance must be a non-negative number")
    for key in ("code", "snippet"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise fail(f"{key} must be a non-empty string")
    return Question(
        id=qid, topic=topic, kind=kind, tags=tuple(tags), text=text,
        explanation=explanation, answer=answer, choices=choices, accept=tuple(accept),
        tolerance=float(tolerance), code=entry.get("code"), snippet=entry.get("snippet"),
        source=name,
    )


def _bilingual(value: Any, what: str, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail(f"{what} must be a table with 'en' and 'ko'")
    for lang in LANGS:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise fail(f"{what}.{lang} is missing or empty", "every text needs en and ko")
    extra = set(value) - set(LANGS)
    if extra:
        raise fail(f"{what} has unknown language key(s) {sorted(extra)}")
    return {lang: value[lang].strip() for lang in LANGS}


def _choices(value: Any, kind: str, fail: Any) -> tuple[Choice, ...]:
    if kind in ("truefalse", "short"):
        if value is not None:
            raise fail(f"a {kind} question has no choices")
        return ()
    if not isinstance(value, list) or len(value) < 2:
        raise fail("needs at least two choices")
    choices = tuple(Choice(_bilingual(c, f"choices[{i}]", fail)) for i, c in enumerate(value, 1))
    if len({c.text["en"] for c in choices}) != len(choices):
        raise fail("two choices have the same English text")
    return choices


def _answer(value: Any, kind: str, n_choices: int, fail: Any) -> Any:
    def in_range(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= n_choices

    if kind == "single":
        if not in_range(value):
            raise fail(f"answer must be a choice number between 1 and {n_choices}, not {value!r}")
        return value
    if kind == "multi":
        if (not isinstance(value, list) or not value or not all(in_range(v) for v in value)
                or len(set(value)) != len(value)):
            raise fail(f"answer must be a list of distinct choice numbers 1..{n_choices}")
        return tuple(sorted(value))
    if kind == "truefalse":
        if not isinstance(value, bool):
            raise fail("answer must be true or false")
        return value
    if not isinstance(value, str) or not value.strip():
        raise fail("answer must be a non-empty string")
    return value.strip()
