"""Result records clean what came from a submission, refuse other shapes, and always write."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest

from seqlab.grading.feedback import render_html, render_markdown
from seqlab.grading.results import (
    MAX_SUBMISSION_CHARS,
    RunResult,
    SubmissionResult,
    name_feedback_files,
    write_outputs,
)
from seqlab.grading.results import (
    TestResult as RubricLine,  # not a pytest class
)
from seqlab.text import clean_line, markdown_escape, safe_file_stem

GOOD = asdict(SubmissionResult("alice", "alice.py", "graded", 5.0, 5.0, None,
                               [RubricLine("t", 5.0, 5.0, True, None, None)]))


@pytest.mark.parametrize("change", [
    {"status": "owned"}, {"score": math.nan}, {"score": "5"}, {"tests": "none"}, {"tests": [1]},
    {"tests": [{"id": "t", "points": 1, "max_points": 1, "passed": "yes", "message": None,
                "misconception": None}]},
    {"extra": 1}, {"notes": "a note"},
])
def test_a_dict_of_another_shape_is_refused(change):
    with pytest.raises((TypeError, ValueError)):
        SubmissionResult.from_dict({**GOOD, **change})


def test_text_from_a_submission_is_cleaned_and_capped():
    long = "A" * 2**20
    result = SubmissionResult("bad\udc80\x1b[2J", "src", "graded", 0.0, 5.0, None,
                              [RubricLine(f"t{i}", 0.0, 1.0, False, f"\udc80\x1b[31m{long}", None)
                               for i in range(100)], [long] * 500)
    texts = [m.message for m in result.tests] + result.notes
    assert result.student == "bad\\x80\\x1b[2J"  # escaped, not dropped: ids stay distinct
    assert all(len(t) <= 300 and "\x1b" not in t and "\udc80" not in t for t in texts)
    assert sum(map(len, texts)) < MAX_SUBMISSION_CHARS + 100 * 60 and len(result.notes) <= 26
    assert SubmissionResult.from_dict(asdict(result)) == result  # cleaning is idempotent


def test_outputs_are_written_whatever_the_text(tmp_path: Path):
    weird = SubmissionResult.failed("x" * 300, "src", "error", "\ud800 raised\n# heading", 5.0)
    run = RunResult("echo", 5.0, [weird, SubmissionResult.failed("X" * 300, "s", "invalid", "no", 5.0)])
    name_feedback_files(run)
    write_outputs(run, tmp_path, {r.student: (render_markdown(r, "echo", {}), render_html(r, "echo", {}))
                                  for r in run.submissions})
    loaded = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    stems = [s["feedback"] for s in loaded["submissions"]]
    assert len({s.lower() for s in stems}) == 2 and all(len(s) <= 60 for s in stems)
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == sorted(
        f"{s}{ext}" for s in stems for ext in (".md", ".html"))


def test_feedback_names_are_safe_unique_and_plain_where_possible():
    taken: set[str] = set()
    assert safe_file_stem("alice", taken) == "alice" and safe_file_stem("김민수", taken) == "김민수"
    others = [safe_file_stem(s, taken) for s in ("Alice", "../etc", "a/b", ".hidden", "s" * 240, "s" * 239 + "t")]
    assert len({o.lower() for o in others}) == len(others)
    assert all("/" not in o and not o.startswith(".") and len(o) <= 60 for o in others)


def test_markdown_and_terminal_escaping():
    assert markdown_escape("x\n# H [a](b) <i>|`") == "x \\# H \\[a\\]\\(b\\) \\<i\\>\\|\\`"
    assert clean_line("\x1b]0;title\x07ALL\u202eGRADED\r\n") == "]0;title ALL GRADED"


def test_grades_csv_never_holds_a_formula_a_spreadsheet_would_run():
    ids = ["=HYPERLINK(\"http://127.0.0.1/x\",\"click\")", "+1", "-2", "@SUM(A1)", "alice", "o'neil"]
    run = RunResult("echo", 5.0, [SubmissionResult.failed(i, "s", "invalid", "no", 5.0) for i in ids])
    rows = [line.split(",", 1)[0] for line in run.to_csv().splitlines()[1:]]
    assert all(not row.lstrip('"').startswith(("=", "+", "-", "@")) for row in rows)
    assert rows[-2:] == ["alice", "o'neil"]  # ordinary ids are left exactly as they are
