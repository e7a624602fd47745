"""`seqlab report OUT_DIR` (instructors): rebuild the class report from a grading run's results.

Registered into the main parser by `register`; each handler returns the exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["HANDLERS", "register"]


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write OUT_DIR/report.html from OUT_DIR/results.json")
    report.add_argument("out_dir", type=Path, help="a `seqlab grade --out` folder")
    report.add_argument("--lang", choices=("en", "ko"), help="language (default from LANG: Korean for ko*)")


def _report(args: argparse.Namespace) -> int:
    from seqlab.report import write_report

    path = write_report(args.out_dir.resolve(), args.lang)
    print(f"class report: {path}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"report": _report}
