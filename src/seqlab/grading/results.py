"""Plain result records and the files they become: results.json, grades.csv, feedback/.

Every file is written atomically (temp file in the same folder, fsync, rename), so an
interrupted run leaves either the previous complete file or the new complete file.

A record cleans itself when it is built (`__post_init__`): every string that may hold text from
a submission loses lone surrogates and control characters and is capped (a few hundred
characters per message, a fixed budget for all of one student's messages and notes), so no
submission can make a write fail, flood its feedback, or smuggle hidden inputs out in bulk.
A dict that does not have the record's shape raises ValueError/TypeError (the runner turns that
into an `error` for that student). Feedback files get a safe, unique name of their own.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seqlab.text import clean_id, clean_line, safe_file_stem

__all__ = ["RunResult", "SubmissionResult", "TestResult", "atomic_write", "name_feedback_files", "write_outputs"]

STATUSES = ("graded", "invalid", "error", "timeout")
MAX_MESSAGE_CHARS = 300  # one rubric line, note or error
MAX_NOTES = 25
MAX_SUBMISSION_CHARS = 12_000  # all of one student's messages and notes together
_OMITTED = "(not shown: this feedback reached its size limit)"


def _number(value: Any, what: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return float(value)


def _optional_line(value: Any, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    return None if value is None else clean_line(value, limit)


@dataclass
class TestResult:
    id: str
    points: float
    max_points: float
    passed: bool
    message: str | None
    misconception: str | None

    def __post_init__(self) -> None:
        self.id = clean_line(self.id, 200)
        self.points = _number(self.points, "points")
        self.max_points = _number(self.max_points, "max_points")
        if type(self.passed) is not bool:
            raise TypeError("passed is not a bool")
        self.message = _optional_line(self.message)
        self.misconception = _optional_line(self.misconception, 100)


@dataclass
class SubmissionResult:
    student: str
    source: str
    status: str
    score: float
    max_score: float
    error: str | None
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    isolation: str | None = None
    feedback: str | None = None  # stem of feedback/STEM.md and .html, set when they are written
    seconds: float | None = None  # wall time its worker spent grading it (None: never reached one)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {clean_line(self.status, 40)!r}")
        self.student = clean_id(self.student)
        self.source = clean_id(self.source, 1000)
        self.score = _number(self.score, "score")
        self.max_score = _number(self.max_score, "max_score")
        self.error = _optional_line(self.error)
        self.isolation = _optional_line(self.isolation, 80)
        self.feedback = _optional_line(self.feedback, 100)
        self.seconds = None if self.seconds is None else round(_number(self.seconds, "seconds"), 3)
        if not isinstance(self.tests, list) or not all(isinstance(t, TestResult) for t in self.tests):
            raise TypeError("tests is not a list of TestResult")
        if not isinstance(self.notes, list):
            raise TypeError("notes is not a list")
        notes = [clean_line(n, MAX_MESSAGE_CHARS) for n in self.notes[:MAX_NOTES]]
        if len(self.notes) > MAX_NOTES:
            notes.append(f"... and {len(self.notes) - MAX_NOTES} more notes")
        budget = MAX_SUBMISSION_CHARS - len(self.error or "")
        for test in self.tests:
            if test.message is not None:
                budget -= len(test.message)
                test.message = test.message if budget >= 0 else _OMITTED
        self.notes = []
        for note in notes:
            budget -= len(note)
            self.notes.append(note if budget >= 0 else _OMITTED)
            if budget < 0:
                break

    @classmethod
    def failed(cls, student: str, source: str, status: str, error: str, max_score: float,
               notes: list[str] | None = None, isolation: str | None = None) -> SubmissionResult:
        """A non-graded result: score 0 and a one-line reason."""
        assert status in STATUSES and status != "graded"
        return cls(student, source, status, 0.0, max_score, error or status, [], list(notes or []), isolation)

    @classmethod
    def from_dict(cls, data: Any) -> SubmissionResult:
        """Rebuild a record from its dict, refusing (ValueError/TypeError) any other shape."""
        if not isinstance(data, dict) or not isinstance(data.get("tests", []), list):
            raise TypeError("a result is not a dict with a list of tests")
        tests = [TestResult(**t) if isinstance(t, dict) else None for t in data.get("tests", [])]
        return cls(**{**data, "tests": tests})


@dataclass
class RunResult:
    assignment: str
    max_score: float
    submissions: list[SubmissionResult]
    # the sandbox level this run's submissions were confined at (seqlab.sandbox.probe), e.g.
    # {"level": "strong", "features": [...], "missing": [], "caps": "per-submission",
    #  "cgroup": "cgroup-v1", "weak_allowed": false}
    sandbox: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["student", "score", "max_score", "status"])
        for sub in self.submissions:
            writer.writerow([_spreadsheet_safe(sub.student), f"{sub.score:g}", f"{sub.max_score:g}", sub.status])
        return buffer.getvalue()


def _spreadsheet_safe(cell: str) -> str:
    """A student id (a folder name, so the student's choice) that a spreadsheet would run as a
    formula (`=HYPERLINK(...)`, `+1`, `@SUM`) is written with a leading quote, as OWASP advises."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".seqlab-", suffix=".tmp")  # short whatever the name
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def name_feedback_files(run: RunResult) -> None:
    """Give every result a safe, unique feedback file stem (the student id where it is one)."""
    taken: set[str] = set()
    for result in run.submissions:
        result.feedback = safe_file_stem(result.student, taken)


def write_outputs(run: RunResult, out_dir: Path, feedback: dict[str, tuple[str, str]]) -> None:
    """results.json, grades.csv and feedback/STEM.{md,html}; stale feedback files removed."""
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    if any(r.feedback is None for r in run.submissions):
        name_feedback_files(run)
    current: set[str] = set()
    for result in run.submissions:
        if result.student not in feedback:
            continue
        markdown, html = feedback[result.student]
        atomic_write(feedback_dir / f"{result.feedback}.md", markdown)
        atomic_write(feedback_dir / f"{result.feedback}.html", html)
        current |= {f"{result.feedback}.md", f"{result.feedback}.html"}
    for stale in feedback_dir.iterdir():
        if stale.is_file() and stale.name not in current:
            stale.unlink()
    atomic_write(out_dir / "grades.csv", run.to_csv())
    atomic_write(out_dir / "results.json", run.to_json())
