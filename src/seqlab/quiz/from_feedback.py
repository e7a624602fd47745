"""``quiz --from-feedback FILE``: the misconceptions a graded feedback file names, as the
``quiz TOPIC --tag TAG`` commands it already prints (``Practice / 연습: `quiz mha --tag x```).

The feedback is read as text, not by its exact markup, so small changes in how
:mod:`seqlab.grading.feedback` escapes or wraps things do not break the drill: HTML tags are
dropped and entities decoded, Markdown backslash escapes undone, and every ``quiz TOPIC``
command is taken that stands on a practice line ("Practice / 연습", "Drill it", "연습하기")
or in a code span (the course report and the platform exports word the label differently).
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import UsageError
from seqlab.quiz.bank import Bank, Question

__all__ = ["Drill", "Practice", "drill_questions", "practice_commands", "read_feedback"]

_BLOCK_TAG = re.compile(r"</?(?:p|div|section|article|h[1-6]|li|ul|ol|tr|td|th|table|br|pre|"
                        r"blockquote|body|html|head|title)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")
_CODE_TAG = re.compile(r"</?code\b[^>]*>", re.IGNORECASE)
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: backslash + ASCII punctuation
_PRACTICE = re.compile(r"practice|drill|연습", re.IGNORECASE)
_COMMAND = re.compile(r"(?<![\w-])quiz\s+[^`\n]+")
_CODE_SPAN = re.compile(r"`([^`\n]*)`")


@dataclass(frozen=True)
class Practice:
    """One practice command: ``tag`` is None when the feedback names only a topic."""

    topic: str
    tag: str | None
    command: str


@dataclass(frozen=True)
class Drill:
    questions: list[Question]
    practices: list[Practice]
    skipped: list[Practice]


def _plain_text(raw: str, is_html: bool) -> str:
    if is_html:
        raw = _CODE_TAG.sub("`", raw)
        raw = _BLOCK_TAG.sub("\n", raw)
        raw = _ANY_TAG.sub("", raw)
    text = html.unescape(raw)  # the Markdown escapes '<' as '&lt;' too
    return _MD_ESCAPE.sub(r"\1", text)


def _parse_command(text: str) -> Practice | None:
    try:
        words = shlex.split(text.strip().rstrip(".,;:)"))
    except ValueError:
        words = text.split()
    if len(words) < 2 or words[0] != "quiz" or words[1].startswith("-"):
        return None
    tag = None
    for i, word in enumerate(words):
        if word == "--tag" and i + 1 < len(words):
            tag = words[i + 1]
        elif word.startswith("--tag="):
            tag = word.split("=", 1)[1]
    return Practice(topic=words[1], tag=tag or None, command=" ".join(words))


def practice_commands(raw: str, *, is_html: bool = False) -> list[Practice]:
    """Every distinct practice command in the feedback, in the order it names them."""
    found = []
    for line in _plain_text(raw, is_html).splitlines():
        places = [line] if _PRACTICE.search(line) else _CODE_SPAN.findall(line)
        found += [m.group(0) for place in places for m in _COMMAND.finditer(place)]
    practices: list[Practice] = []
    for command in found:
        practice = _parse_command(command)
        if practice and all((p.topic, p.tag) != (practice.topic, practice.tag)
                            for p in practices):
            practices.append(practice)
    return practices


def read_feedback(path: Path) -> list[Practice]:
    """The practice commands of a feedback file (``.md`` or ``.html``)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such feedback file: {path}",
                         "pass feedback/STUDENT.md or .html from `seqlab grade`") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a feedback file",
                         "pass one student's feedback/STUDENT.md or .html") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a text feedback file",
                         "pass feedback/STUDENT.md or .html from `seqlab grade`") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    head = raw.lstrip()[:200].lower()
    is_html = path.suffix.lower() in (".html", ".htm") or head.startswith(("<!doctype", "<html"))
    practices = practice_commands(raw, is_html=is_html)
    if not practices and "feedback" not in raw.lower():
        raise UsageError(f"{path} does not look like seqlab feedback (no `quiz` practice line)",
                         "pass feedback/STUDENT.md or .html from `seqlab grade`")
    return practices


def drill_questions(practices: Sequence[Practice], banks: Mapping[str, Bank],
                    topic_sample: int, seed: int) -> Drill:
    """Each misconception's questions in feedback order, each question once. A practice
    naming only a topic asks what ``quiz TOPIC`` would: ``topic_sample`` of its questions."""
    import random

    rng = random.Random(seed)
    chosen: dict[str, Question] = {}
    kept: list[Practice] = []
    skipped: list[Practice] = []
    for practice in practices:
        bank = banks.get(practice.topic)
        pool = [] if bank is None else [q for q in bank.questions
                                        if practice.tag is None or practice.tag in q.tags]
        rng.shuffle(pool)
        if practice.tag is None:
            pool = pool[:topic_sample]
        fresh = [q for q in pool if q.id not in chosen]
        if not pool:
            skipped.append(practice)
            continue
        kept.append(practice)
        chosen.update((q.id, q) for q in fresh)
    return Drill(questions=list(chosen.values()), practices=kept, skipped=skipped)
