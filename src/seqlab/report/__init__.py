"""The class report: `OUT_DIR/report.html`, written by `seqlab report` and by every `seqlab grade`.

`write_report` reads what grading wrote (results.json) and the assignment's feedback data;
`write_report_safely` is the form the grading pipeline calls: a report that cannot be drawn is
reported on stderr and never costs the grades already written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from seqlab.errors import SeqlabError

from .data import build_report, load_results

__all__ = ["REPORT_NAME", "default_lang", "write_report", "write_report_safely"]

REPORT_NAME = "report.html"
_log = logging.getLogger("seqlab.report")


def default_lang(env: dict[str, str] | None = None) -> str:
    """Korean when LANG starts with ``ko`` (as the quiz decides), English otherwise."""
    env = dict(os.environ) if env is None else env
    return "ko" if env.get("LANG", "").lower().startswith("ko") else "en"


def _feedback_data(assignment_id: str, root: Path | None) -> tuple[dict, list[tuple[str, float]], tuple]:
    from seqlab.grading.assignments import load_assignment

    try:
        assignment = load_assignment(assignment_id, root)
    except SeqlabError as exc:
        return {}, [], (f"explanations unavailable: {exc.one_line()}",)
    return assignment.feedback, [(item.id, item.points) for item in assignment.rubric], ()


def _sandbox_note(sandbox: object) -> tuple[str, ...]:
    """A weak sandbox level recorded by the run is worth a line at the top of the report."""
    if not isinstance(sandbox, dict) or sandbox.get("level") == "strong":
        return ()
    from seqlab.sandbox.confine import Confinement
    from seqlab.sandbox.probe import describe

    try:
        return (describe(Confinement.from_dict(sandbox)),)
    except (KeyError, TypeError, ValueError):
        return (f"sandbox: {sandbox.get('level', 'unknown')}",)


def write_report(out_dir: Path, lang: str | None = None, course: Path | None = None) -> Path:
    """Build OUT_DIR/report.html from OUT_DIR/results.json; returns its path."""
    from seqlab.grading.results import atomic_write

    from .render import LANGS, render_report

    lang = lang or default_lang()
    if lang not in LANGS:
        raise SeqlabError(f"unknown report language '{lang}'", f"use one of {', '.join(LANGS)}")
    results = load_results(out_dir)
    feedback, rubric, notes = _feedback_data(results["assignment"], course)
    notes = notes + _sandbox_note(results.get("sandbox"))
    report = build_report(results, feedback, lang, rubric, notes)
    path = out_dir / REPORT_NAME
    atomic_write(path, render_report(report))
    return path


def write_report_safely(out_dir: Path, lang: str | None = None, course: Path | None = None) -> Path | None:
    """`write_report`, but a failure is one line on stderr and a stale report is removed."""
    try:
        return write_report(out_dir, lang, course)
    except Exception as exc:  # noqa: BLE001 - grades are already written; the report is extra
        (out_dir / REPORT_NAME).unlink(missing_ok=True)
        detail = exc.one_line() if isinstance(exc, SeqlabError) else f"{type(exc).__name__}: {exc}"
        _log.warning("report not written: %s (grades and feedback are complete; retry with "
                     "`seqlab report %s`)", detail, out_dir)
        return None
