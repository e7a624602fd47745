"""Shared fixtures: grade a folder of submissions with the real `seqlab grade` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"
SEQLAB = str(Path(sys.executable).parent / "seqlab")


def run_seqlab(*args: str, course: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed `seqlab` console script as a user would."""
    env = dict(os.environ)
    if course is not None:
        env["SEQLAB_COURSE_ROOT"] = str(course)
    return subprocess.run([SEQLAB, *args], capture_output=True, text=True, env=env, timeout=timeout)


def grade_folder(assignment: str, folder: Path, out: Path, *extra: str, course: Path | None = None) -> dict[str, Any]:
    """Grade every submission in `folder` with ONE run; returns results.json as a dict."""
    done = run_seqlab("grade", assignment, str(folder), "--out", str(out), *extra, course=course)
    assert done.returncode == 0, f"seqlab grade failed ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads((out / "results.json").read_text())


def by_student(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["student"]: s for s in results["submissions"]}


@pytest.fixture(scope="module")
def grade_class(tmp_path_factory: pytest.TempPathFactory):
    """grade_class(assignment, {student_name: source_path}) -> results.json as a dict, per student."""

    def grade(assignment: str, files: dict[str, Path], *extra: str, course: Path | None = None) -> dict[str, dict]:
        folder = tmp_path_factory.mktemp(f"{assignment}_class")
        for student, source in files.items():
            shutil.copy(source, folder / f"{student}{source.suffix}")
        out = tmp_path_factory.mktemp(f"{assignment}_grades")
        return by_student(grade_folder(assignment, folder, out, *extra, course=course))

    return grade
