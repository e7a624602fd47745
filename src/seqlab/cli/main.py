"""`seqlab`: thin command line over the engines (grade, check, generate).

Parse -> call one engine function -> render -> exit code. Usage errors print one line starting
with `error:` and exit 2; internal failures exit 1; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from seqlab.errors import SeqlabError, UsageError
from seqlab.text import clean_line

from . import course, export, report

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seqlab", description="Sequence-models course pack: grade, check, generate.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    grade = commands.add_parser("grade", help="grade a class of submissions (instructors)")
    grade.add_argument("assignment", help="mha, mdn or lstm")
    grade.add_argument("paths", nargs="+", type=Path, help="submission files or folders")
    grade.add_argument("--out", type=Path, help="output folder (default grades/ASSIGNMENT)")
    grade.add_argument("--jobs", type=_positive(int), help="parallel workers (default: CPU cores)")
    grade.add_argument("--timeout", type=_positive(float), default=120.0,
                       help="seconds one submission may use in total (default 120)")
    grade.add_argument("--cell-timeout", type=_positive(float), default=20.0,
                       help="seconds one notebook cell may run (default 20)")
    grade.add_argument("--call-timeout", type=_positive(float), default=10.0,
                       help="seconds one call into student code may run (default 10)")
    grade.add_argument("--memory-mb", type=_positive(int), default=3072,
                       help="memory cap of a submission in MB: all its processes together where a cgroup "
                            "is allowed, else each process (default 3072)")
    grade.add_argument("--gradebook", help="also record grades in an nbgrader gradebook (SQLAlchemy URL)")
    grade.add_argument("--allow-weak-sandbox", action="store_true",
                       help="grade even where the sandbox cannot hold (no namespaces, seccomp, ...); "
                            "the weaker level is printed and recorded in results.json")

    check = commands.add_parser("check", help="run the public sanity checks on your work (students)")
    check.add_argument("file", type=Path, help="your notebook or .py module")
    check.add_argument("--assignment", help="mha, mdn or lstm (default: inferred from the file)")

    generate = commands.add_parser("generate", help="rebuild assignments/ from solutions/ (course authors)")
    generate.add_argument("--check", action="store_true", help="exit 1 if assignments/ is out of date")
    course.register(commands)
    report.register(commands)
    export.register(commands)
    return parser


def _grade(args: argparse.Namespace) -> int:
    from seqlab.grading.assignments import load_assignment
    from seqlab.grading.runner import GradeOptions, grade_class
    from seqlab.sandbox.client import Timeouts
    from seqlab.sandbox.confine import Limits

    from .render_grades import GradingProgress, print_summary

    assignment = load_assignment(args.assignment)
    out_dir = (args.out or Path("grades") / assignment.id).resolve()
    options = GradeOptions(
        out_dir=out_dir,
        timeouts=Timeouts(cell=args.cell_timeout, call=args.call_timeout, submission=args.timeout),
        limits=Limits(memory_bytes=int(args.memory_mb) * 1024 * 1024),
        allow_weak_sandbox=args.allow_weak_sandbox,
        **({"jobs": int(args.jobs)} if args.jobs else {}),
    )
    with GradingProgress() as progress:
        run = grade_class(assignment, [p.absolute() for p in args.paths], options,  # links: discover judges
                          on_result=progress.advance, on_start=progress.start)
    if args.gradebook:
        from seqlab.grading.gradebook import record_in_gradebook

        record_in_gradebook(run, assignment, args.gradebook)
    print_summary(run, out_dir)
    return 0


def _check(args: argparse.Namespace) -> int:
    from seqlab.grading.check import infer_assignment, run_checks

    from .render_grades import print_check_report

    assignment = args.assignment or infer_assignment(args.file)
    report = run_checks(args.file.resolve(), assignment)
    print_check_report(report)
    return 0 if report.all_passed else 1


def _generate(args: argparse.Namespace) -> int:
    from seqlab.authoring.generate import generate_assignments
    from seqlab.paths import course_root

    root = course_root()
    if root is None or not (root / "solutions").is_dir():
        raise UsageError("no solutions/ folder here", "run this in the course repository")
    changed = generate_assignments(root, check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    if args.check and changed:
        print("error: assignments/ is out of date (run `seqlab generate`)", file=sys.stderr)
        return 1
    if not changed:
        print("assignments/ is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="sqlalchemy")
    args = _build_parser().parse_args(argv)
    handlers = {"grade": _grade, "check": _check, "generate": _generate, **course.HANDLERS, **report.HANDLERS,
                **export.HANDLERS}
    try:
        code = handlers[args.command](args)
    except SeqlabError as exc:
        if args.debug:
            raise
        print(f"error: {clean_line(exc.one_line(), 2000)}", file=sys.stderr)  # may name a hostile path
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: no result files were changed", file=sys.stderr)
        code = 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {clean_line(exc, 500)} (rerun with --debug)",
              file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
