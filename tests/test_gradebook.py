"""seqlab inside an nbgrader course, checked with real nbgrader (no Jupyter server).

`seqlab course init` makes a course folder in which nbgrader's own `generate_assignment` releases
the skeletons we ship; students' notebooks in nbgrader's `submitted/STUDENT/ASSIGNMENT/` layout are
graded directly; `--gradebook` records the rubric in nbgrader's SQLite gradebook, after which
`nbgrader export` lists our totals; grading again updates, never duplicates.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from seqlab_testing import REPO, run_seqlab

pytestmark = pytest.mark.slow

# every assignment with a solution and its generated skeleton (`seqlab generate --check` guards drift)
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir()
                     if (p / f"{p.name}.ipynb").is_file()
                     and (REPO / "assignments" / p.name / f"{p.name}.ipynb").is_file())
SUBMISSIONS = REPO / "tests" / "submissions" / "mha"
CLASS = {"ana": "ok_einsum", "ben": "bug_softmax_dim", "chae": "bug_no_scaling", "dmitri": "ok_loop_heads"}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"nbgrader {args[0]} failed: {done.stderr[-2000:]}"
    return done


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    done = run_seqlab("course", "init", str(folder))
    assert done.returncode == 0, done.stderr
    # ONE nbgrader process releases every assignment (its own glob over source/; ~7 CPU-s of start-up
    # per process, so five separate calls cost four times what they prove); each release is checked below
    nbgrader(folder, "generate_assignment", "*")
    assert sorted(p.name for p in (folder / "release").iterdir()) == ASSIGNMENTS
    return folder


def test_course_init_writes_nbgrader_config_and_sources(course):
    assert (course / "nbgrader_config.py").is_file()
    for assignment in ASSIGNMENTS:
        source = course / "source" / assignment / f"{assignment}.ipynb"
        assert source.read_bytes() == (REPO / "solutions" / assignment / f"{assignment}.ipynb").read_bytes()
    again = run_seqlab("course", "init", str(course))
    assert again.returncode == 2 and again.stderr.startswith("error:") and "--force" in again.stderr


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_generate_assignment_releases_our_skeleton(course, assignment):
    released = course / "release" / assignment / f"{assignment}.ipynb"
    ours = REPO / "assignments" / assignment / f"{assignment}.ipynb"
    assert code_cells(released) == code_cells(ours)


def _submit(course: Path, student: str, module: Path) -> None:
    """The released notebook with the student's code typed into its solution cells."""
    notebook = json.loads((course / "release" / "mha" / "mha.ipynb").read_text(encoding="utf-8"))
    solution_cells = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    solution_cells[0]["source"] = module.read_text(encoding="utf-8")
    for cell in solution_cells[1:]:
        cell["source"] = "# written above\n"
    target = course / "submitted" / student / "mha" / "mha.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook), encoding="utf-8")


def _grade(course: Path, out: Path) -> dict[str, float]:
    done = run_seqlab("grade", "mha", str(course / "submitted"), "--out", str(out), "--jobs", "2",
                      "--gradebook", f"sqlite:///{course / 'gradebook.db'}")
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "grades.csv", newline="") as handle:
        return {row["student"]: float(row["score"]) for row in csv.DictReader(handle)}


def _export(course: Path) -> dict[str, tuple[float, float]]:
    nbgrader(course, "export", "--to", "export.csv")
    with open(course / "export.csv", newline="") as handle:
        return {row["student_id"]: (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(handle) if row["assignment"] == "mha"}


def _counts(course: Path) -> tuple[int, int, int, int]:
    with sqlite3.connect(course / "gradebook.db") as db:
        return tuple(db.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[return-value]
                     for table in ("student", "submitted_assignment", "grade", "grade_cells"))


def test_nbgrader_export_lists_our_totals_and_regrading_updates(course, tmp_path):
    for student, module in CLASS.items():
        _submit(course, student, SUBMISSIONS / f"{module}.py")
    ours = _grade(course, tmp_path / "first")
    assert sorted(ours) == sorted(CLASS)  # student ids from the submitted/STUDENT/mha/ layout
    assert ours["ana"] == ours["dmitri"] > ours["ben"] > 0
    max_score = json.loads((tmp_path / "first" / "results.json").read_text())["max_score"]
    assert _export(course) == {s: (score, max_score) for s, score in ours.items()}
    counts = _counts(course)

    # ben fixes his bug; grading again updates his grades and adds no rows
    shutil.copy(course / "submitted" / "ana" / "mha" / "mha.ipynb", course / "submitted" / "ben" / "mha" / "mha.ipynb")
    again = _grade(course, tmp_path / "second")
    assert again["ben"] == again["ana"] and again["chae"] == ours["chae"]
    assert _export(course) == {s: (score, max_score) for s, score in again.items()}
    assert _counts(course) == counts
    assert counts[:2] == (len(CLASS), len(CLASS))


def test_a_bad_gradebook_url_is_one_seqlab_error():
    from seqlab.errors import SeqlabError
    from seqlab.grading.assignments import load_assignment
    from seqlab.grading.gradebook import record_in_gradebook
    from seqlab.grading.results import RunResult

    assignment = load_assignment("mha", REPO)
    with pytest.raises(SeqlabError) as caught:
        record_in_gradebook(RunResult("mha", assignment.max_score, []), assignment, "nosuch://x")
    assert "gradebook nosuch://x" in caught.value.one_line() and "\n" not in caught.value.one_line()
