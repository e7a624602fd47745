"""The role of a notebook cell, read from the prefix of its nbgrader `grade_id`.

Kept free of nbformat and other heavy imports: the grading engine's intake reads cells as
plain dicts (or nbformat's dict subclasses) and only needs this one function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ROLES", "cell_role"]

ROLES: tuple[str, ...] = ("setup", "solution", "check", "demo", "train", "explain")


def cell_role(cell: Mapping[str, Any]) -> str | None:
    """`setup`, `solution`, `check`, `demo`, `train` or `explain`; None for a cell a student added.

    A cell without nbgrader metadata, or whose grade_id has no known prefix, has no role: the
    grading engine runs it like any other student code.
    """
    metadata = cell.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    nbgrader = metadata.get("nbgrader")
    if not isinstance(nbgrader, Mapping):
        return None
    grade_id = nbgrader.get("grade_id")
    if not isinstance(grade_id, str):
        return None
    prefix = grade_id.split("_", 1)[0]
    return prefix if prefix in ROLES and grade_id != prefix else None
