"""An assignment is known by its grader file: `graders/test_<id>.py`. Nothing keeps a second list.

The rubric (test ids and points) is read statically with `ast`, so the instructor's process can
report max scores and validate markers without importing torch or running any grader code.
"""

from __future__ import annotations

import ast
import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import SeqlabError, UsageError
from seqlab.paths import course_root, skeleton_dir

__all__ = ["Assignment", "RubricItem", "load_assignment"]


@dataclass(frozen=True)
class RubricItem:
    id: str
    points: float
    misconception: str | None


@dataclass(frozen=True)
class Assignment:
    id: str
    root: Path
    grader: Path
    rubric: tuple[RubricItem, ...]
    feedback: dict[str, dict]
    skeleton: Path | None
    student_api: tuple[str, ...] = ()

    @property
    def max_score(self) -> float:
        return sum(item.points for item in self.rubric)

    @property
    def graders_dir(self) -> Path:
        return self.grader.parent


def _marker_kwargs(decorator: ast.expr, where: str) -> dict[str, object] | None:
    """The rubric marker's arguments, read without running the grader (so they must be literals)."""
    if not isinstance(decorator, ast.Call):
        return None
    func = decorator.func
    if not (isinstance(func, ast.Attribute) and func.attr == "rubric"):
        return None
    kwargs: dict[str, object] = {}
    for kw in decorator.keywords:
        if not kw.arg:
            continue
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise SeqlabError(f"{where}: rubric argument {kw.arg}= is not a literal",
                              "write it out (e.g. depends_on=(\"item\",)): markers are read "
                              "without running the grader") from None
    return kwargs


def read_student_api(grader: Path) -> tuple[str, ...]:
    """The names a submission must define, from the grader's `STUDENT_API = (...)`."""
    tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "STUDENT_API"
                                                for t in node.targets):
            return tuple(str(n) for n in ast.literal_eval(node.value))
    return ()


def read_rubric(grader: Path) -> tuple[RubricItem, ...]:
    tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    items = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = [k for k in (_marker_kwargs(d, f"{grader.name}:{node.name}")
                                   for d in node.decorator_list) if k is not None]
            if not marks or "points" not in marks[0]:
                raise SeqlabError(f"{grader.name}:{node.name} has no @pytest.mark.rubric(points=...)",
                                  "every grader test is one rubric item")
            misconception = marks[0].get("misconception")
            items.append(RubricItem(node.name.removeprefix("test_"), float(marks[0]["points"]),
                                    str(misconception) if misconception else None))
    return tuple(items)


def _read_feedback(graders_dir: Path, assignment_id: str) -> dict[str, dict]:
    data: dict[str, dict] = {}
    for name in ("common.toml", f"{assignment_id}.toml"):
        path = graders_dir / "feedback" / name
        if path.is_file():
            try:
                data.update(tomllib.loads(path.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise SeqlabError(f"{path}: {exc}", "fix the feedback file") from None
    return data


def available(graders_dir: Path) -> list[str]:
    return sorted(p.stem.removeprefix("test_") for p in graders_dir.glob("test_*.py"))


def load_assignment(assignment_id: str, root: Path | None = None) -> Assignment:
    """The assignment's grader, rubric and feedback; a usage error names the known ones."""
    root = root or course_root()
    if root is None or not (root / "graders").is_dir():
        raise UsageError("the hidden graders are not installed",
                         "grading needs the instructor's course folder; set SEQLAB_COURSE_ROOT")
    known = available(root / "graders")
    if assignment_id not in known:
        close = difflib.get_close_matches(assignment_id, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known) or 'none'}"
        raise UsageError(f"unknown assignment '{assignment_id}'", hint)
    grader = root / "graders" / f"test_{assignment_id}.py"
    skeleton = root / "assignments" / assignment_id / f"{assignment_id}.ipynb"
    if not skeleton.is_file():
        skeleton = skeleton_dir() / assignment_id / f"{assignment_id}.ipynb"
    return Assignment(assignment_id, root, grader, read_rubric(grader),
                      _read_feedback(root / "graders", assignment_id),
                      skeleton if skeleton.is_file() else None, read_student_api(grader))
