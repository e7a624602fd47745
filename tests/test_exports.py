"""Gradescope and PrairieLearn packages, run through their own entry points against a fake root.

Each package is built by `seqlab export`, laid out the way the platform lays it out (Gradescope:
/autograder/source + run_autograder + submission/; PrairieLearn: /grade/serverFilesCourse +
student/), and its entry point grades a correct, a buggy and a broken submission. Every field
the platforms document is checked for presence and type, and no student-visible text may quote
the hidden grader or name the container's paths.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from seqlab_testing import REPO, run_seqlab

from seqlab.export.single import WITHHELD, Redactor, find_submission
from seqlab.grading.assignments import load_assignment

pytestmark = pytest.mark.slow

MHA = load_assignment("mha", REPO)
SUBMISSIONS = {
    "correct": REPO / "solutions" / "mha" / "mha.ipynb",
    "buggy": REPO / "tests" / "submissions" / "mha" / "bug_softmax_dim.py",
}
BROKEN = '{"cells": [{"cell_type": "code", "source": "def broken(:"'  # cut off: not a notebook
GRADER_LINES = [line.strip() for line in MHA.grader.read_text().splitlines() if len(line.strip()) >= 24]
ENV = {**os.environ, "SEQLAB_PYTHON": sys.executable}


def _lay_out(folder: Path, kind: str) -> None:
    folder.mkdir(parents=True)
    if kind == "broken":
        (folder / "mha.ipynb").write_text(BROKEN)
    else:
        shutil.copy(SUBMISSIONS[kind], folder / f"mha{SUBMISSIONS[kind].suffix}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _assert_nothing_hidden(results: dict, root: Path) -> None:
    for text in _strings(results):
        assert "def test_" not in text and "graders/" not in text and str(root) not in text, text
        assert str(REPO) not in text, text
        assert not any(line in text for line in GRADER_LINES), text


# -- Gradescope ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gradescope_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gs") / "autograder.zip"
    done = run_seqlab("export", "gradescope", "mha", "--out", str(out), course=REPO)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def gradescope(gradescope_zip: Path, tmp_path_factory: pytest.TempPathFactory):
    runs: dict[str, tuple[dict, str, Path]] = {}

    def grade(kind: str) -> tuple[dict, str, Path]:
        if kind not in runs:
            root = tmp_path_factory.mktemp(f"autograder_{kind}")
            with zipfile.ZipFile(gradescope_zip) as archive:
                archive.extractall(root / "source")
            shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
            (root / "run_autograder").chmod(0o755)
            _lay_out(root / "submission", kind)
            done = subprocess.run([str(root / "run_autograder")], env={**ENV, "SEQLAB_GRADESCOPE_ROOT": str(root)},
                                  cwd=root, capture_output=True, text=True, timeout=600, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            runs[kind] = (json.loads((root / "results" / "results.json").read_text()), done.stdout, root)
        return runs[kind]

    return grade


def test_the_zip_follows_gradescopes_layout(gradescope_zip: Path):
    with zipfile.ZipFile(gradescope_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        requirements = archive.read("requirements.txt").decode().split()
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder.json"} <= names
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & stat.S_IXUSR, f"{script} is not executable"
    assert requirements[0] == "torch==2.13.0" and "torch==2.13.0" in setup.replace('"__TORCH_PIN__"', "")
    assert "seqlab/course/graders/test_mha.py" in names and "seqlab/src/seqlab/oracles/mha.py" in names
    assert "seqlab/course/assignments/mha/mha.ipynb" in names  # the skeleton, for locked cells
    assert not any(n.startswith(("solutions/", "seqlab/course/solutions", "tests/")) or "__pycache__" in n
                   for n in names)
    assert "load_assignment('mha')" in setup  # setup checks the hidden graders load


def _check_gradescope_fields(results: dict) -> None:
    assert isinstance(results["score"], float) and isinstance(results["output"], str)
    assert isinstance(results["execution_time"], int) and results["visibility"] == "visible"
    assert results["stdout_visibility"] == "hidden"
    assert len(results["tests"]) == len(MHA.rubric)
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert test["status"] in ("passed", "failed") and isinstance(test["output"], str)
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert (test["status"] == "passed") == (test["score"] == test["max_score"])
    assert sum(t["max_score"] for t in results["tests"]) == MHA.max_score


def test_gradescope_correct_submission_full_marks(gradescope):
    results, stdout, root = gradescope("correct")
    _check_gradescope_fields(results)
    assert results["score"] == MHA.max_score and all(t["status"] == "passed" for t in results["tests"])
    assert "expected sandbox level in this container: rlimits" in stdout  # the instructor's log
    assert "sandbox level used:" in stdout
    _assert_nothing_hidden(results, root)


def test_gradescope_buggy_submission_names_its_misconception(gradescope):
    results, _, root = gradescope("buggy")
    _check_gradescope_fields(results)
    assert 0 < results["score"] < MHA.max_score
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    entry = MHA.feedback["softmax-dim"]
    assert any(entry["title"]["en"] in t["output"] and entry["explain"]["en"] in t["output"]
               and entry["quiz"] in t["output"] for t in failed)
    assert failed[0]["name"] in results["output"]  # the summary lists what to review
    _assert_nothing_hidden(results, root)


def test_gradescope_broken_submission_scores_zero_with_the_reason(gradescope):
    results, _, root = gradescope("broken")
    _check_gradescope_fields(results)
    assert results["score"] == 0.0 and all(t["status"] == "failed" for t in results["tests"])
    assert "could not be graded" in results["output"] and "notebook" in results["output"]
    _assert_nothing_hidden(results, root)


# -- PrairieLearn ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prairielearn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pl") / "course"
    done = run_seqlab("export", "prairielearn", "mha", "--out", str(out), "--lang", "ko", course=REPO)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def prairielearn(prairielearn_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    runs: dict[str, tuple[dict, str, Path]] = {}

    def grade(kind: str) -> tuple[dict, str, Path]:
        if kind not in runs:
            root = tmp_path_factory.mktemp(f"grade_{kind}")
            shutil.copytree(prairielearn_dir / "serverFilesCourse", root / "serverFilesCourse")
            _lay_out(root / "student", kind)
            entry = root / "serverFilesCourse" / "seqlab" / "run.sh"
            done = subprocess.run([str(entry)], env={**ENV, "SEQLAB_PRAIRIELEARN_ROOT": str(root)}, cwd=root,
                                  capture_output=True, text=True, timeout=600, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            runs[kind] = (json.loads((root / "results" / "results.json").read_text()), done.stdout, root)
        return runs[kind]

    return grade


def test_the_question_enables_the_external_grader(prairielearn_dir: Path):
    info = json.loads((prairielearn_dir / "questions" / "mha" / "info.json").read_text())
    options = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and options["enabled"] is True
    assert options["entrypoint"] == "/grade/serverFilesCourse/seqlab/run.sh"
    assert options["serverFilesCourse"] == ["seqlab/"] and 0 < options["timeout"] <= 600
    assert os.access(prairielearn_dir / "serverFilesCourse" / "seqlab" / "run.sh", os.X_OK)
    assert "torch==2.13.0" in (prairielearn_dir / "Dockerfile").read_text()
    assert "pl-file-upload" in (prairielearn_dir / "questions" / "mha" / "question.html").read_text()


def _check_prairielearn_fields(results: dict) -> None:
    assert isinstance(results["gradable"], bool) and isinstance(results["score"], float)
    assert 0.0 <= results["score"] <= 1.0 and isinstance(results["message"], str)
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert isinstance(test["name"], str) and isinstance(test["message"], str)
        assert isinstance(test["points"], float) and isinstance(test["max_points"], float)
        assert 0.0 <= test["points"] <= test["max_points"]


def test_prairielearn_correct_submission_scores_one(prairielearn):
    results, stdout, root = prairielearn("correct")
    _check_prairielearn_fields(results)
    assert results["gradable"] is True and results["score"] == 1.0
    assert len(results["tests"]) == len(MHA.rubric) and "sandbox level used:" in stdout
    _assert_nothing_hidden(results, root)


def test_prairielearn_buggy_submission_explains_in_the_course_language(prairielearn):
    results, _, root = prairielearn("buggy")
    _check_prairielearn_fields(results)
    assert results["gradable"] is True and 0.0 < results["score"] < 1.0
    lost = [t for t in results["tests"] if t["points"] < t["max_points"]]
    entry = MHA.feedback["softmax-dim"]
    assert any(entry["title"]["ko"] in t["message"] and entry["explain"]["ko"] in t["message"]
               for t in lost)  # exported with --lang ko
    assert sum(t["points"] for t in results["tests"]) / MHA.max_score == pytest.approx(results["score"])
    _assert_nothing_hidden(results, root)


def test_prairielearn_broken_submission_is_not_gradable(prairielearn):
    results, _, root = prairielearn("broken")
    _check_prairielearn_fields(results)
    assert results["gradable"] is False and results["tests"] == []
    assert isinstance(results["format_errors"], list) and all(isinstance(e, str) for e in results["format_errors"])
    assert "notebook" in results["format_errors"][0]
    _assert_nothing_hidden(results, root)


# -- what reaches students -------------------------------------------------------------------

def test_a_message_quoting_the_grader_is_withheld_and_paths_hidden(tmp_path: Path):
    redact = Redactor(MHA, [tmp_path])
    quoted = GRADER_LINES[len(GRADER_LINES) // 2]
    assert redact(f"your code raised ValueError: {quoted}") == WITHHELD
    assert redact(f"cannot open {tmp_path}/submission/x.ipynb") == "cannot open …/submission/x.ipynb"
    assert redact("attention rows do not sum to 1") == "attention rows do not sum to 1"


def test_the_submission_is_found_or_the_reason_given(tmp_path: Path):
    assert find_submission(tmp_path / "missing", "mha") == (None, "no submission folder was handed over")
    assert find_submission(tmp_path, "mha")[1].startswith("no .ipynb or .py file")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "notes.py").write_text("")
    (tmp_path / "nested" / "mha.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "mha.ipynb").write_text("{}")
    assert find_submission(tmp_path, "mha") == (tmp_path / "nested" / "mha.ipynb", None)
    (tmp_path / "mha.py").write_text("")
    (tmp_path / "other.ipynb").write_text("{}")
    (tmp_path / "nested" / "mha.ipynb").unlink()
    assert find_submission(tmp_path, "mha") == (tmp_path / "mha.py", None)
    (tmp_path / "mha.py").rename(tmp_path / "b.py")
    (tmp_path / "c.ipynb").write_text("{}")
    assert "several files" in find_submission(tmp_path, "mha")[1]
