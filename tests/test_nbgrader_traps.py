"""nbgrader's known traps do not apply to seqlab (issue 7).

- nbgrader marks a cell failed when it writes to stderr, so a harmless torch `UserWarning` can zero
  a correct answer; seqlab grades by the hidden tests' verdicts only.
- nbgrader's feedback shows hidden test cells and their tracebacks; seqlab's feedback holds one
  message per rubric item and nothing of the grader's source.
- nbgrader trusts the notebook's locked test cells (checksums catch edits, a deleted cell is
  silently not graded); seqlab's rubric lives in graders/, the skeleton's check/demo cells are
  never run in grading, and locked setup cells (imports) run as the skeleton's copy, restored when
  deleted, so editing or deleting any locked cell changes nothing.
The whole class is graded in ONE `seqlab grade` run.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from seqlab_testing import REPO

SOLUTION = REPO / "solutions" / "mha" / "mha.ipynb"
GRADER = REPO / "graders" / "test_mha.py"
BUGGY = sorted((REPO / "tests" / "submissions" / "mha").glob("bug_*.py"))[:3]
WARNS = ('import warnings\nwarnings.warn("student debug output", UserWarning)\n'
         "torch.tensor(torch.ones(2))  # torch's own UserWarning: copy-construct from a tensor\n"
         "import sys\nprint('some debugging noise', file=sys.stderr)\n")


def _reference() -> dict:
    return json.loads(SOLUTION.read_text(encoding="utf-8"))


def _grade_id(cell: dict) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _variant(tmp: Path, name: str, change) -> Path:
    notebook = copy.deepcopy(_reference())
    change(notebook)
    path = tmp / f"{name}.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _warn_everywhere(notebook: dict) -> None:
    for cell in notebook["cells"]:
        if _grade_id(cell).startswith("solution_"):
            source = "".join(cell["source"])
            # also warn inside forward(): every call the graders make writes to stderr
            source = re.sub(r"^        return ", "        warnings.warn('in forward', UserWarning)\n"
                                                  "        return ", source, flags=re.MULTILINE)
            cell["source"] = WARNS + source


def _edit_locked(notebook: dict) -> None:
    for cell in notebook["cells"]:
        gid = _grade_id(cell)
        if gid.startswith("check_"):
            cell["source"] = "assert False, 'student broke the public check'\nraise SystemExit(3)\n"
        elif gid.startswith("demo_"):
            cell["source"] = "while True:\n    pass\n"
        elif gid.startswith("explain_"):
            cell["source"] = "# edited explanation"
        elif gid.startswith("setup_"):  # locked imports: the skeleton's copy runs instead
            cell["source"] = "nn = None\nraise SystemExit('edited setup')\n"


def _delete_locked(notebook: dict) -> None:
    notebook["cells"] = [c for c in notebook["cells"]
                         if not _grade_id(c).startswith(("check_", "demo_", "explain_", "setup_"))]


@pytest.fixture(scope="module")
def graded(grade_class, tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("traps")
    files = {"reference": SOLUTION,
             "warnings": _variant(tmp, "warnings", _warn_everywhere),
             "edited_locked": _variant(tmp, "edited_locked", _edit_locked),
             "deleted_locked": _variant(tmp, "deleted_locked", _delete_locked)}
    files.update({path.stem: path for path in BUGGY})
    return grade_class("mha", files, "--jobs", "2")


def test_the_reference_gets_full_marks(graded):
    assert graded["reference"]["status"] == "graded"
    assert graded["reference"]["score"] == graded["reference"]["max_score"]


def test_a_userwarning_on_stderr_does_not_zero_a_correct_answer(graded):
    student = graded["warnings"]
    assert student["status"] == "graded", student["error"]
    assert student["score"] == student["max_score"], [t for t in student["tests"] if not t["passed"]]


@pytest.mark.parametrize("student", ["edited_locked", "deleted_locked"])
def test_editing_or_deleting_locked_cells_changes_nothing(graded, student):
    reference, changed = graded["reference"], graded[student]
    assert changed["status"] == "graded", changed["error"]
    assert [(t["id"], t["points"]) for t in changed["tests"]] == \
        [(t["id"], t["points"]) for t in reference["tests"]]


def _grader_lines() -> set[str]:
    """Every line of the hidden grader long enough to be recognisable."""
    lines = {line.strip() for line in GRADER.read_text(encoding="utf-8").splitlines()}
    return {line for line in lines if len(line) >= 24 and not line.startswith(("#", '"""', "@pytest"))}


def test_hidden_tests_never_appear_in_feedback(graded):
    hidden = _grader_lines()
    assert len(hidden) > 20
    bugs = [graded[path.stem] for path in BUGGY]
    assert all(b["score"] < b["max_score"] for b in bugs), "the buggy submissions must lose points"
    for student in bugs:
        feedback = student["feedback_md"].read_text(encoding="utf-8")
        html = student["feedback_md"].with_suffix(".html").read_text(encoding="utf-8")
        messages = "\n".join(t["message"] or "" for t in student["tests"])
        for text in (feedback, html, messages):
            assert "Traceback" not in text and "graders/" not in text and "test_mha.py" not in text
            leaked = [line for line in hidden if line in text]
            assert not leaked, f"{student['student']}: grader source in feedback: {leaked[:3]}"
