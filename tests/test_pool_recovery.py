"""A grading worker that dies costs only the submission it was grading, never the class run.

The grader here kills its own worker process (os._exit) for a submission defining
`KILL_WORKER`: the pool is replaced, every other student is graded, and the culprit alone is an
`error` after its one retry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hostile_corpus import CORRECT
from seqlab_testing import FIXTURE_COURSE, by_student, grade_folder

KILLER_TEST = '''

@pytest.mark.rubric(points=1, misconception="doubling")
def test_worker_survives(submission):
    if submission.has("KILL_WORKER"):
        import os
        os._exit(3)
'''


def test_a_dying_worker_costs_only_its_own_submission(tmp_path: Path):
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    grader = course / "graders" / "test_echo.py"
    grader.write_text(grader.read_text() + KILLER_TEST)
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ann", "ben", "dan"):
        (folder / f"{name}.py").write_text(CORRECT)
    (folder / "carl_killer.py").write_text(CORRECT + "\nKILL_WORKER = True\n")
    students = by_student(grade_folder("echo", folder, tmp_path / "out", "--jobs", "1", course=course))
    assert {name: (s["status"], s["score"]) for name, s in students.items() if name != "carl_killer"} == {
        name: ("graded", 6.0) for name in ("ann", "ben", "dan")}
    killer = students["carl_killer"]
    assert (killer["status"], killer["score"]) == ("error", 0.0) and "worker died twice" in killer["error"]
