"""Seconds per submission for `seqlab grade --jobs 2`, as root and as a non-root instructor.

Builds a class of N mha submissions (the reference, the mutants and the correct variants from
tests/submissions/mha, repeated), grades it several times as root and several times as uid 1000
without capabilities (`unshare --user --map-user=1000`: the sandbox then builds its own user
namespace), alternating so that load from other processes hits both alike, and prints the
median seconds per submission of each, their ratio to the figure measured before the sandbox
hardening of issue 10 (0.094 s, root; allowed cost: 10%), and the ratio to the naive approach
of a fresh Python that imports torch per submission. Target: <= 0.5 s per submission.

    .venv/bin/python bench/bench_grade.py [--students 300] [--repeats 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEQLAB = Path(sys.executable).parent / "seqlab"
UNPRIVILEGED = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
BEFORE_HARDENING = 0.094  # s per submission, 300 mha submissions, --jobs 2, root (issue 10)


def build_class(folder: Path, students: int) -> None:
    sources = sorted((REPO / "tests" / "submissions" / "mha").glob("*.py"))
    sources.append(REPO / "solutions" / "mha" / "mha.ipynb")
    if not sources:
        sys.exit("no mha submissions found under tests/submissions/mha")
    for i in range(students):
        source = sources[i % len(sources)]
        shutil.copy(source, folder / f"student{i:03d}_{source.stem}{source.suffix}")


def time_grading(folder: Path, jobs: int, unprivileged: bool) -> tuple[float, str]:
    """Wall seconds of one `seqlab grade` run, and the sandbox line it printed."""
    out = folder.parent / "out"
    command = [str(SEQLAB), "grade", "mha", str(folder), "--out", str(out), "--jobs", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(UNPRIVILEGED + command if unprivileged else command,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"seqlab grade failed: {done.stderr}")
    level = next((line for line in done.stdout.splitlines() if line.startswith("sandbox: ")), "sandbox: ?")
    return elapsed, level.split(" (")[0]


def time_fresh_torch() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        build_class(folder, args.students)
        runs: dict[bool, list[float]] = {False: [], True: []}
        levels: dict[bool, str] = {}
        for _ in range(args.repeats):
            for unprivileged in (False, True):
                seconds, levels[unprivileged] = time_grading(folder, args.jobs, unprivileged)
                runs[unprivileged].append(seconds / args.students)
    fresh = statistics.median(time_fresh_torch() for _ in range(args.repeats))
    root, user = statistics.median(runs[False]), statistics.median(runs[True])
    print(f"seqlab grade --jobs {args.jobs}, {args.students} submissions, median of {args.repeats} runs "
          f"(start-up included):")
    print(f"  root:     {root:.3f} s per submission ({levels[False]}; before the hardening: "
          f"{BEFORE_HARDENING:.3f} s, ratio {root / BEFORE_HARDENING:.2f}, allowed <= 1.10)")
    print(f"  non-root: {user:.3f} s per submission ({levels[True]}; ratio to root {user / root:.2f})")
    print(f"fresh python + import torch: {fresh:.3f} s per submission (before any test runs)")
    print(f"ratio seqlab / fresh-import: {root / fresh:.2f}  (target: <= 0.5 s per submission)")


if __name__ == "__main__":
    main()
