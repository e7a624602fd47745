"""Authoring: solution notebooks in solutions/ become student skeletons in assignments/."""

from .cells import ROLES, cell_role
from .generate import build_skeleton, generate_assignments, solution_notebooks

__all__ = ["ROLES", "build_skeleton", "cell_role", "generate_assignments", "solution_notebooks"]
