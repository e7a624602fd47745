"""Where notebooks go outside the repository: an nbgrader course folder, a student's folder.

- `init_course(target)`: an nbgrader course directory (`nbgrader_config.py`, `source/<id>/<id>.ipynb`
  copied from `solutions/`), so an instructor keeps nbgrader's own workflow: `nbgrader
  generate_assignment <id>` releases the same skeleton `seqlab generate` builds, and `seqlab grade
  <id> submitted --gradebook ...` fills the same gradebook that `nbgrader export` reads.
- `fetch_skeleton(assignment, folder)`: a student copies the skeleton notebook shipped with seqlab
  into their folder; their own work is never overwritten unless they force it.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from seqlab.errors import UsageError
from seqlab.paths import course_root, skeleton_dir

from .generate import solution_notebooks

__all__ = ["fetch_skeleton", "init_course", "nbgrader_config_text"]


def nbgrader_config_text() -> str:
    """nbgrader's config: the folder holding it is the course root, its gradebook lives there."""
    return (
        '"""nbgrader configuration written by `seqlab course init`."""\n'
        "import os\n\n"
        "c = get_config()  # noqa: F821 - provided by nbgrader\n"
        "# this folder is the course, wherever it is moved\n"
        "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))\n"
        'c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")\n'
        "# the same stub `seqlab generate` writes into assignments/\n"
        'c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}\n'
        "# seqlab grades with its hidden graders into the same gradebook:\n"
        "#   seqlab grade ID submitted --gradebook sqlite:///$PWD/gradebook.db\n"
    )


def _known(names: list[str], wanted: str) -> None:
    if wanted not in names:
        close = difflib.get_close_matches(wanted, names, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(names) or 'none'}"
        raise UsageError(f"unknown assignment '{wanted}'", hint)


def init_course(target: Path, assignments: list[str] | None = None, force: bool = False) -> list[Path]:
    """Write the course folder; return the files written. Existing files need `force`."""
    root = course_root()
    if root is None or not (root / "solutions").is_dir():
        raise UsageError("the solution notebooks are not installed here",
                         "run this in the course repository or set SEQLAB_COURSE_ROOT")
    solutions = {path.parent.name: path for path in solution_notebooks(root)}
    for wanted in assignments or []:
        _known(sorted(solutions), wanted)
    chosen = assignments or sorted(solutions)
    target = target.resolve()
    plan = {target / "nbgrader_config.py": None}
    plan.update({target / "source" / a / f"{a}.ipynb": solutions[a] for a in chosen})
    existing = [path for path in plan if path.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists", "use --force to overwrite the course files")
    for path, source in plan.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if source is None:
            path.write_text(nbgrader_config_text(), encoding="utf-8")
        else:
            shutil.copyfile(source, path)
    return list(plan)


def fetch_skeleton(assignment: str, folder: Path, force: bool = False) -> Path:
    """Copy the skeleton `<id>.ipynb` into `folder`; refuses to overwrite without `force`."""
    skeletons = skeleton_dir()
    names = sorted(p.name for p in skeletons.iterdir()
                   if (p / f"{p.name}.ipynb").is_file()) if skeletons.is_dir() else []
    _known(names, assignment)
    target = folder / f"{assignment}.ipynb"
    if target.exists() and not force:
        raise UsageError(f"{target.name} already exists here and may hold your work",
                         "rename it, or use --force to replace it with a fresh copy")
    shutil.copyfile(skeletons / assignment / f"{assignment}.ipynb", target)
    return target
