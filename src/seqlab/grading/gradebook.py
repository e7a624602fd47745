"""Record a graded class in an nbgrader gradebook, through nbgrader's own `Gradebook` API.

Instructors who run nbgrader keep using its gradebook (formgrader, `nbgrader export`). The
mapping is one-to-one with our rubric:

- nbgrader assignment = our assignment id; one notebook of the same name (`<id>.ipynb`);
- one nbgrader *grade cell* per rubric item (name = rubric id, max score = its points);
- each student's rubric points become the `auto_score` of those grades on their submission.

Re-grading updates the same rows (nothing is duplicated); rubric items that disappeared from the
grader are removed, new ones added, so nbgrader's totals always equal our `grades.csv`. A manual
score an instructor entered in formgrader still takes precedence, as nbgrader defines it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqlab.errors import SeqlabError

from .assignments import Assignment
from .results import RunResult, SubmissionResult

__all__ = ["record_in_gradebook"]

_HINT = "results.json and grades.csv were written; give a SQLAlchemy URL such as sqlite:///gradebook.db"


@contextmanager
def _quiet_nbgrader() -> Iterator[None]:
    """nbgrader's first use of a database runs the `alembic` executable and warns via SQLAlchemy."""
    from sqlalchemy.exc import SAWarning

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old_path])
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=SAWarning)
            warnings.filterwarnings("ignore", module="sqlalchemy")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        os.environ["PATH"] = old_path


@contextmanager
def _open(url: str) -> Iterator[object]:
    from nbgrader.api import Gradebook

    try:
        gradebook = Gradebook(url)
    except Exception as exc:  # noqa: BLE001 - bad URL, unwritable file, foreign database
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise SeqlabError(f"cannot open the gradebook {url}: {type(exc).__name__}: {first}", _HINT) from None
    try:
        yield gradebook
    finally:
        gradebook.close()


def _ensure_structure(gradebook, assignment: Assignment) -> None:
    """Assignment, notebook and one grade cell per rubric item, matching the current rubric."""
    from nbgrader.api import MissingEntry

    gradebook.update_or_create_assignment(assignment.id)
    try:
        notebook = gradebook.find_notebook(assignment.id, assignment.id)
    except MissingEntry:
        notebook = gradebook.add_notebook(assignment.id, assignment.id)
    wanted = {item.id: item.points for item in assignment.rubric}
    for cell in list(notebook.grade_cells):
        if cell.name not in wanted:  # a rubric item the grader no longer has
            for grade in list(cell.grades):
                gradebook.db.delete(grade)
            gradebook.db.delete(cell)
    gradebook.db.commit()
    for name, points in wanted.items():
        gradebook.update_or_create_grade_cell(name, assignment.id, assignment.id,
                                              max_score=points, cell_type="code")


def _submission_notebook(gradebook, assignment_id: str, student: str):
    from nbgrader.api import MissingEntry

    try:
        gradebook.find_student(student)
    except MissingEntry:
        gradebook.add_student(student)
    try:
        gradebook.find_submission(assignment_id, student)
    except MissingEntry:
        gradebook.add_submission(assignment_id, student)
    return gradebook.find_submission_notebook(assignment_id, assignment_id, student)


def _record(gradebook, assignment: Assignment, result: SubmissionResult) -> None:
    from nbgrader.api import Grade

    submitted = _submission_notebook(gradebook, assignment.id, result.student)
    grades = {grade.cell.name: grade for grade in submitted.grades}
    points = {test.id: test.points for test in result.tests} if result.status == "graded" else {}
    for cell in submitted.notebook.grade_cells:
        grade = grades.get(cell.name)
        if grade is None:  # a rubric item added after this student was first recorded
            grade = Grade(cell_id=cell.id, notebook=submitted)
            gradebook.db.add(grade)
        grade.auto_score = float(points.get(cell.name, 0.0))
        grade.needs_manual_grade = False
    gradebook.db.commit()


def record_in_gradebook(run: RunResult, assignment: Assignment, url: str) -> None:
    """Create what is missing (assignment, notebook, grade cells, students) and set every grade."""
    with _quiet_nbgrader(), _open(url) as gradebook:
        try:
            _ensure_structure(gradebook, assignment)
            for result in run.submissions:
                _record(gradebook, assignment, result)
        except SeqlabError:
            raise
        except Exception as exc:  # noqa: BLE001 - database errors become one line
            gradebook.db.rollback()
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise SeqlabError(f"could not record grades in {url}: {type(exc).__name__}: {first}",
                              _HINT) from None
