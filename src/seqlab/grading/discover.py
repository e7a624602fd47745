"""Find the submissions under the paths an instructor names, and give each its student id.

Rules (spec/cli.md): a `.ipynb`/`.py` file is one submission named by its stem; in a folder,
`STUDENT.ipynb`/`STUDENT.py`, `STUDENT/<one notebook or module>`, or nbgrader's
`STUDENT/ASSIGNMENT/<notebook>.ipynb`. A student folder that holds several candidates is still
reported (as invalid, with the reason) so nobody silently disappears from the gradebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import UsageError

__all__ = ["Found", "discover"]

SUFFIXES = (".ipynb", ".py")
_IGNORED = {".ipynb_checkpoints", "__pycache__", ".git"}


@dataclass(frozen=True)
class Found:
    student: str
    path: Path | None
    problem: str | None = None


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in _IGNORED


def _candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES and _visible(p))


def _pick(student: str, files: list[Path], assignment: str) -> Found:
    if len(files) == 1:
        return Found(student, files[0])
    preferred = [f for f in files if f.stem == assignment]
    if len(preferred) == 1:
        return Found(student, preferred[0])
    names = ", ".join(f.name for f in files)
    return Found(student, None, f"found several submissions ({names}); keep one .ipynb or .py")


def _from_student_folder(folder: Path, assignment: str) -> Found | None:
    nbgrader_layout = folder / assignment
    if nbgrader_layout.is_dir():
        files = [f for f in _candidates(nbgrader_layout) if f.suffix == ".ipynb"] or _candidates(nbgrader_layout)
        if files:
            return _pick(folder.name, files, assignment)
    files = _candidates(folder)
    return _pick(folder.name, files, assignment) if files else None


def discover(paths: list[Path], assignment: str) -> list[Found]:
    """Every submission under `paths`, in a stable order, with unique student ids."""
    found: list[Found] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}", "check the path")
        if path.is_file():
            if path.suffix not in SUFFIXES:
                raise UsageError(f"{path} is not a .ipynb or .py file", "name a notebook, a module or a folder")
            found.append(Found(path.stem, path))
            continue
        for entry in sorted(filter(_visible, path.iterdir())):
            if entry.is_file() and entry.suffix in SUFFIXES:
                found.append(Found(entry.stem, entry))
            elif entry.is_dir():
                student = _from_student_folder(entry, assignment)
                if student is not None:
                    found.append(student)
    if not found:
        raise UsageError("no submission found", "pass .ipynb/.py files or folders holding them")
    return _unique(found)


def _unique(found: list[Found]) -> list[Found]:
    seen: dict[str, Found] = {}
    result = []
    for item in found:
        if item.student in seen:
            other = seen[item.student].path
            result.append(Found(f"{item.student}~{len(result)}", item.path,
                                f"duplicate student id '{item.student}' (also {other}); grade one file per student"))
            continue
        seen[item.student] = item
        result.append(item)
    return result
