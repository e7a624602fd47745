"""Shared fixtures: grade a folder of submissions with the real `seqlab grade` command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from seqlab_testing import by_student, grade_folder


@pytest.fixture(scope="module")
def grade_class(tmp_path_factory: pytest.TempPathFactory):
    """grade_class(assignment, {student_name: source_path}) -> results.json as a dict, per student."""

    def grade(assignment: str, files: dict[str, Path], *extra: str, course: Path | None = None) -> dict[str, dict]:
        folder = tmp_path_factory.mktemp(f"{assignment}_class")
        for student, source in files.items():
            shutil.copy(source, folder / f"{student}{source.suffix}")
        out = tmp_path_factory.mktemp(f"{assignment}_grades")
        students = by_student(grade_folder(assignment, folder, out, *extra, course=course))
        for name, student in students.items():  # where the student's feedback page was written
            student["feedback_md"] = out / "feedback" / f"{name}.md"
        return students

    return grade
