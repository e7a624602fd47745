"""Grade a class: discover -> extract -> grade in parallel workers -> results and feedback.

The pipeline is the list of steps in `grade_class`. Invalid files never reach a worker. A
worker that dies (it should not: it runs only trusted code) costs the submission it was
grading an `error` result after one retry on a fresh pool; every other student is still graded.
Any other failure inside one student's job (reading the file, grading, a result that is not a
valid record, rendering its feedback) becomes that student's `error` with a one-line reason.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from seqlab.report.data import cause_titles
from seqlab.sandbox.client import Timeouts, modules_to_warm
from seqlab.sandbox.confine import Limits
from seqlab.sandbox.probe import SandboxProbe, require_level

from .assignments import Assignment
from .discover import discover
from .extract import Extracted, extract, skeleton_setup_cells, skeleton_skip_texts
from .feedback import render_html, render_markdown
from .results import RunResult, SubmissionResult, name_feedback_files, write_outputs
from .worker import grade_job, init_worker, worker_ready

__all__ = ["GradeOptions", "grade_class"]


@dataclass(frozen=True)
class GradeOptions:
    out_dir: Path
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    allow_weak_sandbox: bool = False  # grade where the sandbox is weak (printed and recorded as such)
    report: bool = True  # also write OUT_DIR/report.html (one-submission platforms skip it)


Progress = Callable[[SubmissionResult], None]


def _forbidden(assignment: Assignment, options: GradeOptions, paths: list[Path]) -> list[str]:
    root = assignment.root
    hidden = [root / "graders", root / "solutions", root / "tests", root / "examples", root / ".git",
              assignment.graders_dir, options.out_dir]
    return [str(p.resolve()) for p in hidden + paths]


def _job(assignment: Assignment, options: GradeOptions, sub: Extracted) -> dict:
    return {"student": sub.student, "source": sub.source, "cells": sub.cells, "module_name": sub.module_name,
            "notes": sub.notes, "grader": str(assignment.grader), "max_score": assignment.max_score,
            "timeouts": asdict(options.timeouts), "student_api": list(assignment.student_api)}


def _worker_setup(assignment: Assignment, options: GradeOptions, forbidden: list[str]) -> tuple:
    """`init_worker`'s arguments: what every worker of this run starts from (read once per run,
    not once per submission)."""
    return (forbidden, asdict(options.limits), options.allow_weak_sandbox, str(assignment.grader),
            modules_to_warm(assignment.skeleton), cause_titles(assignment))


def _run_pool(jobs: Iterable[dict], workers: int, setup: tuple,
              on_result: Callable[[dict, object], None], in_flight: int | None = None) -> list[dict]:
    """Grade jobs in worker processes started from `setup`; returns the jobs whose worker died
    (to retry).

    `jobs` may be a generator: the workers are started first, so their torch warm-up overlaps
    with the instructor-side work of reading notebooks that produces the jobs. At most
    `in_flight` jobs are handed to the pool at a time, so a worker that dies takes only those
    with it: the pool is replaced and the remaining jobs carry on.
    """
    if workers < 1:  # nothing for a pool; reading `jobs` still records the invalid submissions
        return list(jobs)
    pending = iter(jobs)
    died: list[dict] = []
    graded = [0]

    def counted(job: dict, data: object) -> None:
        graded[0] += 1
        on_result(job, data)

    fruitless = 0
    while not _pool_round(pending, workers, in_flight or 2 * workers, setup, counted, died):
        fruitless = 0 if graded[0] else fruitless + 1  # the pool broke: a fresh one takes the rest
        graded[0] = 0
        first = next(pending, None)
        if first is None:
            break  # nothing left: no fresh pool to start
        pending = itertools.chain([first], pending)
        if fruitless >= 3:  # pools that never grade anything (workers cannot start): stop trying
            died.extend(pending)
            break
    return died


def _pool_round(pending: Iterator[dict], workers: int, in_flight: int, setup: tuple,
                on_result: Callable[[dict, object], None], died: list[dict]) -> bool:
    """Feed one pool until the jobs run out (True) or it breaks (False, its jobs in `died`)."""
    context = multiprocessing.get_context("spawn")
    running: dict[Future, dict] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=init_worker, initargs=setup) as pool:
        try:
            for _ in range(workers):  # start every worker now; each warms up while we read files
                pool.submit(worker_ready)
            while True:
                while len(running) < in_flight:
                    job = next(pending, None)
                    if job is None:
                        break
                    try:
                        running[pool.submit(grade_job, job)] = job
                    except BrokenProcessPool:
                        died.append(job)
                        return _broken(running, died)
                if not running:
                    return True
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        data: object = future.result()
                    except BrokenProcessPool:
                        died.append(job)
                        return _broken(running, died)
                    except Exception as exc:  # noqa: BLE001 -- recorded for that student
                        data = exc
                    on_result(job, data)
        except BaseException:
            for future in running:
                future.cancel()
            raise


def _broken(running: dict[Future, dict], died: list[dict]) -> bool:
    died.extend(running.values())
    running.clear()
    return False


def grade_class(assignment: Assignment, paths: list[Path], options: GradeOptions,
                on_result: Progress | None = None, on_start: Callable[[int], None] | None = None) -> RunResult:
    """Grade every submission under `paths` and write results, grades and feedback.

    The sandbox is probed while the workers start: before any submission is handed to them, a
    weak level raises UsageError unless options allow it (their zygotes refuse it on their own too)."""
    forbidden = _forbidden(assignment, options, paths)
    forbidden_paths = [Path(p) for p in forbidden]
    probe = SandboxProbe(forbidden_paths, options.limits)
    sandbox: dict[str, object] = {}

    def require() -> None:
        if not sandbox:
            sandbox.update(require_level(forbidden_paths, options.limits, options.allow_weak_sandbox, probe))

    found = discover(paths, assignment.id)
    if on_start:
        on_start(len(found))
    order = {f.student: i for i, f in enumerate(found)}
    results: dict[str, SubmissionResult] = {}

    def record(result: SubmissionResult) -> None:
        results[result.student] = result
        if on_result:
            on_result(result)

    def jobs() -> Iterator[dict]:
        require()  # the workers are starting: no submission reaches them behind a refused level
        skip_texts = skeleton_skip_texts(assignment.skeleton)  # reads notebooks: after workers start
        setup = skeleton_setup_cells(assignment.skeleton)
        for item in found:
            source = str(item.path) if item.path else item.student
            if item.path is None or item.problem:
                record(SubmissionResult.failed(item.student, source, "invalid", item.problem or "no file",
                                               assignment.max_score))
                continue
            try:
                extracted = extract(item.student, item.path, skip_texts, setup, item.root)
            except Exception as exc:  # noqa: BLE001 -- extract should say why itself; never stop the class
                record(SubmissionResult.failed(item.student, source, "invalid",
                                               f"unreadable submission ({type(exc).__name__})", assignment.max_score))
                continue
            if extracted.invalid:
                record(SubmissionResult.failed(item.student, source, "invalid", extracted.invalid,
                                               assignment.max_score))
                continue
            yield _job(assignment, options, extracted)

    def accept(job: dict, data: object) -> None:
        try:
            if isinstance(data, BaseException):
                raise data
            result = SubmissionResult.from_dict(data)
            if result.student != job["student"]:
                raise ValueError("the result names another student")
        except Exception as exc:  # noqa: BLE001 -- this student's error, not the class's
            result = SubmissionResult.failed(job["student"], job["source"], "error",
                                             f"internal error: no valid result for this submission "
                                             f"({type(exc).__name__})", assignment.max_score)
        record(result)
    workers = min(options.jobs, sum(1 for item in found if item.path is not None and not item.problem))
    setup = _worker_setup(assignment, options, forbidden)
    retry = _run_pool(jobs(), workers, setup, accept)
    # one at a time: only the submission that kills its worker dies twice
    for job in _run_pool(retry, 1 if retry else 0, setup, accept, in_flight=1):
        record(SubmissionResult.failed(job["student"], job["source"], "error",
                                       "internal error: the grading worker died twice on this submission",
                                       assignment.max_score))

    require()  # no pool ran (nothing to grade): the run is still recorded with its level
    ordered = sorted(results.values(), key=lambda r: order.get(r.student, len(order)))
    run = RunResult(assignment.id, assignment.max_score, ordered, sandbox)
    name_feedback_files(run)
    feedback = {r.student: _render(r, assignment) for r in ordered}
    write_outputs(run, options.out_dir, feedback)
    if options.report:  # after every grade is written: a report failure is one stderr line
        from seqlab.report import write_report_safely

        write_report_safely(options.out_dir, course=assignment.root)
    return run


def _render(result: SubmissionResult, assignment: Assignment) -> tuple[str, str]:
    try:
        return (render_markdown(result, assignment.id, assignment.feedback),
                render_html(result, assignment.id, assignment.feedback))
    except Exception as exc:  # noqa: BLE001 -- a page that cannot be drawn must not lose the class's files
        bare = SubmissionResult.failed(result.student, result.source, "error",
                                       f"internal error: feedback could not be rendered ({type(exc).__name__})",
                                       result.max_score)
        bare.feedback = result.feedback
        return render_markdown(bare, assignment.id, {}), render_html(bare, assignment.id, {})
