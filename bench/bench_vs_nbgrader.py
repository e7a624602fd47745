"""Seconds per submission: real `nbgrader autograde` against `seqlab grade --jobs 2`, same class.

Builds an nbgrader course for one assignment whose source notebook is our solution with its public
`check_` cells turned into nbgrader test cells (1 point each), releases it with `nbgrader
generate_assignment`, and fills N student copies in `submitted/STUDENT/ID/` with the correct and
buggy implementations from tests/submissions/ID/ (ok_* and bug_* alternating). Then, in the same
run on the same machine, it grades that folder with `nbgrader autograde --force` (a kernel per
notebook, every cell executed, as nbgrader does) and with `seqlab grade --jobs 2` (hidden graders,
many more tests), and prints the median seconds per submission and the ratio.

    .venv/bin/python bench/bench_vs_nbgrader.py [--assignment mha] [--students 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


def _run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")


def _gradeid(cell: dict) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def build_course(course: Path, assignment: str) -> int:
    """Course folder with the public checks as nbgrader test cells; returns how many."""
    _run([str(BIN / "seqlab"), "course", "init", str(course), "--assignment", assignment], REPO)
    source = course / "source" / assignment / f"{assignment}.ipynb"
    notebook = json.loads(source.read_text(encoding="utf-8"))
    checks = 0
    for cell in notebook["cells"]:
        if _gradeid(cell).startswith("check_"):
            cell["metadata"]["nbgrader"].update(grade=True, points=1)
            checks += 1
    source.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    _run([str(BIN / "nbgrader"), "generate_assignment", assignment, "--force"], course)
    return checks


def build_class(course: Path, assignment: str, students: int) -> None:
    folder = REPO / "tests" / "submissions" / assignment
    correct, buggy = sorted(folder.glob("ok_*.py")), sorted(folder.glob("bug_*.py"))
    if not correct or not buggy:
        sys.exit(f"need ok_*.py and bug_*.py under {folder}")
    modules = [m for pair in zip(itertools.cycle(correct), buggy) for m in pair]
    release = course / "release" / assignment / f"{assignment}.ipynb"
    for i in range(students):
        module = modules[i % len(modules)]
        notebook = json.loads(release.read_text(encoding="utf-8"))
        solutions = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
        solutions[0]["source"] = module.read_text(encoding="utf-8")
        for cell in solutions[1:]:
            cell["source"] = "# written above\n"
        target = course / "submitted" / f"s{i:03d}_{module.stem}" / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(notebook), encoding="utf-8")


def time_nbgrader(course: Path, assignment: str) -> float:
    started = time.perf_counter()
    _run([str(BIN / "nbgrader"), "autograde", assignment, "--force"], course)
    return time.perf_counter() - started


def time_seqlab(course: Path, assignment: str, jobs: int) -> float:
    started = time.perf_counter()
    _run([str(BIN / "seqlab"), "grade", assignment, str(course / "submitted"),
          "--out", str(course / "seqlab_grades"), "--jobs", str(jobs)], course)
    return time.perf_counter() - started


def seqlab_tests(course: Path) -> int:
    results = json.loads((course / "seqlab_grades" / "results.json").read_text(encoding="utf-8"))
    return max(len(s["tests"]) for s in results["submissions"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="mha")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        checks = build_course(course, args.assignment)
        build_class(course, args.assignment, args.students)
        nb_runs, sq_runs = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            nb_runs.append(time_nbgrader(course, args.assignment) / args.students)
            sq_runs.append(time_seqlab(course, args.assignment, args.jobs) / args.students)
        tests = seqlab_tests(course)
    nb, sq = statistics.median(nb_runs), statistics.median(sq_runs)
    print(f"{args.assignment}: {args.students} submissions, median of {args.repeats} runs")
    print(f"nbgrader autograde:        {nb:.3f} s per submission ({checks} public test cells, every cell run)")
    print(f"seqlab grade --jobs {args.jobs}:     {sq:.3f} s per submission ({tests} hidden rubric tests)")
    print(f"ratio nbgrader / seqlab:   {nb / sq:.1f}x  (target: >= 10x)")


if __name__ == "__main__":
    main()
