"""pytest plugin that runs a hidden grader file against one sandboxed submission.

The grader file is ordinary pytest: one test per rubric item, each marked
`@pytest.mark.rubric(points=..., misconception=..., depends_on=(...))`, taking the `submission`
fixture. This plugin supplies that fixture, seeds the trusted side, and turns each test's outcome
into a rubric line. Failure messages come only from the exception's own message (Misconception,
a student error, a timeout): pytest's report, which quotes grader source, is never used.

Same code, same grade: every item is seeded from the grader file's assignment and the item's
name only (never the student id), so two students who hand in the same code get the same hidden
inputs and the same grade.

The true misconception, once. A failed item names an id in this order of trust:
1. `Misconception(message, id)` raised by the grader (it compared against a wrong oracle that
   reproduces the student's output, or probed the cause of a crash); `expect.differs` names an
   id too but only says what differs, so it may still be charged to a root cause below;
2. a crash in student code is what it is: `student-exception` with the type, message and the
   student's own cell/line (`not-implemented` for a skeleton stub, `endless-loop` for a hang);
3. otherwise the rubric marker's default misconception.
Then the root cause is applied, per submission, in file order:
- a crash with the same type at the same student line as a crash an earlier item already
  reported says "same cause as <that id's title>" and names no id (a grader that diagnosed a crash
  records it by raising its Misconception `from` the StudentError);
- an item whose marker lists `depends_on=("item", ...)` (test names without `test_`) and that
  fails with no diagnosis (its default misconception, or `differs`) after one of those failed
  says "same cause as <the title of the id that item named>" and names no id: a gradient check cannot be
  right when the forward pass it differentiates is already wrong.
An id named by several items is one misconception (feedback explains it once).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from seqlab.sandbox.client import BudgetExhausted, CallTimedOut, ProcessEnded
from seqlab.sandbox.wire import ProtocolError

from .expect import Misconception
from .remote import MissingDefinition, StudentError, Submission

__all__ = ["CRASH", "GraderPlugin", "TestOutcome", "explain_failure", "item_seed", "rubric_of"]

CRASH = "student-exception"  # common.toml: the student's code raised (reported as it is)


@dataclass
class TestOutcome:
    id: str
    points: float
    max_points: float
    passed: bool
    message: str | None
    misconception: str | None


def rubric_of(item: pytest.Item) -> tuple[float, str | None]:
    marker = item.get_closest_marker("rubric")
    if marker is None:
        raise pytest.UsageError(f"{item.nodeid}: every grader test needs @pytest.mark.rubric(points=...)")
    return float(marker.kwargs["points"]), marker.kwargs.get("misconception")


def depends_on(item: pytest.Item) -> tuple[str, ...]:
    marker = item.get_closest_marker("rubric")
    names = marker.kwargs.get("depends_on", ()) if marker is not None else ()
    return (names,) if isinstance(names, str) else tuple(names)


def test_id(item: pytest.Item) -> str:
    return item.name.removeprefix("test_")


def item_seed(assignment: str, item_name: str) -> int:
    """The seed of one rubric item: the same for every student (hidden inputs never depend on who)."""
    digest = hashlib.sha256(f"{assignment}:{item_name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def explain_failure(exc: BaseException, default_misconception: str | None) -> tuple[str, str | None]:
    """A student-readable line and misconception for a failed grader test."""
    if isinstance(exc, Misconception):
        return exc.message, exc.misconception or default_misconception
    if isinstance(exc, MissingDefinition):
        return exc.describe(), "missing-definition"
    if isinstance(exc, StudentError):
        if exc.is_a("NotImplementedError"):  # a stub left from the skeleton, not a misconception
            return f"not implemented yet: your code raised {exc.describe()}", "not-implemented"
        return f"your code raised {exc.describe()}", CRASH
    if isinstance(exc, CallTimedOut):
        return f"your code {exc} (an endless loop?)", "endless-loop"  # a hang says nothing about maths
    if isinstance(exc, ProcessEnded):
        return f"your code stopped the process: {exc}", CRASH
    if isinstance(exc, BudgetExhausted):
        return str(exc), "endless-loop"
    if isinstance(exc, ProtocolError):
        return "the submission sent back something that is not a valid result", default_misconception
    if isinstance(exc, AssertionError):
        first = str(exc).split("\nassert ")[0].strip()
        if first and not first.startswith("assert "):
            return first, default_misconception
        return "the result is not what the assignment asks for", default_misconception
    return f"could not check this item ({type(exc).__name__})", default_misconception


def _crash_signature(exc: BaseException) -> tuple[str, str] | None:
    """Same exception type at the same student line = same crash (sizes in messages vary)."""
    crash = exc if isinstance(exc, (StudentError, ProcessEnded)) else exc.__cause__
    if isinstance(crash, MissingDefinition) or not isinstance(crash, (StudentError, ProcessEnded)):
        return None
    if isinstance(crash, ProcessEnded):
        return ("ProcessEnded", "")
    return (crash.type_name, str(crash.where) if crash.where else crash.detail)


def _is_explicit(exc: BaseException, named: str | None, default: str | None) -> bool:
    """Did the grader (or the kind of failure) name the cause, rather than fall back on the marker?"""
    if isinstance(exc, Misconception):
        return exc.diagnosed
    return named != default


class GraderPlugin:
    """Collects one submission's rubric outcomes while pytest runs the grader file."""

    def __init__(self, submission: Submission, student: str, titles: dict[str, str] | None = None) -> None:
        """`titles`: English titles of the assignment's misconception ids and rubric items, so a
        "same cause as" message names the cause as the feedback does, never by its raw id."""
        self.submission = submission
        self.student = student  # kept for callers and logs; never used for seeding
        self._titles = dict(titles or {})
        self.outcomes: list[TestOutcome] = []
        self._rubric: dict[str, tuple[float, str | None]] = {}
        self._failed: dict[str, str] = {}  # item id -> the id (or root cause) it was charged to
        self._crashes: dict[tuple[str, str], str] = {}  # crash signature -> the id first named

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "rubric(points, misconception, depends_on): one rubric item")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self._rubric[item.nodeid] = rubric_of(item)

    @pytest.fixture(scope="session", name="submission")
    def submission_fixture(self) -> Submission:
        return self.submission

    @pytest.fixture(autouse=True)
    def _seed_per_item(self, request: pytest.FixtureRequest) -> Iterator[None]:
        assignment = request.node.path.stem.removeprefix("test_")
        seed = item_seed(assignment, request.node.name)
        torch.manual_seed(seed)
        random.seed(seed)
        yield

    def root_cause(self, item: pytest.Item, exc: BaseException, message: str,
                   named: str | None, default: str | None) -> tuple[str, str | None, str]:
        """(message, id named, cause charged): a failure an earlier item already explains names
        no id and says "same cause as X" (see the module docstring)."""
        signature = _crash_signature(exc)
        if signature is not None and not isinstance(exc, Misconception) and signature in self._crashes:
            cause = self._crashes[signature]
            return f"same cause as {cause}: {message}", None, cause
        if not _is_explicit(exc, named, default):
            for dependency in depends_on(item):
                if dependency in self._failed:
                    cause = self._failed[dependency]
                    return f"same cause as {cause}: {message}", None, cause
        if named == CRASH:
            return message, named, f"the crash in {self._title(test_id(item))}"
        return message, named, self._title(named or test_id(item))

    def _title(self, cause: str) -> str:
        """How a "same cause as" message names a misconception or item: by its quoted title."""
        title = self._titles.get(cause)
        return f"“{title}”" if title else cause

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        points, misconception = self._rubric.get(item.nodeid, (0.0, None))
        if report.when == "call" or (report.when == "setup" and report.failed):
            if report.passed:
                self.outcomes.append(TestOutcome(test_id(item), points, points, True, None, None))
            elif call.excinfo is not None:
                exc = call.excinfo.value
                message, named = explain_failure(exc, misconception)
                message, named, cause = self.root_cause(item, exc, message, named, misconception)
                self._failed[test_id(item)] = cause
                signature = _crash_signature(exc)
                if signature is not None:
                    self._crashes.setdefault(signature, cause)
                self.outcomes.append(TestOutcome(test_id(item), 0.0, points, False, message, named))
