"""One submission end to end against a bare `python -c "import torch"`, side by side (issue 12).

Gradescope, PrairieLearn and `seqlab check` each grade one submission per process, so start-up
is the cost. Measured, alternating so that load from other processes hits all alike:

- `import torch`: a bare `python -c "import torch"`, the yardstick;
- `check`: `seqlab check solutions/mha/mha.ipynb` (the public checks, sandboxed);
- `grade one`: the platforms' path, `seqlab.export.single.grade_single` on one folder holding
  the mha solution (probe, one worker, the hidden grader, no class report);
- `seqlab grade` of that one file, class report included (for reference: no target).

Prints the median wall and CPU seconds of each and the ratio to the bare import. Target: check
and grade one <= 2.0x. CPU comes from a cpuacct cgroup where the bench may make one (it counts
the sandboxed processes too), else RUSAGE_CHILDREN (see bench_grade.CpuMeter).

    .venv/bin/python bench/bench_single.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_grade import REPO, SEQLAB, CpuMeter, load_average

TARGET = 2.0
GRADE_ONE = """
import sys
from pathlib import Path
from seqlab.export.single import grade_single
from seqlab.grading.assignments import load_assignment
graded = grade_single(load_assignment("mha"), Path(sys.argv[1]), "bench")
assert graded.result is not None and graded.result.status == "graded", graded
"""


def commands(tmp: Path) -> dict[str, list[str]]:
    solution = REPO / "solutions" / "mha" / "mha.ipynb"
    one = tmp / "submission"
    one.mkdir()
    shutil.copy(solution, one / "mha.ipynb")
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "check": [str(SEQLAB), "check", str(solution)],
        "grade one": [sys.executable, "-c", GRADE_ONE, str(one)],
        "seqlab grade (1 file, report)": [str(SEQLAB), "grade", "mha", str(one / "mha.ipynb"), "--out",
                                          str(tmp / "out"), "--jobs", "1"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    meter = CpuMeter()
    print(f"{load_average('before')}; CPU from {meter.source()}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = commands(Path(tmp))
            walls: dict[str, list[float]] = {name: [] for name in runs}
            cpus: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeats):
                for name, command in runs.items():
                    wall, cpu, _out = meter.run(command, {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
                    walls[name].append(wall)
                    cpus[name].append(cpu)
    finally:
        meter.close()
    base_wall, base_cpu = statistics.median(walls["import torch"]), statistics.median(cpus["import torch"])
    print(f"median of {args.repeats}, one submission end to end vs a bare torch import:")
    for name in runs:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        target = f" (target <= {TARGET:.1f})" if name in ("check", "grade one") else ""
        print(f"  {name:30s} {wall:6.2f} s wall {cpu:6.2f} s CPU | ratio wall {wall / base_wall:.2f} "
              f"CPU {cpu / base_cpu:.2f}{target}")
    print(load_average("after"))


if __name__ == "__main__":
    main()
