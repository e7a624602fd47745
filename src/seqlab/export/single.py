"""Grade the one submission a platform hands over, and word its feedback for the student.

Both platforms run one submission per fresh container, as root, under Docker's default seccomp
profile and without CAP_SYS_ADMIN, which refuse the namespaces and pivot_root of seqlab's strong
level. Expected there: the *weak* level, a non-root uid without capabilities, NO_NEW_PRIVS, the
seccomp filter and rlimits, but the container's filesystem in view. The entry scripts therefore
make the graders and oracles unreadable to any uid but root before grading, and the package
allows the weak level explicitly (each container holds one submission and the graders, nothing
else). `grade_single` prints the expected and the actual level on stdout, the instructor's log.

Student-visible text is built only from the result's own lines (the graders' chosen messages,
the reason a submission was not graded) and the feedback data, and `student_text` withholds any
line that quotes the hidden graders or oracles or names the container's paths.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.grading.assignments import Assignment
from seqlab.grading.results import SubmissionResult, TestResult
from seqlab.report.data import item_title, text_in
from seqlab.report.render import strings

__all__ = ["Graded", "Redactor", "find_submission", "grade_single", "item_feedback", "student_text", "title_of",
           "write_results"]

SUFFIXES = (".ipynb", ".py")
WITHHELD = "(message withheld: it quoted the hidden grader)"


def find_submission(folder: Path, assignment_id: str) -> tuple[Path | None, str | None]:
    """The one notebook/module under `folder` (searched recursively), or why there is none."""
    if not folder.is_dir():
        return None, "no submission folder was handed over"
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES
                   and not any(part.startswith((".", "__")) for part in p.relative_to(folder).parts))
    if not files:
        return None, f"no .ipynb or .py file was submitted (submit {assignment_id}.ipynb)"
    for wanted in (f"{assignment_id}.ipynb", f"{assignment_id}.py"):
        named = [f for f in files if f.name == wanted]
        if len(named) == 1:
            return named[0], None
    notebooks = [f for f in files if f.suffix == ".ipynb"]
    if len(files) == 1 or len(notebooks) == 1:
        return (files if len(files) == 1 else notebooks)[0], None
    names = ", ".join(f.name for f in files[:5])
    return None, f"several files could be the submission ({names}); submit only {assignment_id}.ipynb"


class Redactor:
    """Withholds text that quotes grader or oracle source, and hides the container's paths."""

    def __init__(self, assignment: Assignment, hidden_paths: list[Path]) -> None:
        sources = [assignment.grader]
        oracles = Path(__file__).resolve().parents[1] / "oracles"
        sources += sorted(oracles.glob("*.py"))
        self._lines = {line.strip() for path in sources if path.is_file()
                       for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 24}
        self._paths = sorted({str(p) for p in hidden_paths if str(p) not in ("", "/")}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if any(line in text for line in self._lines):
            return WITHHELD
        for path in self._paths:
            text = text.replace(path, "…")
        return text


def student_text(text: str | None, redact: Redactor) -> str:
    return redact(text) if text else ""


def item_feedback(test: TestResult, assignment: Assignment, lang: str, redact: Redactor) -> str:
    """A failed item's feedback: the grader's message, then the misconception explained."""
    if test.passed:
        return strings(lang)["passed"]
    labels = strings(lang)
    lines = [student_text(test.message, redact) or labels["failed"]]
    entry = assignment.feedback.get(test.misconception or "", {})
    if isinstance(entry, dict) and entry:
        title, explain = text_in(entry, "title", lang), text_in(entry, "explain", lang)
        lines += ["", f"{labels['misconception']}: {title or test.misconception}"]
        if explain:
            lines.append(explain)
        if entry.get("quiz"):
            lines.append(f"{labels['practice']}: {entry['quiz']}")
    return "\n".join(lines)


def title_of(item_id: str, assignment: Assignment, lang: str) -> str:
    """A rubric item's human title in `lang` (the feedback data's, else the id in words)."""
    return item_title(item_id, assignment.feedback, lang)


@dataclass(frozen=True)
class Graded:
    result: SubmissionResult | None  # None: nothing could be graded (see `problem`)
    problem: str | None
    isolation: str | None


EXPECTED_LEVEL = ("expected sandbox level in this container: weak (root in Docker: no namespaces or "
                  "pivot_root; a non-root uid without capabilities, no_new_privs, seccomp and rlimits "
                  "remain, and the graders are unreadable to that uid); allowed explicitly because each "
                  "container holds only this submission and the graders")
STRONG = ("strong", "namespaces")


def _level_line(sandbox: dict[str, Any] | None, isolation: str | None) -> str:
    """The level the run recorded, what holds and what is missing, loudly when weak."""
    if sandbox:
        from seqlab.sandbox.confine import Confinement
        from seqlab.sandbox.probe import describe

        line = describe(Confinement.from_dict(sandbox))
        return line if sandbox.get("level") == "strong" else f"WEAK — {line}"
    level = isolation or "not started (nothing ran)"
    return level if level.startswith(STRONG) else f"WEAK — {level}"


def grade_single(assignment: Assignment, submission_dir: Path, platform: str) -> Graded:
    """Find and grade the one submission; prints the sandbox level to the instructor's log."""
    from seqlab.grading.runner import GradeOptions, grade_class

    print(f"seqlab {platform} autograder: {assignment.id}; {EXPECTED_LEVEL}", flush=True)
    path, problem = find_submission(submission_dir, assignment.id)
    if path is None:
        print(f"seqlab: nothing graded: {problem}", flush=True)
        return Graded(None, problem, None)
    with tempfile.TemporaryDirectory(prefix="seqlab-single-") as tmp:
        # allow_weak_sandbox: explicitly, here only (see the module docstring and EXPECTED_LEVEL)
        options = GradeOptions(out_dir=Path(tmp) / "out", jobs=1, report=False, allow_weak_sandbox=True)
        run = grade_class(assignment, [path], options)
    result = run.submissions[0]
    print(f"seqlab: sandbox level used: {_level_line(run.sandbox, result.isolation)}", flush=True)
    print(f"seqlab: {result.status}, {result.score:g}/{result.max_score:g}", file=sys.stdout, flush=True)
    return Graded(result, None, result.isolation)


def write_results(path: Path, data: dict[str, Any]) -> None:
    """The platform's results.json (its folder may not exist yet: PrairieLearn does not make it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
