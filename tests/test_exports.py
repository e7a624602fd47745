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


def _export(factory: pytest.TempPathFactory, platform: str, name: str, *extra: str) -> Path:
    out = factory.mktemp(platform) / name
    done = run_seqlab("export", platform, "mha", "--out", str(out), *extra, course=REPO)
    assert done.returncode == 0, done.stderr
    return out


def _run_entry_point(entry: Path, root: Path, root_variable: str) -> tuple[dict, str, Path]:
    """Run a package's entry point as its platform would, against `root`; its results.json."""
    done = subprocess.run([str(entry)], env={**ENV, root_variable: str(root)}, cwd=root, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done.stdout, root


# -- Gradescope ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gradescope_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory, "gradescope", "autograder.zip")


@pytest.fixture(scope="module")
def gradescope(gradescope_zip: Path, tmp_path_factory: pytest.TempPathFactory):
    runs: dict[str, tuple[dict, str, Path]] = {}

    def grade(kind: str) -> tuple[dict, str, Path]:
        if kind not in runs:  # /autograder/source is the zip; run_autograder is copied to /autograder
            root = tmp_path_factory.mktemp(f"autograder_{kind}")
            with zipfile.ZipFile(gradescope_zip) as archive:
                archive.extractall(root / "source")
            shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
            (root / "run_autograder").chmod(0o755)
            _lay_out(root / "submission", kind)
            runs[kind] = _run_entry_point(root / "run_autograder", root, "SEQLAB_GRADESCOPE_ROOT")
        return runs[kind]

    return grade


def test_the_zip_follows_gradescopes_layout(gradescope_zip: Path):
    with zipfile.ZipFile(gradescope_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        run_autograder = archive.read("run_autograder").decode()
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
    for script, text in (("setup.sh", setup), ("run_autograder", run_autograder)):
        parsed = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
        assert parsed.returncode == 0, f"{script}: {parsed.stderr}"  # never run here: it needs apt/pip


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
    assert "expected sandbox level in this container: weak" in stdout  # the instructor's log
    assert "sandbox level used:" in stdout
    for private in (root / "source" / "seqlab" / "course", root / "source" / "seqlab" / "src" / "seqlab" / "oracles"):
        assert private.stat().st_mode & 0o077 == 0, f"{private} is readable by the submission's uid"
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


# Docker's default seccomp profile (and no CAP_SYS_ADMIN) refuses namespaces and mounts to the
# root user of a container: the same refusal, installed here before the entry point starts.
DOCKER_LIKE = """import ctypes, os, sys
from seqlab.sandbox import seccomp
ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, as Docker's runtime sets
seccomp.install(seccomp.sandbox_filter())  # unshare/mount/pivot_root/... -> EPERM
os.execv(sys.argv[1], sys.argv[1:])
"""
READS_THE_GRADER = """
try:
    leak = open({grader!r}).read()
except OSError as exc:
    leak = f"unreadable: {{exc}}"
raise ValueError(leak[:3000])
"""


def test_gradescope_without_namespaces_grades_at_the_weak_level_and_leaks_no_grader(gradescope_zip: Path,
                                                                                   tmp_path: Path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(gradescope_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    grader = root / "source" / "seqlab" / "course" / "graders" / "test_mha.py"
    (root / "submission" / "mha.py").write_text(READS_THE_GRADER.format(grader=str(grader)))
    (tmp_path / "docker_like.py").write_text(DOCKER_LIKE)
    done = subprocess.run([sys.executable, str(tmp_path / "docker_like.py"), str(root / "run_autograder")],
                          env={**ENV, "SEQLAB_GRADESCOPE_ROOT": str(root)}, cwd=root, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sandbox level used: WEAK" in done.stdout and "MISSING:" in done.stdout  # loud, in the log
    results = json.loads((root / "results" / "results.json").read_text())
    _check_gradescope_fields(results)
    assert results["score"] == 0.0
    texts = _strings(results)
    assert any("Permission denied" in text for text in texts)  # the submission's uid cannot read it
    assert not any(line in text for text in texts for line in GRADER_LINES)
    assert not any(str(root) in text for text in texts)


# -- PrairieLearn ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prairielearn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory, "prairielearn", "course", "--lang", "ko")


@pytest.fixture(scope="module")
def prairielearn(prairielearn_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    runs: dict[str, tuple[dict, str, Path]] = {}

    def grade(kind: str) -> tuple[dict, str, Path]:
        if kind not in runs:  # /grade/serverFilesCourse/seqlab and /grade/student
            root = tmp_path_factory.mktemp(f"grade_{kind}")
            shutil.copytree(prairielearn_dir / "serverFilesCourse", root / "serverFilesCourse")
            _lay_out(root / "student", kind)
            entry = root / "serverFilesCourse" / "seqlab" / "run.sh"
            runs[kind] = _run_entry_point(entry, root, "SEQLAB_PRAIRIELEARN_ROOT")
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
    assert (root / "serverFilesCourse" / "seqlab" / "course").stat().st_mode & 0o077 == 0
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


@pytest.mark.parametrize("args, message", [
    (["export", "gradescope", "mhx"], "error: unknown assignment 'mhx' (did you mean 'mha'?)"),
    (["export"], "error: the following arguments are required: platform"),
    (["export", "prairielearn", "mha", "--lang", "jp"], "error: argument --lang: invalid choice"),
])
def test_export_usage_errors_are_one_line_with_exit_2(tmp_path: Path, args, message):
    done = run_seqlab(*args, course=REPO, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(message) and done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


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
