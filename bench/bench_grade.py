"""Seconds per submission for `seqlab grade --jobs 2`, against a fresh `python + import torch`.

Builds a class of N mha submissions (the reference, the mutants and the correct variants from
tests/submissions/mha, repeated), grades it several times, and prints the median seconds per
submission and the ratio to the naive approach of starting a fresh Python that imports torch
for every submission (which is before running a single test). Target: <= 0.5 s per submission.

    .venv/bin/python bench/bench_grade.py [--students 40] [--repeats 3] [--jobs 2]
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


def build_class(folder: Path, students: int) -> None:
    sources = sorted((REPO / "tests" / "submissions" / "mha").glob("*.py"))
    sources.append(REPO / "solutions" / "mha" / "mha.ipynb")
    if not sources:
        sys.exit("no mha submissions found under tests/submissions/mha")
    for i in range(students):
        source = sources[i % len(sources)]
        shutil.copy(source, folder / f"student{i:03d}_{source.stem}{source.suffix}")


def time_grading(folder: Path, jobs: int) -> float:
    out = folder.parent / "out"
    started = time.perf_counter()
    done = subprocess.run([str(SEQLAB), "grade", "mha", str(folder), "--out", str(out), "--jobs", str(jobs)],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"seqlab grade failed: {done.stderr}")
    return elapsed


def time_fresh_torch() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        build_class(folder, args.students)
        runs = [time_grading(folder, args.jobs) / args.students for _ in range(args.repeats)]
    fresh = statistics.median(time_fresh_torch() for _ in range(args.repeats))
    per_submission = statistics.median(runs)
    print(f"seqlab grade --jobs {args.jobs}: {per_submission:.3f} s per submission "
          f"(median of {args.repeats} runs over {args.students} submissions, start-up included)")
    print(f"fresh python + import torch: {fresh:.3f} s per submission (before any test runs)")
    print(f"ratio seqlab / fresh-import: {per_submission / fresh:.2f}  (target: <= 0.5 s per submission)")


if __name__ == "__main__":
    main()
