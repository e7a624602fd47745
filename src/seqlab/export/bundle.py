"""The files a grading container needs: the engine's source, the hidden graders, the skeleton.

The engine is copied as source, oracles included (the graders import them; the public wheel
leaves them out), and run from `PYTHONPATH`; its dependencies come from pyproject.toml with
torch pinned to the version the course is tested on. Nothing here is ever shown to students:
the platforms keep the package on the instructor's side, and the entry points only report
what `single.student_text` lets through.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import seqlab
from seqlab.errors import SeqlabError
from seqlab.grading.assignments import Assignment

__all__ = ["TORCH_PIN", "copy_engine", "requirements"]

TORCH_PIN = "torch==2.13.0"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
_NOT_FOR_GRADING = ("nbgrader", "fsrs", "hypothesis")  # instructor/quiz tooling, never imported


def _package_dir() -> Path:
    return Path(seqlab.__file__).resolve().parent


def requirements() -> list[str]:
    """Runtime dependencies for grading: pyproject's list, torch pinned, tooling left out."""
    pyproject = _package_dir().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        raise SeqlabError("cannot find seqlab's pyproject.toml", "export from the course repository checkout")
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    kept = [d for d in deps if not d.lower().startswith(("torch",) + _NOT_FOR_GRADING)]
    return [TORCH_PIN, *kept]


def copy_engine(assignment: Assignment, dest: Path) -> list[Path]:
    """dest/src/seqlab (engine + oracles) and dest/course/{graders,assignments}; returns files."""
    package = _package_dir()
    oracle = package / "oracles" / f"{assignment.id}.py"
    grader_text = assignment.grader.read_text(encoding="utf-8")
    if f"seqlab.oracles.{assignment.id}" in grader_text and not oracle.is_file():
        raise SeqlabError(f"the {assignment.id} oracle is not installed ({oracle})",
                          "export from the course repository, not from the student wheel")
    shutil.copytree(package, dest / "src" / "seqlab", ignore=_SKIP, dirs_exist_ok=True)
    graders = dest / "course" / "graders"
    (graders / "feedback").mkdir(parents=True, exist_ok=True)
    shutil.copy2(assignment.grader, graders / assignment.grader.name)
    for name in ("common.toml", f"{assignment.id}.toml"):
        source = assignment.graders_dir / "feedback" / name
        if source.is_file():
            shutil.copy2(source, graders / "feedback" / name)
    if assignment.skeleton is not None:
        skeleton = dest / "course" / "assignments" / assignment.id
        skeleton.mkdir(parents=True, exist_ok=True)
        shutil.copy2(assignment.skeleton, skeleton / assignment.skeleton.name)
    return sorted(p for p in dest.rglob("*") if p.is_file())
