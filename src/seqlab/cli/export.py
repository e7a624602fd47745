"""`seqlab export gradescope|prairielearn ASSIGNMENT --out ...` (instructors).

Registered into the main parser by `register`; each handler returns the exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["HANDLERS", "register"]

_VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="package an assignment's graders for Gradescope or PrairieLearn")
    platforms = export.add_subparsers(dest="platform", required=True, parser_class=type(export))
    for name, default_out, what in (("gradescope", "autograder.zip", "the autograder zip"),
                                    ("prairielearn", None, "the output folder (default prairielearn-ASSIGNMENT)")):
        platform = platforms.add_parser(name, help=f"build {name}'s autograder files")
        platform.add_argument("assignment", help="mha, mdn or lstm")
        platform.add_argument("--out", type=Path, default=Path(default_out) if default_out else None, help=what)
        platform.add_argument("--lang", choices=("en", "ko"), default="en",
                              help="language of the students' feedback (default en)")
        platform.add_argument("--torch-index", default="",
                              help="pip index URL of PyTorch's CPU-only wheels (default: pip's own index)")
    platforms.choices["gradescope"].add_argument("--visibility", choices=_VISIBILITIES, default="visible",
                                                 help="when students see the tests (default visible)")
    platforms.choices["prairielearn"].add_argument("--image", default="seqlab-grader",
                                                   help="grading image name for info.json (build it from the "
                                                        "written Dockerfile)")


def _export(args: argparse.Namespace) -> int:
    from seqlab.grading.assignments import load_assignment

    assignment = load_assignment(args.assignment)
    if args.platform == "gradescope":
        from seqlab.export.gradescope import build_package

        path = build_package(assignment, args.out.resolve(), args.lang, args.visibility, args.torch_index)
        print(f"wrote: {path} (upload it as the assignment's autograder; base image Ubuntu 24.04)")
        return 0
    from seqlab.export.prairielearn import build_package as build_pl

    out = (args.out or Path(f"prairielearn-{assignment.id}")).resolve()
    build_pl(assignment, out, args.lang, args.image, args.torch_index)
    print(f"wrote: {out}/ (copy serverFilesCourse/ and questions/ into your course; build the image from "
          f"{out / 'Dockerfile'})")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"export": _export}
