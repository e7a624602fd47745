"""Where the course lives: the folder holding graders/, solutions/, assignments/, quizzes/.

From a source checkout this is the repository; from an installed wheel there is no course
folder (no graders, no solutions), only the packaged student data under `seqlab/_data`.
`SEQLAB_COURSE_ROOT` overrides both, for instructors keeping graders elsewhere and for tests.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PACKAGE_DATA", "course_root", "skeleton_dir"]

PACKAGE_DATA = Path(__file__).resolve().parent / "_data"


def course_root() -> Path | None:
    """The course folder with a `graders/` directory, or None when only the wheel is installed."""
    override = os.environ.get("SEQLAB_COURSE_ROOT")
    if override:
        return Path(override).resolve()
    source_checkout = Path(__file__).resolve().parents[2]
    if (source_checkout / "graders").is_dir():
        return source_checkout
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "graders").is_dir() and (folder / "assignments").is_dir():
            return folder
    return None


def skeleton_dir() -> Path:
    """The student skeletons: the course's assignments/ or the copy shipped in the wheel."""
    root = course_root()
    if root is not None and (root / "assignments").is_dir():
        return root / "assignments"
    return PACKAGE_DATA / "assignments"
