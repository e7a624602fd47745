"""Find the submissions under the paths an instructor names, and give each its student id.

Rules (spec/cli.md): a `.ipynb`/`.py` file is one submission named by its stem; in a folder,
`STUDENT.ipynb`/`STUDENT.py`, `STUDENT/<one notebook or module>`, or nbgrader's
`STUDENT/ASSIGNMENT/<notebook>.ipynb`. A student folder that holds several candidates is still
reported (as invalid, with the reason) so nobody silently disappears from the gradebook.

The paths the instructor names are trusted; everything found inside them is not. A symlink that
resolves outside the student's own submission (a top-level entry that is a link at all, or a
link inside a student folder that leaves it) is reported as `invalid` and never read. Student
ids are cleaned (`clean_id`: names that are not UTF-8 or hold control characters stay distinct
but printable) before they are made unique.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import UsageError
from seqlab.text import clean_id

__all__ = ["OUTSIDE", "Found", "discover"]

SUFFIXES = (".ipynb", ".py")
OUTSIDE = "symlink outside the submission: not read"
_IGNORED = {".ipynb_checkpoints", "__pycache__", ".git"}


@dataclass(frozen=True)
class Found:
    """One student's submission: the file to read (never a symlink) and the folder it must stay
    in (`root`, checked again when the file is opened), or why there is nothing to read."""

    student: str
    path: Path | None
    problem: str | None = None
    root: Path | None = None


def _inside(path: Path, root: Path) -> Path | None:
    """The real path of `path` if it resolves inside `root` (itself a real path), else None."""
    real = Path(os.path.realpath(path))
    return real if real == root or root in real.parents else None


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in _IGNORED


def _candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES and _visible(p))


def _pick(student: str, files: list[Path], assignment: str, root: Path) -> Found:
    preferred = [f for f in files if f.stem == assignment]
    chosen = files if len(files) == 1 else preferred
    if len(chosen) == 1:
        real = _inside(chosen[0], root)
        return Found(student, real, None if real else OUTSIDE, root)
    names = ", ".join(clean_id(f.name, 80) for f in files[:10])
    return Found(student, None, f"found several submissions ({names}); keep one .ipynb or .py")


def _from_student_folder(folder: Path, assignment: str) -> Found | None:
    student = folder.name
    try:
        root = Path(os.path.realpath(folder))
        nbgrader_layout = folder / assignment
        if nbgrader_layout.is_dir():
            if _inside(nbgrader_layout, root) is None:
                return Found(student, None, OUTSIDE)
            files = [f for f in _candidates(nbgrader_layout) if f.suffix == ".ipynb"] or _candidates(nbgrader_layout)
            if files:
                return _pick(student, files, assignment, root)
        files = _candidates(folder)
    except OSError as exc:
        return Found(student, None, f"cannot read the folder ({type(exc).__name__})")
    return _pick(student, files, assignment, root) if files else None


def _from_entry(entry: Path, assignment: str, folder: Path) -> Found | None:
    """One entry of a class folder: a submission file, a student folder, or nothing."""
    if entry.is_symlink():  # whatever it points to, it is not this student's own file or folder
        if entry.suffix in SUFFIXES:
            return Found(entry.stem, None, OUTSIDE)
        return Found(entry.name, None, OUTSIDE) if entry.is_dir() else None
    if entry.is_file() and entry.suffix in SUFFIXES:
        return Found(entry.stem, entry, None, folder)
    if entry.is_dir():
        return _from_student_folder(entry, assignment)
    return None


def discover(paths: list[Path], assignment: str) -> list[Found]:
    """Every submission under `paths`, in a stable order, with unique student ids."""
    found: list[Found] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}", "check the path")
        if path.is_file():
            if path.suffix not in SUFFIXES:
                raise UsageError(f"{clean_id(path)} is not a .ipynb or .py file",
                                 "name a notebook, a module or a folder")
            found.append(Found(path.stem, None, OUTSIDE) if path.is_symlink()
                         else Found(path.stem, path, None, Path(os.path.realpath(path.parent))))
            continue
        folder = Path(os.path.realpath(path))
        try:
            entries = sorted(filter(_visible, folder.iterdir()))
        except OSError as exc:
            raise UsageError(f"cannot read {clean_id(path)} ({type(exc).__name__})", "check its permissions") from None
        for entry in entries:
            student = _from_entry(entry, assignment, folder)
            if student is not None:
                found.append(student)
    if not found:
        raise UsageError("no submission found", "pass .ipynb/.py files or folders holding them")
    return _unique(found)


def _unique(found: list[Found]) -> list[Found]:
    seen: dict[str, Found] = {}
    result = []
    for raw in found:
        item = Found(clean_id(raw.student), raw.path, raw.problem, raw.root)
        if item.student in seen:
            other = clean_id(seen[item.student].path or seen[item.student].student)
            result.append(Found(f"{item.student}~{len(result)}", item.path,
                                f"duplicate student id '{item.student}' (also {other}); grade one file per student"))
            continue
        seen[item.student] = item
        result.append(item)
    return result
