"""The `seqlab` command as a user meets it: one-line errors, exit codes, check and timeouts."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from seqlab_testing import FIXTURE_COURSE, run_seqlab
from test_hostile_submissions import CORRECT


@pytest.mark.parametrize("args, message", [
    (["grade", "ech", "."], "error: unknown assignment 'ech' (did you mean 'echo'?)"),
    (["grade", "echo", "/nonexistent/folder"], "error: no such file or folder: /nonexistent/folder"),
    (["grade", "echo", "--jobs", "0", "."], "error: argument --jobs: must be positive"),
    (["frobnicate"], "error: argument command: invalid choice"),
])
def test_usage_errors_are_one_line_with_exit_2(args, message):
    done = run_seqlab(*args, course=FIXTURE_COURSE)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_an_empty_folder_is_a_usage_error(tmp_path: Path):
    done = run_seqlab("grade", "echo", str(tmp_path), course=FIXTURE_COURSE)
    assert (done.returncode, done.stderr.strip()) == (
        2, "error: no submission found (pass .ipynb/.py files or folders holding them)")


def test_without_hidden_graders_grading_says_so(tmp_path: Path):
    done = run_seqlab("grade", "mha", str(tmp_path), course=tmp_path)
    assert done.returncode == 2 and "hidden graders are not installed" in done.stderr



def test_a_rubric_marker_that_is_not_a_literal_is_a_one_line_error(tmp_path: Path):
    """Markers are read without running the grader: a constant there is named, not a traceback."""
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    grader = course / "graders" / "test_echo.py"
    grader.write_text(grader.read_text().replace('misconception="doubling"',
                                                 'misconception="doubling", depends_on=ITEMS', 1))
    (tmp_path / "alice.py").write_text(CORRECT)
    done = run_seqlab("grade", "echo", str(tmp_path / "alice.py"), "--out", str(tmp_path / "out"),
                      course=course)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert "test_echo.py:test_" in done.stderr and "depends_on= is not a literal" in done.stderr

def test_check_passes_a_correct_module_and_exits_0(tmp_path: Path):
    path = tmp_path / "echo.py"
    path.write_text(CORRECT)
    done = run_seqlab("check", str(path), course=FIXTURE_COURSE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2/2 checks passed" in done.stdout


def test_check_reports_the_failing_public_check_and_exits_1(tmp_path: Path):
    path = tmp_path / "mine.py"
    path.write_text(CORRECT.replace("return x * 2", "return x + 2"))
    done = run_seqlab("check", str(path), "--assignment", "echo", course=FIXTURE_COURSE)
    assert done.returncode == 1
    assert "double(x) should equal 2 * x" in done.stdout and "1/2 checks passed" in done.stdout


def test_check_cannot_guess_the_assignment_of_an_unnamed_module(tmp_path: Path):
    path = tmp_path / "mine.py"
    path.write_text(CORRECT)
    done = run_seqlab("check", str(path), course=FIXTURE_COURSE)
    assert done.returncode == 2 and "add --assignment" in done.stderr


def test_a_submission_over_its_time_budget_gets_status_timeout(tmp_path: Path):
    slow = CORRECT.replace("return x * 2", "import time\n    time.sleep(1.5)\n    return x * 2")
    (tmp_path / "slow.py").write_text(slow + "\nimport time\ntime.sleep(1.5)\n")
    (tmp_path / "fine.py").write_text(CORRECT)
    out = tmp_path / "out"
    done = run_seqlab("grade", "echo", str(tmp_path), "--out", str(out), "--timeout", "2",
                      course=FIXTURE_COURSE)
    assert done.returncode == 0, done.stderr
    results = {s["student"]: s for s in json.loads((out / "results.json").read_text())["submissions"]}
    assert (results["slow"]["status"], results["slow"]["score"]) == ("timeout", 0.0)
    assert "budget" in results["slow"]["error"]
    assert (results["fine"]["status"], results["fine"]["score"]) == ("graded", 5.0)


def test_regrading_overwrites_results_and_removes_stale_feedback(tmp_path: Path):
    first, second, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    first.mkdir(), second.mkdir()
    (first / "old_student.py").write_text(CORRECT)
    (second / "new_student.py").write_text(CORRECT)
    assert run_seqlab("grade", "echo", str(first), "--out", str(out), course=FIXTURE_COURSE).returncode == 0
    assert run_seqlab("grade", "echo", str(second), "--out", str(out), course=FIXTURE_COURSE).returncode == 0
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["new_student.html", "new_student.md"]
    assert [s["student"] for s in json.loads((out / "results.json").read_text())["submissions"]] == ["new_student"]
    assert not list(out.glob(".*.tmp"))


def test_check_of_an_untouched_skeleton_says_what_to_fill_in(tmp_path: Path):
    fetched = run_seqlab("fetch", "mha", cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    done = run_seqlab("check", "mha.ipynb", cwd=tmp_path)
    assert done.returncode == 1
    assert "not implemented yet" in " ".join(done.stdout.split())
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.machine_wide  # any seqlab-root-* in /tmp counts: no other worker may be grading meanwhile
def test_grading_leaves_no_sandbox_directories_behind(tmp_path: Path):
    def mount_points() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("seqlab-root-*"))

    before = mount_points()
    (tmp_path / "alice.py").write_text(CORRECT)
    done = run_seqlab("grade", "echo", str(tmp_path), "--out", str(tmp_path / "out"), course=FIXTURE_COURSE)
    assert done.returncode == 0, done.stderr
    assert mount_points() - before == set()
