"""Seconds per submission for `seqlab grade ASSIGNMENT --jobs 2`, wall and CPU, per assignment.

Issue 13 asks that grading cost no more than 1 s per submission with `--jobs 2`. For each
assignment named (default: gru and vit) this builds a class of N copies of one submission (the
reference solution by default, or `--mix`: the reference, every mutant and every correct style of
tests/submissions/<id>/, repeated), grades it `--repeats` times and prints, per assignment, the
median of:

- wall seconds per submission, start-up included (`seqlab grade` from exec to exit, / N);
- worker seconds per submission: the median of the per-submission `seconds` each result records
  (one worker's time on one student, so start-up excluded, and inflated by other processes' load);
- CPU seconds per submission: every process the run starts (workers, zygotes, sandboxed children,
  which the zygote never waits for, so RUSAGE_CHILDREN would miss them) is counted through a
  cgroup-v1 cpuacct group where we may make one, else RUSAGE_CHILDREN (then marked "waited-for
  children only"); a shared machine's load barely changes CPU seconds, unlike wall seconds;
- start-up CPU seconds (a class of 2, graded in the same way: workers, zygotes, the report) and
  the marginal CPU seconds per submission, (CPU(N) - CPU(2)) / (N - 2): what one more student costs,
  which is what the graders and the sandboxed children decide (start-up is the engine's);
- the ratio of each to the 1 s target (<= 1.00 meets it), and the load average before and after,
  since wall figures on a shared machine mean little without it.

    .venv/bin/python bench/bench_assignments.py [gru vit ...] [--students 20] [--repeats 3] [--jobs 2] [--mix]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEQLAB = Path(sys.executable).parent / "seqlab"
TARGET = 1.0  # s per submission with --jobs 2 (issue 13)
SMALL = 2  # students in the start-up run
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


@dataclass(frozen=True)
class Run:
    wall: float      # s, whole `seqlab grade`
    cpu: float       # s, every process of the run
    worker: float    # s, median per-submission time recorded in results.json


def build_class(folder: Path, assignment: str, students: int, mix: bool) -> None:
    sources = [REPO / "solutions" / assignment / f"{assignment}.ipynb"]
    if mix:
        sources += sorted((REPO / "tests" / "submissions" / assignment).glob("*.py"))
    if not sources[0].is_file():
        sys.exit(f"no reference solution {sources[0]}")
    for i in range(students):
        source = sources[i % len(sources)]
        shutil.copy(source, folder / f"student{i:03d}_{source.stem}{source.suffix}")


class CpuMeter:
    """CPU seconds of a command and all its descendants, waited for or not."""

    def __init__(self) -> None:
        self.group: Path | None = CPUACCT / f"seqlab-bench-{os.getpid()}"
        try:
            self.group.mkdir()
        except OSError:
            self.group = None

    @property
    def how(self) -> str:
        return "cpuacct cgroup, every process" if self.group else "RUSAGE_CHILDREN, waited-for children only"

    def run(self, command: list[str]) -> tuple[subprocess.CompletedProcess, float]:
        group = self.group
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = int((group / "cpuacct.usage").read_text()) if group else 0

        def join() -> None:  # in the child, before exec: it and everything it starts are counted
            if group is not None:
                (group / "cgroup.procs").write_text(str(os.getpid()))

        done = subprocess.run(command, capture_output=True, text=True, check=False, preexec_fn=join)
        if group is not None:
            return done, (int((group / "cpuacct.usage").read_text()) - before) / 1e9
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return done, (after.ru_utime + after.ru_stime) - (before_children.ru_utime + before_children.ru_stime)

    def close(self) -> None:
        if self.group is None:
            return
        for _ in range(50):  # the last sandboxed children may still be leaving
            try:
                self.group.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def grade_once(meter: CpuMeter, assignment: str, folder: Path, jobs: int, mix: bool) -> Run:
    out = folder.parent / "out"
    shutil.rmtree(out, ignore_errors=True)
    command = [str(SEQLAB), "grade", assignment, str(folder), "--out", str(out), "--jobs", str(jobs)]
    started = time.perf_counter()
    done, cpu = meter.run(command)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"seqlab grade {assignment} failed ({done.returncode}): {done.stderr[-2000:]}")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    students = results["submissions"]
    seconds = [s["seconds"] for s in students if s.get("seconds") is not None]
    not_full = [s["student"] for s in students if s["status"] != "graded" or s["score"] != s["max_score"]]
    if not_full and not mix:  # a timing of grades that went wrong measures nothing
        sys.exit(f"{assignment}: the reference did not score full marks for {not_full[:3]}")
    return Run(wall, cpu, statistics.median(seconds) if seconds else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=["gru", "vit"])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--mix", action="store_true", help="the reference, mutants and styles, not N references")
    args = parser.parse_args()
    if args.students <= SMALL:
        parser.error(f"--students must be more than {SMALL} (the start-up run's class)")
    meter = CpuMeter()
    load_before = os.getloadavg()
    rows = []
    try:
        for assignment in args.assignments:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "class"
                folder.mkdir()
                build_class(folder, assignment, args.students, args.mix)
                small = folder.parent / "small"
                small.mkdir()
                build_class(small, assignment, SMALL, args.mix)
                runs, starts = [], []
                for _ in range(args.repeats):  # alternating, so that others' load hits both alike
                    runs.append(grade_once(meter, assignment, folder, args.jobs, args.mix))
                    starts.append(grade_once(meter, assignment, small, args.jobs, args.mix))
            n = args.students
            cpu, start = statistics.median(r.cpu for r in runs), statistics.median(r.cpu for r in starts)
            rows.append((assignment, statistics.median(r.wall for r in runs) / n,
                         statistics.median(r.worker for r in runs), cpu / n, start,
                         (cpu - start) / (n - SMALL)))
    finally:
        meter.close()
    load_after = os.getloadavg()
    kind = "reference, mutants and correct styles" if args.mix else "copies of the reference"
    print(f"seqlab grade --jobs {args.jobs}, {args.students} submissions ({kind}), median of {args.repeats} runs")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; CPU from {meter.how}")
    print(f"{'assignment':<11}{'wall s/sub':>11}{'worker s/sub':>13}{'CPU s/sub':>10}{'start-up CPU s':>15}"
          f"{'marginal CPU s/sub':>19}   ratios to 1 s: wall, worker, CPU, marginal CPU")
    for assignment, wall, worker, cpu, start, marginal in rows:
        print(f"{assignment:<11}{wall:>11.3f}{worker:>13.3f}{cpu:>10.3f}{start:>15.2f}{marginal:>19.3f}   "
              f"{wall / TARGET:.2f}, {worker / TARGET:.2f}, {cpu / TARGET:.2f}, {marginal / TARGET:.2f}")
    print(f"target: <= {TARGET:g} s per submission (ratio <= 1.00). wall includes start-up, worker excludes it; "
          f"with --jobs {args.jobs}, CPU s/sub / {args.jobs} is about the wall a quiet {args.jobs}-core machine needs")


if __name__ == "__main__":
    main()
