"""Plain result records and the files they become: results.json, grades.csv, feedback/.

Every file is written atomically (temp file in the same folder, fsync, rename), so an
interrupted run leaves either the previous complete file or the new complete file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunResult", "SubmissionResult", "TestResult", "atomic_write", "write_outputs"]

STATUSES = ("graded", "invalid", "error", "timeout")


@dataclass
class TestResult:
    id: str
    points: float
    max_points: float
    passed: bool
    message: str | None
    misconception: str | None


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

    @classmethod
    def failed(cls, student: str, source: str, status: str, error: str, max_score: float,
               notes: list[str] | None = None, isolation: str | None = None) -> SubmissionResult:
        """A non-graded result: score 0 and a one-line reason."""
        assert status in STATUSES and status != "graded"
        return cls(student, source, status, 0.0, max_score, error.splitlines()[0][:300] if error else status,
                   [], notes or [], isolation)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        tests = [TestResult(**t) for t in data.get("tests", [])]
        return cls(**{**data, "tests": tests})


@dataclass
class RunResult:
    assignment: str
    max_score: float
    submissions: list[SubmissionResult]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["student", "score", "max_score", "status"])
        for sub in self.submissions:
            writer.writerow([sub.student, f"{sub.score:g}", f"{sub.max_score:g}", sub.status])
        return buffer.getvalue()


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(run: RunResult, out_dir: Path, feedback: dict[str, tuple[str, str]]) -> None:
    """results.json, grades.csv and feedback/STUDENT.{md,html}; stale feedback files removed."""
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    for student, (markdown, html) in feedback.items():
        atomic_write(feedback_dir / f"{student}.md", markdown)
        atomic_write(feedback_dir / f"{student}.html", html)
    current = {f"{s}.md" for s in feedback} | {f"{s}.html" for s in feedback}
    for stale in feedback_dir.iterdir():
        if stale.is_file() and stale.name not in current:
            stale.unlink()
    atomic_write(out_dir / "grades.csv", run.to_csv())
    atomic_write(out_dir / "results.json", run.to_json())
