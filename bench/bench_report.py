"""How long does the class report take, and how big is it, for a class of 1,000? And of 1?

Writes a synthetic results.json (the assignment's real rubric and feedback data, random
misconceptions, statuses, timings, and student ids with Hangul and markup in them), then runs
`seqlab report` on it in fresh interpreters (cold: includes importing matplotlib and Jinja2),
taking turns between the class of 1 and the class of 1,000. Usage:

    python bench/bench_report.py [--students 1000] [--runs 5] [--assignment mha]

Prints median wall and CPU seconds (CPU is steadier on a busy machine), the page's size, and the ratio 1,000 : 1 (how much of the time is the
class rather than start-up). Exits 1 if a report of the big class takes more than TARGET_S
seconds or exceeds TARGET_MB, so CI can use it; the unit tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqlab.grading.assignments import load_assignment

TARGET_S = 10.0
TARGET_MB = 5.0
REPO = Path(__file__).resolve().parents[1]


def synthetic_class(assignment_id: str, students: int, seed: int = 0) -> dict:
    assignment = load_assignment(assignment_id, REPO)
    rng = random.Random(seed)
    common = [item for item in assignment.rubric if item.misconception]
    subs = []
    for i in range(students):
        name = rng.choice(["kim", "lee", "park", "김민준", "이서연", "<b>o'neil</b>"]) + f"-{i:04d}"
        status = rng.choices(["graded", "invalid", "error", "timeout"], [90, 4, 4, 2])[0]
        tests = []
        if status == "graded":
            skill = rng.random()
            for item in assignment.rubric:
                passed = rng.random() < 0.55 + 0.45 * skill
                tests.append({"id": item.id, "points": item.points if passed else 0.0, "max_points": item.points,
                              "passed": passed, "message": None if passed else "rows do not sum to 1 <over keys>",
                              "misconception": None if passed else rng.choice(common).misconception})
        subs.append({"student": name, "source": f"{name}.ipynb", "status": status,
                     "score": sum(t["points"] for t in tests), "max_score": assignment.max_score,
                     "error": None if status == "graded" else f"{status}: cell 3 raised <ValueError>",
                     "tests": tests, "notes": [], "isolation": "namespaces", "feedback": f"s{i:04d}",
                     "seconds": None if status == "invalid" else round(rng.uniform(1.0, 30.0), 3)})
    return {"assignment": assignment_id, "max_score": assignment.max_score, "submissions": subs}


def timed_report(folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one `seqlab report` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqlab.cli.main", "report", str(folder), "--lang", "ko"],
                   check=True, capture_output=True, env={"SEQLAB_COURSE_ROOT": str(REPO), "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--assignment", default="mha")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folders = {}
        for size in (1, args.students):
            folders[size] = Path(tmp) / f"class-{size}"
            folders[size].mkdir()
            (folders[size] / "results.json").write_text(
                json.dumps(synthetic_class(args.assignment, size), ensure_ascii=False))
        for folder in folders.values():
            timed_report(folder)  # warm-up: file cache, matplotlib's font cache
        times: dict[int, list[tuple[float, float]]] = {size: [] for size in folders}
        for _ in range(args.runs):
            for size, folder in folders.items():
                times[size].append(timed_report(folder))
        medians = {size: statistics.median(w for w, _ in values) for size, values in times.items()}
        cpu = {size: statistics.median(c for _, c in values) for size, values in times.items()}
        sizes = {size: (folder / "report.html").stat().st_size for size, folder in folders.items()}
    for size in folders:
        print(f"class of {size:>5}: report in {medians[size]:.2f} s wall, {cpu[size]:.2f} s CPU (medians of "
              f"{args.runs}, fresh interpreter), {sizes[size] / 1024:.0f} KiB")
    big = args.students
    print(f"ratio {big} : 1 students = {medians[big] / medians[1]:.2f} (wall), {cpu[big] / cpu[1]:.2f} (CPU), "
          f"{sizes[big] / sizes[1]:.1f} (size); targets: <= {TARGET_S:g} s and <= {TARGET_MB:g} MB at {big}")
    ok = medians[big] <= TARGET_S and sizes[big] <= TARGET_MB * 1024 * 1024
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
