"""The quiz as a pure state machine: planning, answer checking, scoring. No I/O here.

The order of questions and of their choices comes only from the seed, so a run can be
replayed exactly (``quiz lstm --seed 7``) and tests can know the right answers up front.
An invalid answer raises :class:`InvalidAnswer` and leaves the session untouched, so
re-prompting costs the student nothing.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from seqlab.quiz.bank import Choice, Question

__all__ = [
    "InvalidAnswer",
    "Outcome",
    "Planned",
    "Score",
    "Session",
    "arrange",
    "check_answer",
    "expected_input",
    "normalise_short",
    "parse_answer",
    "parse_felt",
    "plan",
]

_TRUE_WORDS = {"t", "true", "y", "yes", "o", "참", "예", "네", "맞음"}
_FALSE_WORDS = {"f", "false", "n", "no", "x", "거짓", "아니오", "아니요", "틀림"}
_FELT_WORDS = {
    "hard": {"1", "h", "hard", "어려움", "어려워요"},
    "good": {"", "2", "g", "good", "보통"},
    "easy": {"3", "e", "easy", "쉬움", "쉬워요"},
}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$")


class InvalidAnswer(ValueError):
    """Input that is not an answer at all (empty, letters for a number, out of range).

    ``code`` selects the localised one-line hint; ``limit`` is the number of choices.
    """

    def __init__(self, code: str, limit: int = 0) -> None:
        super().__init__(code)
        self.code = code
        self.limit = limit


@dataclass(frozen=True)
class Planned:
    """A question as it will be shown: ``order[i]`` is the bank number of display choice i+1."""

    question: Question
    order: tuple[int, ...] = ()

    @property
    def choices(self) -> list[Choice]:
        return [self.question.choices[i - 1] for i in self.order]

    def correct_numbers(self) -> tuple[int, ...]:
        """Display numbers (1-based) of the right choice(s); true/false shows 1=true, 2=false."""
        q = self.question
        if q.kind == "truefalse":
            return (1,) if q.answer else (2,)
        wanted = {q.answer} if q.kind == "single" else set(q.answer)
        return tuple(pos for pos, bank_no in enumerate(self.order, 1) if bank_no in wanted)


FELT = ("hard", "good", "easy")


@dataclass(frozen=True)
class Outcome:
    """``felt``: how hard a right answer felt (``hard``/``good``/``easy``) when asked, else None."""

    planned: Planned
    given: str
    correct: bool
    felt: str | None = None


@dataclass(frozen=True)
class Score:
    correct: int
    answered: int
    total: int

    @property
    def finished(self) -> bool:
        return self.answered == self.total

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.answered) if self.answered else 0


def plan(
    questions: Sequence[Question],
    *,
    n: int | None = None,
    seed: int = 0,
    tag: str | None = None,
    only_ids: Iterable[str] | None = None,
) -> list[Planned]:
    """Pick up to ``n`` questions (filtered by tag / ids) in a seeded order, choices shuffled."""
    rng = random.Random(seed)
    pool = [q for q in questions if tag is None or tag in q.tags]
    if only_ids is not None:
        wanted = set(only_ids)
        pool = [q for q in pool if q.id in wanted]
    rng.shuffle(pool)
    if n is not None:
        pool = pool[:n]
    return arrange(pool, rng)


def arrange(questions: Iterable[Question], rng: random.Random) -> list[Planned]:
    """Keep the questions' order, shuffle each one's choices (the spaced-repetition planner
    orders questions by due date and only needs the choices shuffled)."""
    planned = []
    for q in questions:
        order = list(range(1, len(q.choices) + 1))
        rng.shuffle(order)
        planned.append(Planned(q, tuple(order)))
    return planned


def normalise_short(text: str) -> tuple[str, ...]:
    """Canonical tokens of a short answer: ``2,4,8``, ``(2, 4, 8)``, ``[2,4,8]``,
    ``torch.Size([2, 4, 8])`` and ``2x4x8`` all become ``('2', '4', '8')``."""
    t = text.strip().lower()
    t = re.sub(r"^torch\.size", "", t)
    t = re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", ",", t)
    t = re.sub(r"[()\[\]{}`'\"]", " ", t)
    tokens = [tok for tok in re.split(r"[\s,]+", t) if tok]
    return tuple(_canonical_number(tok) for tok in tokens)


def _canonical_number(token: str) -> str:
    if not _NUMBER.match(token):
        return token
    value = float(token)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _short_matches(given: tuple[str, ...], expected: tuple[str, ...], tolerance: float) -> bool:
    if len(given) != len(expected):
        return False
    for a, b in zip(given, expected):
        if a == b:
            continue
        if (tolerance and _NUMBER.match(a) and _NUMBER.match(b)
                and math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=tolerance + 1e-12)):
            continue
        return False
    return True


def _short_candidates(raw: str) -> list[tuple[str, ...]]:
    """How a short answer may be read; ``2,560`` is also read as the number 2560."""
    candidates = [normalise_short(raw)]
    stripped = raw.strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+", stripped):
        candidates.append((stripped.replace(",", ""),))
    return candidates


def parse_answer(planned: Planned, raw: str) -> tuple[int, ...] | str:
    """Turn raw input into choice numbers (or the cleaned short answer), or raise InvalidAnswer."""
    text = raw.strip()
    if not text:
        raise InvalidAnswer("empty")
    kind = planned.question.kind
    if kind == "short":
        if not normalise_short(text):
            raise InvalidAnswer("empty")
        return text
    if kind == "truefalse":
        word = text.lower().rstrip(".")
        if word in ("1", *_TRUE_WORDS):
            return (1,)
        if word in ("2", *_FALSE_WORDS):
            return (2,)
        raise InvalidAnswer("truefalse", 2)
    limit = len(planned.order)
    parts = [p for p in re.split(r"[\s,;/]+", text) if p]
    if kind == "single" and len(parts) != 1:
        raise InvalidAnswer("one-number", limit)
    numbers = []
    for part in parts:
        if not part.isdigit():
            raise InvalidAnswer("not-a-number", limit)
        value = int(part)
        if not 1 <= value <= limit:
            raise InvalidAnswer("out-of-range", limit)
        numbers.append(value)
    return tuple(sorted(set(numbers)))


def parse_felt(raw: str) -> str:
    """How a right answer felt: ``hard``, ``good`` (also just Enter) or ``easy``."""
    word = raw.strip().lower().rstrip(".")
    for felt, words in _FELT_WORDS.items():
        if word in words:
            return felt
    raise InvalidAnswer("felt", 3)


def check_answer(planned: Planned, raw: str) -> Outcome:
    """Grade one answer; raises InvalidAnswer for input that is not an answer."""
    parsed = parse_answer(planned, raw)
    q = planned.question
    if isinstance(parsed, str):
        expected = [normalise_short(a) for a in (q.answer, *q.accept)]
        correct = any(
            _short_matches(given, exp, q.tolerance)
            for given in _short_candidates(parsed)
            for exp in expected
        )
        return Outcome(planned, parsed, correct)
    given = ",".join(str(n) for n in parsed)
    return Outcome(planned, given, parsed == planned.correct_numbers())


def expected_input(planned: Planned) -> str:
    """What a student would type to be right (shown after a wrong answer, used by tests)."""
    if planned.question.kind == "short":
        return planned.question.answer
    return ",".join(str(n) for n in planned.correct_numbers())


@dataclass
class Session:
    """Walks through planned questions; ``submit`` grades and advances, nothing else does."""

    planned: list[Planned]
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.planned)

    @property
    def finished(self) -> bool:
        return len(self.outcomes) >= self.total

    @property
    def position(self) -> int:
        """1-based number of the current question (``3`` in ``3/10``)."""
        return len(self.outcomes) + 1

    @property
    def current(self) -> Planned | None:
        return None if self.finished else self.planned[len(self.outcomes)]

    def submit(self, raw: str) -> Outcome:
        current = self.current
        if current is None:
            raise RuntimeError("the session is already finished")
        outcome = check_answer(current, raw)
        self.outcomes.append(outcome)
        return outcome

    def rate_last(self, felt: str) -> Outcome:
        """Record how hard the last (right) answer felt; FSRS schedules it accordingly."""
        if not self.outcomes or not self.outcomes[-1].correct or felt not in FELT:
            raise ValueError(f"cannot rate {felt!r} here")
        self.outcomes[-1] = replace(self.outcomes[-1], felt=felt)
        return self.outcomes[-1]

    def score(self) -> Score:
        right = sum(1 for o in self.outcomes if o.correct)
        return Score(correct=right, answered=len(self.outcomes), total=self.total)
