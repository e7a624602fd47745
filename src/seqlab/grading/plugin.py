"""pytest plugin that runs a hidden grader file against one sandboxed submission.

The grader file is ordinary pytest: one test per rubric item, each marked
`@pytest.mark.rubric(points=..., misconception=...)`, taking the `submission` fixture. This
plugin supplies that fixture, seeds the trusted side per student, and turns each test's outcome
into a rubric line. Failure messages come only from the exception's own message (Misconception,
a student error, a timeout): pytest's report, which quotes grader source, is never used.
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

__all__ = ["GraderPlugin", "TestOutcome", "rubric_of"]


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


def test_id(item: pytest.Item) -> str:
    return item.name.removeprefix("test_")


def explain_failure(exc: BaseException, default_misconception: str | None) -> tuple[str, str | None]:
    """A student-readable line and misconception for a failed grader test."""
    if isinstance(exc, Misconception):
        return exc.message, exc.misconception or default_misconception
    if isinstance(exc, MissingDefinition):
        return exc.describe(), "missing-definition"
    if isinstance(exc, StudentError):
        if exc.is_a("NotImplementedError"):  # a stub left from the skeleton, not a misconception
            return f"not implemented yet: your code raised {exc.describe()}", "not-implemented"
        return f"your code raised {exc.describe()}", default_misconception
    if isinstance(exc, CallTimedOut):
        return f"your code {exc} (an endless loop?)", "endless-loop"  # a hang says nothing about maths
    if isinstance(exc, (ProcessEnded, BudgetExhausted)):
        return str(exc), default_misconception
    if isinstance(exc, ProtocolError):
        return "the submission sent back something that is not a valid result", default_misconception
    if isinstance(exc, AssertionError):
        first = str(exc).split("\nassert ")[0].strip()
        if first and not first.startswith("assert "):
            return first, default_misconception
        return "the result is not what the assignment asks for", default_misconception
    return f"could not check this item ({type(exc).__name__})", default_misconception


class GraderPlugin:
    """Collects one submission's rubric outcomes while pytest runs the grader file."""

    def __init__(self, submission: Submission, student: str) -> None:
        self.submission = submission
        self.student = student
        self.outcomes: list[TestOutcome] = []
        self._rubric: dict[str, tuple[float, str | None]] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "rubric(points, misconception): points of a grader test")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self._rubric[item.nodeid] = rubric_of(item)

    @pytest.fixture(scope="session", name="submission")
    def submission_fixture(self) -> Submission:
        return self.submission

    @pytest.fixture(autouse=True)
    def _seed_per_student(self, request: pytest.FixtureRequest) -> Iterator[None]:
        digest = hashlib.sha256(f"{self.student}:{request.node.name}".encode()).digest()
        seed = int.from_bytes(digest[:4], "little")
        torch.manual_seed(seed)
        random.seed(seed)
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        points, misconception = self._rubric.get(item.nodeid, (0.0, None))
        if report.when == "call" or (report.when == "setup" and report.failed):
            if report.passed:
                self.outcomes.append(TestOutcome(test_id(item), points, points, True, None, None))
            elif call.excinfo is not None:
                message, named = explain_failure(call.excinfo.value, misconception)
                self.outcomes.append(TestOutcome(test_id(item), 0.0, points, False, message, named))
