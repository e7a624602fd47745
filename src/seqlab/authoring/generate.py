"""Build the student skeletons in assignments/ from the solution notebooks in solutions/.

`solutions/<id>/<id>.ipynb` is the single source of truth. The skeleton is that notebook run
through nbgrader's own preprocessors, in this order:

1. `ClearOutput`: outputs and execution counts removed (nothing the reference printed leaks);
2. `ClearSolutions`: every `### BEGIN SOLUTION` ... `### END SOLUTION` region becomes
   `# YOUR CODE HERE` + `raise NotImplementedError()`, indented like the code it replaces;
3. a leak check: no solution marker may survive.

Cell metadata (nbgrader grade ids, locks) is kept, so the grading engine recognises the
skeleton's check/demo cells in a student's copy. Output is written with `nbformat.write`, whose
JSON is sorted and indented, so generating twice gives identical bytes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from seqlab.errors import SeqlabError

__all__ = ["build_skeleton", "generate_assignments", "solution_notebooks"]

_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
_REBUILD_HINT = "fix the solution notebook, then run `seqlab generate`"


def solution_notebooks(course_root: Path) -> list[Path]:
    """Every `solutions/<id>/<id>.ipynb`, sorted by assignment id."""
    folder = course_root / "solutions"
    if not folder.is_dir():
        raise SeqlabError(f"no solutions/ folder under {course_root}",
                          "run from the course checkout or set SEQLAB_COURSE_ROOT")
    found = [d / f"{d.name}.ipynb" for d in sorted(folder.iterdir())
             if d.is_dir() and (d / f"{d.name}.ipynb").is_file()]
    if not found:
        raise SeqlabError(f"no solution notebooks in {folder}",
                          "each assignment needs solutions/<id>/<id>.ipynb")
    return found


def _read(path: Path):  # -> nbformat.NotebookNode
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise SeqlabError(f"{path}: not a readable notebook ({exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})", _REBUILD_HINT) from None
    except Exception as exc:  # noqa: BLE001 -- nbformat's validation raises many types
        raise SeqlabError(f"{path}: invalid notebook ({exc.__class__.__name__})", _REBUILD_HINT) from None
    return notebook


def build_skeleton(solution: Path) -> str:
    """The skeleton's exact file text for one solution notebook."""
    import nbformat
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    notebook = _read(solution)
    for index, cell in enumerate(notebook.cells):
        if not isinstance(cell.get("source"), str):
            raise SeqlabError(f"{solution}: cell {index} has no text", _REBUILD_HINT)
    resources: dict = {}
    notebook, resources = ClearOutput().preprocess(copy.deepcopy(notebook), resources)
    try:
        notebook, resources = ClearSolutions().preprocess(notebook, resources)
    except (RuntimeError, ValueError) as exc:
        raise SeqlabError(f"{solution}: {exc}",
                          "put solution regions only in cells whose nbgrader metadata says "
                          "solution: true, each closed by ### END SOLUTION") from None
    for index, cell in enumerate(notebook.cells):
        if any(marker in cell.source for marker in _MARKERS):
            raise SeqlabError(f"{solution}: cell {index} still holds a solution marker after clearing",
                              _REBUILD_HINT)
    text = nbformat.writes(notebook, version=4)
    return text if text.endswith("\n") else text + "\n"  # as nbformat.write does


def generate_assignments(course_root: Path, check: bool = False) -> list[Path]:
    """Write `assignments/<id>/<id>.ipynb` for every solution; return the paths that changed.

    With `check=True` nothing is written: the paths returned are the skeletons that are
    missing or differ from what their solution would generate (drift).
    """
    changed: list[Path] = []
    for solution in solution_notebooks(course_root):
        assignment_id = solution.parent.name
        target = course_root / "assignments" / assignment_id / solution.name
        text = build_skeleton(solution)
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            continue
        changed.append(target)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return changed
