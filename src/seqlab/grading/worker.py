"""A grading worker: a trusted process that runs the hidden grader file once per submission.

Each worker owns a zygote (a separate, clean, torch-warmed process) and grades one submission at
a time: load its cells in a confined child, run `pytest` on the grader file with the rubric
plugin, turn the outcomes into a `SubmissionResult`. Workers are started with the `spawn`
method, so they share nothing with the instructor's process but what is passed to them.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import asdict
from multiprocessing import parent_process
from multiprocessing.util import Finalize
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqlab.sandbox.client import SandboxSession

__all__ = ["grade_job", "init_worker", "worker_ready"]

_state: dict[str, Any] = {}

# pytest plugins a grader run never needs. unraisableexception/threadexception alone cost ~0.3 s
# per submission (they force full garbage collections at every session end).
_UNUSED_PLUGINS = [arg for name in ("cacheprovider", "randomly", "unraisableexception", "threadexception",
                                    "faulthandler", "doctest", "junitxml", "pastebin", "stepwise",
                                    "lfplugin", "nose", "legacypath", "logging")
                   for arg in ("-p", f"no:{name}")]


def init_worker(forbidden: list[str], limits: dict[str, int], allow_weak: bool = True,
                grader: str | None = None, warm: tuple[str, ...] = (),
                titles: dict[str, str] | None = None) -> None:
    """Warm torch and pytest, silence output, start this worker's zygote (whose children run no
    student code behind a weak sandbox unless `allow_weak`; which pre-imports `warm`). With
    `grader`, pytest collects it once here, so the first submission's budget is not spent on
    the grader's own start-up. `titles` name the causes in "same cause as" messages."""
    sys.dont_write_bytecode = True  # never write __pycache__ into graders/
    # Graders use no installed pytest plugin; loading them all by entry point (xdist and the
    # rest of the venv's) costs ~1 s in the first pytest session, a one-submission run's largest
    # cost after importing torch.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    warnings.filterwarnings("ignore")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from seqlab.sandbox.client import Zygote
    from seqlab.sandbox.confine import Limits

    zygote = Zygote([Path(p) for p in forbidden], Limits(**limits), wait=False,  # warms meanwhile
                    allow_weak=allow_weak, warm=tuple(warm))
    _state["zygote"] = zygote
    _state["titles"] = dict(titles or {})
    # multiprocessing runs its finalizers when a worker leaves: first close the zygote, then skip
    # the interpreter's shutdown (a spawned worker ends with sys.exit, and tearing down torch
    # costs 0.3-2 s that the end of every run would wait for).
    Finalize(None, zygote.close, exitpriority=10)
    if parent_process() is not None:  # only ever in a pool worker, never in a caller's process
        Finalize(None, os._exit, args=(0,), exitpriority=-100)
    import pytest  # noqa: F401
    import torch

    torch.set_num_threads(1)
    _warm_autograd(torch)
    if grader:
        _collect_once(Path(grader))
    zygote.wait_ready()


def _warm_autograd(torch: Any) -> None:
    """Start autograd's engine once, here, not out of the first submission's budget. (Reference
    gradients go through `seqlab.gradients.backward_from`, which never imports sympy.)"""
    from seqlab.gradients import backward_from

    x = torch.ones(2, requires_grad=True)
    backward_from(x * 2, torch.ones(2))


def _collect_once(grader: Path) -> None:
    import pytest

    try:
        pytest.main([str(grader), "--collect-only", "-q", *_UNUSED_PLUGINS, "--rootdir", str(grader.parent),
                     "-c", os.devnull, "-W", "ignore"])
    except Exception:  # noqa: BLE001, S110 -- only a warm-up: grading reports any real problem
        pass


def worker_ready() -> None:
    """A no-op task: submitting one per worker makes the pool start (and warm) them all now."""


def grade_job(job: dict[str, Any]) -> dict[str, Any]:
    """Grade one extracted submission; returns a SubmissionResult as a plain dict.

    Never raises: whatever goes wrong while grading one submission becomes that student's
    `error` with a one-line reason, so the pool (and every other student) carries on.
    """
    from seqlab.grading.results import SubmissionResult

    start = time.monotonic()
    try:
        data = _grade(job)
    except Exception as exc:  # noqa: BLE001 -- one student's failure, recorded, never raised
        data = asdict(SubmissionResult.failed(
            job["student"], job["source"], "error",
            f"internal error while grading this submission ({type(exc).__name__}; see `seqlab grade --debug`)",
            job["max_score"], list(job.get("notes", []))))
    data["seconds"] = time.monotonic() - start  # the class report's slowest submissions
    return data


def _grade(job: dict[str, Any]) -> dict[str, Any]:
    from seqlab.sandbox.client import SandboxSession, Timeouts

    session = SandboxSession(_state["zygote"], job["cells"], job["module_name"], Timeouts(**job["timeouts"]))
    try:
        return _grade_in(session, job)
    finally:
        session.close()  # whatever happened, the submission's process is gone


def _grade_in(session: SandboxSession, job: dict[str, Any]) -> dict[str, Any]:
    import pytest

    from seqlab.grading.plugin import GraderPlugin
    from seqlab.grading.remote import Submission
    from seqlab.grading.results import SubmissionResult, TestResult
    from seqlab.sandbox.client import BudgetExhausted, ProcessEnded, cell_notes

    student, source, max_score = job["student"], job["source"], job["max_score"]
    notes = list(job["notes"])
    try:
        session.ensure_loaded()
    except BudgetExhausted as exc:
        notes += cell_notes(session.cell_reports)
        return asdict(SubmissionResult.failed(student, source, "timeout", str(exc), max_score, notes))
    except ProcessEnded as exc:
        return asdict(SubmissionResult.failed(student, source, "error", str(exc), max_score, notes))
    loaded_notes = cell_notes(session.cell_reports)
    api = tuple(job["student_api"])
    if api and not any(name in session.defined for name in api):
        session.close()
        reason = loaded_notes[0] if loaded_notes else "no code cell defines them"
        return asdict(SubmissionResult.failed(
            student, source, "error", f"the submission defines none of {', '.join(api)} ({reason})",
            max_score, notes + loaded_notes, session.isolation))
    plugin = GraderPlugin(Submission(session), student, _state.get("titles"))
    grader = Path(job["grader"])
    try:
        pytest.main([str(grader), "-q", "-s", *_UNUSED_PLUGINS,
                     "--rootdir", str(grader.parent), "-c", os.devnull, "-W", "ignore"],
                    plugins=[plugin])
    finally:
        session.close()
    if session.exhausted:
        return asdict(SubmissionResult.failed(
            student, source, "timeout", f"the submission used up its {session.timeouts.submission:g} s budget",
            max_score, notes + loaded_notes, session.isolation))
    tests = [TestResult(o.id, o.points, o.max_points, o.passed, o.message, o.misconception)
             for o in plugin.outcomes]
    if not tests:
        return asdict(SubmissionResult.failed(
            student, source, "error", "internal error: the grader ran no test (see `seqlab grade --debug`)",
            max_score, notes + loaded_notes, session.isolation))
    score = round(sum(t.points for t in tests), 6)
    return asdict(SubmissionResult(student, source, "graded", score, max_score, None, tests,
                                   notes + loaded_notes, session.isolation))
