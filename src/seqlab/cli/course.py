"""`seqlab course init DIR` (instructors using nbgrader) and `seqlab fetch ID` (students).

Registered into the main parser by `register`; each handler returns the exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["HANDLERS", "register"]


def register(commands: argparse._SubParsersAction) -> None:
    course = commands.add_parser("course", help="set up an nbgrader course folder (instructors)")
    actions = course.add_subparsers(dest="course_command", required=True,
                                    parser_class=type(course))
    init = actions.add_parser("init", help="nbgrader_config.py and source/<id>/ from solutions/")
    init.add_argument("dir", type=Path, help="the course folder (created if missing)")
    init.add_argument("--assignment", action="append", dest="assignments",
                      help="only this assignment (repeatable; default: all)")
    init.add_argument("--force", action="store_true", help="overwrite existing course files")

    fetch = commands.add_parser("fetch", help="copy an assignment's notebook here (students)")
    fetch.add_argument("assignment", help="mha, mdn or lstm")
    fetch.add_argument("--force", action="store_true", help="replace an existing copy (your work is lost)")


def _course(args: argparse.Namespace) -> int:
    from seqlab.authoring.course import init_course

    written = init_course(args.dir, args.assignments, force=args.force)
    for path in written:
        print(f"wrote: {path}")
    ids = [p.parent.name for p in written if p.suffix == ".ipynb"]
    first = ids[0] if ids else "ID"
    print(f"next: cd {args.dir} && nbgrader generate_assignment {first}; grade with "
          f"`seqlab grade {first} submitted --gradebook sqlite:///{(args.dir / 'gradebook.db').resolve()}`")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from seqlab.authoring.course import fetch_skeleton

    target = fetch_skeleton(args.assignment, Path.cwd(), force=args.force)
    print(f"wrote: {target.name} (check your work with `seqlab check {target.name}`)")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"course": _course, "fetch": _fetch}
