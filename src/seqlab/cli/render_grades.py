"""Rich output for `seqlab grade` and `seqlab check`: a progress bar, a table, a report.

The only place that draws; engines hand over plain results. All text that came from a
submission (student ids, messages) loses its control characters (no escape sequence reaches the
instructor's terminal) and is escaped before Rich sees it as markup (`_safe`).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seqlab.grading.check import CheckReport
from seqlab.grading.results import RunResult, SubmissionResult
from seqlab.text import clean_line

__all__ = ["GradingProgress", "print_check_report", "print_summary"]

console = Console()


def escape(text: object, limit: int = 300) -> str:
    """Submission text as literal terminal output: one capped line, no control characters, no markup."""
    return _markup_escape(clean_line(text, limit))

_STATUS_STYLE = {"graded": "green", "invalid": "yellow", "error": "red", "timeout": "magenta"}


class GradingProgress:
    """A progress bar over submissions, advanced as each result arrives."""

    def __init__(self) -> None:
        self._progress = Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.description}"),
                                  console=console, transient=False)
        self._task = None

    def __enter__(self) -> GradingProgress:  # noqa: PYI034
        self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.__exit__(kind, value, tb)

    def start(self, total: int) -> None:
        self._task = self._progress.add_task("", total=total)

    def advance(self, result: SubmissionResult) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, description=escape(result.student))


def _lost_to(result: SubmissionResult) -> str:
    misconceptions = []
    for test in result.tests:
        if not test.passed and test.misconception and test.misconception not in misconceptions:
            misconceptions.append(test.misconception)
    if result.status != "graded":
        return escape(result.error or "")
    return escape(", ".join(misconceptions[:4]) + (" ..." if len(misconceptions) > 4 else ""))


def print_summary(run: RunResult, out_dir: Path) -> None:
    table = Table(title=f"{run.assignment}: {len(run.submissions)} submissions", show_lines=False)
    table.add_column("student")
    table.add_column("score", justify="right")
    table.add_column("status")
    table.add_column("misconceptions / reason", overflow="fold")
    for result in run.submissions:
        style = _STATUS_STYLE.get(result.status, "white")
        table.add_row(escape(result.student), f"{result.score:g} / {result.max_score:g}",
                      f"[{style}]{result.status}[/]", _lost_to(result))
    console.print(table)
    if run.sandbox:  # one line: the level every submission ran at, what holds, what is missing
        from seqlab.sandbox.confine import Confinement
        from seqlab.sandbox.probe import describe

        line = _markup_escape(describe(Confinement.from_dict(run.sandbox)))
        console.print(line if run.sandbox.get("level") == "strong" else f"[yellow]{line}[/]", soft_wrap=True)
    console.print(f"results: {escape(str(out_dir / 'results.json'))}, "
                  f"{escape(str(out_dir / 'grades.csv'))}, feedback in {escape(str(out_dir / 'feedback'))}/")
    _print_class_summary(run, out_dir)


def _print_class_summary(run: RunResult, out_dir: Path) -> None:
    """The three most common misconceptions, then where the class report is."""
    from dataclasses import asdict

    from seqlab.report import REPORT_NAME
    from seqlab.report.data import rank_misconceptions

    ranked = rank_misconceptions([asdict(r) for r in run.submissions])[:3]
    if ranked:
        console.print("most common misconceptions: " + "; ".join(
            f"{i}. {escape(name)} ({len(who)}/{len(run.submissions)} students)"
            for i, (name, who) in enumerate(ranked, 1)))
    report = out_dir / REPORT_NAME
    if report.is_file():
        console.print(f"class report: {escape(str(report))}", soft_wrap=True)
    else:
        console.print("[yellow]class report: not written (see the warning above)[/]")


def print_check_report(report: CheckReport) -> None:
    table = Table(title=f"public checks for {escape(report.assignment)}: {escape(Path(report.source).name)}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("message", overflow="fold")
    for check in report.checks:
        verdict = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        table.add_row(escape(check.name), verdict, escape(check.message or ""))
    console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    passed = sum(c.passed for c in report.checks)
    style = "green" if report.all_passed else "red"
    console.print(f"[{style}]{passed}/{len(report.checks)} checks passed[/]"
                  + ("" if report.all_passed else " — the hidden graders test more than these"))
