"""What the sandbox hardening of issue 10 costs per submission, isolated, as root and non-root.

Two figures, each as root and as an unprivileged instructor (`unshare --user --map-user=1000`:
the sandbox then builds its own user namespace):

1. **The hardening, isolated.** The engine before the hardening (commit `BASELINE`, unpacked
   with `git archive` into a temporary folder and run by its own throwaway venv over this one's
   site-packages) and the current engine grade the SAME class with the SAME grader: the
   baseline's `graders/test_mha.py` and its mha submissions (`SEQLAB_COURSE_ROOT` points both
   engines at the unpacked tree). Both are driven by the same few lines (`DRIVER`: load the
   assignment, `grade_class`, no class report: the report is issue 12's, not the sandbox's), so
   the only difference is the engine. Allowed: at most 10% (issue 10).
2. **Today's cost**: `seqlab grade mha --jobs J` as a user runs it (current graders, which prove
   more than the baseline's: gradient references, crash probes; report included).

Each figure is the median over `--repeats` runs, seconds per submission, wall and CPU. CPU is
read from a cpuacct cgroup the bench puts each run in (as root, where cgroup v1 cpuacct is
writable: it counts every process of the run, the sandboxed ones the zygote never waits for
included); elsewhere from RUSAGE_CHILDREN, which misses those, and says so. Runs of the
engines and modes alternate so that load from other processes hits them alike; the load
average is printed beside the figures.

    .venv/bin/python bench/bench_grade.py [--students 300] [--repeats 3] [--jobs 2] [--skip-today]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEQLAB = Path(sys.executable).parent / "seqlab"
UNPRIVILEGED = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
BASELINE = "2dcd823"  # the last commit before the sandbox hardening of issue 10
ALLOWED = 1.10
CPUACCT = Path("/sys/fs/cgroup/cpuacct")

# The same for both engines: no class report (the baseline has none), no terminal rendering.
DRIVER = """
import sys
from dataclasses import fields
from pathlib import Path
from seqlab.grading.assignments import load_assignment
from seqlab.grading.runner import GradeOptions, grade_class
extra = {"report": False} if "report" in {f.name for f in fields(GradeOptions)} else {}
options = GradeOptions(out_dir=Path(sys.argv[2]), jobs=int(sys.argv[3]), **extra)
run = grade_class(load_assignment("mha"), [Path(sys.argv[1])], options)
graded = sum(1 for s in run.submissions if s.status == "graded")
print(f"graded {graded} of {len(run.submissions)}")
"""


@dataclass
class Figures:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float, students: int) -> None:
        self.wall.append(wall / students)
        self.cpu.append(cpu / students)

    def median(self) -> tuple[float, float]:
        return statistics.median(self.wall), statistics.median(self.cpu)


def unpack_baseline(folder: Path) -> Path:
    """The baseline tree and a python that imports seqlab from it (and everything else from here)."""
    tree = folder / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BASELINE], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    venv = folder / "baseline-venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    here = [p for p in sys.path if Path(p).name == "site-packages" and Path(p).is_dir()]
    # one .pth: the baseline's src before this venv's packages (its editable seqlab .pth is not read)
    (site / "seqlab_baseline.pth").write_text("\n".join([str(tree / "src"), *here]) + "\n")
    return tree


def build_class(folder: Path, sources: list[Path], students: int) -> None:
    if not sources:
        sys.exit("no mha submissions found")
    folder.mkdir()
    for i in range(students):
        source = sources[i % len(sources)]
        shutil.copy(source, folder / f"student{i:03d}_{source.stem}{source.suffix}")


def mha_sources(tree: Path) -> list[Path]:
    return [*sorted((tree / "tests" / "submissions" / "mha").glob("*.py")), tree / "solutions" / "mha" / "mha.ipynb"]


class CpuMeter:
    """CPU seconds of one process tree: a cpuacct cgroup where we may make one, else rusage."""

    def __init__(self) -> None:
        self.group = CPUACCT / f"seqlab-bench-{os.getpid()}"
        try:
            self.group.mkdir(exist_ok=True)
            self.exact = (self.group / "cpuacct.usage").exists()
        except OSError:
            self.exact = False

    def run(self, command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
        """Wall seconds, CPU seconds and stdout of `command`."""
        procs = self.group / "cgroup.procs"
        join = (lambda: procs.write_text(str(os.getpid()))) if self.exact else None
        before_usage = self._usage()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd="/",
                              preexec_fn=join)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command[:3])} ... failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        if self.exact:
            return wall, (self._usage() - before_usage) / 1e9, done.stdout
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout

    def _usage(self) -> int:
        return int((self.group / "cpuacct.usage").read_text()) if self.exact else 0

    def source(self) -> str:
        return ("a cpuacct cgroup (every process of a run)" if self.exact
                else "RUSAGE_CHILDREN (misses the sandboxed processes)")

    def close(self) -> None:
        if self.exact:
            try:
                self.group.rmdir()
            except OSError:
                pass


def load_average(when: str) -> str:
    return f"load average {when}: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def sandbox_line(stdout: str) -> str:
    line = next((x for x in stdout.splitlines() if x.startswith("sandbox: ")), "sandbox: ?")
    return line.split(" (")[0]


def compare_engines(tmp: Path, meter: CpuMeter, students: int, repeats: int, jobs: int) -> None:
    tree = unpack_baseline(tmp)
    old_python = tmp / "baseline-venv" / "bin" / "python"
    folder = tmp / "same-class"
    build_class(folder, mha_sources(tree), students)
    env = {**os.environ, "SEQLAB_COURSE_ROOT": str(tree)}
    engines = {"baseline": str(old_python), "current": sys.executable}
    figures = {(e, m): Figures() for e in engines for m in (False, True)}
    for repeat in range(repeats):
        order = list(engines) if repeat % 2 == 0 else list(reversed(engines))
        for unprivileged in (False, True):
            for engine in order:
                command = [engines[engine], "-c", DRIVER, str(folder), str(tmp / f"out-{engine}"), str(jobs)]
                wall, cpu, out = meter.run(UNPRIVILEGED + command if unprivileged else command, env)
                if f"graded {students} of {students}" not in out:
                    sys.exit(f"{engine} engine did not grade every submission: {out.strip()}")
                figures[(engine, unprivileged)].add(wall, cpu, students)
    print(f"1. hardening, isolated: baseline engine ({BASELINE}) vs current engine, same class of {students}, "
          f"same (baseline) mha grader, --jobs {jobs}, median of {repeats}, start-up included:")
    for unprivileged, mode in ((False, "root"), (True, "non-root")):
        old_wall, old_cpu = figures[("baseline", unprivileged)].median()
        new_wall, new_cpu = figures[("current", unprivileged)].median()
        print(f"  {mode:8s}  baseline {old_wall:.3f} s wall {old_cpu:.3f} s CPU | current {new_wall:.3f} s wall "
              f"{new_cpu:.3f} s CPU per submission | ratio wall {new_wall / old_wall:.2f} "
              f"CPU {new_cpu / old_cpu:.2f} (allowed <= {ALLOWED:.2f})")


def today(tmp: Path, meter: CpuMeter, students: int, repeats: int, jobs: int) -> None:
    folder = tmp / "class"
    build_class(folder, mha_sources(REPO), students)
    figures = {False: Figures(), True: Figures()}
    levels: dict[bool, str] = {}
    for _ in range(repeats):
        for unprivileged in (False, True):
            command = [str(SEQLAB), "grade", "mha", str(folder), "--out", str(tmp / "out"), "--jobs", str(jobs)]
            wall, cpu, out = meter.run(UNPRIVILEGED + command if unprivileged else command, dict(os.environ))
            levels[unprivileged] = sandbox_line(out)
            figures[unprivileged].add(wall, cpu, students)
    (root_wall, root_cpu), (user_wall, user_cpu) = figures[False].median(), figures[True].median()
    print(f"2. today: `seqlab grade mha --jobs {jobs}`, current graders, {students} submissions, class report "
          f"included, median of {repeats}:")
    print(f"  root      {root_wall:.3f} s wall {root_cpu:.3f} s CPU per submission ({levels[False]})")
    print(f"  non-root  {user_wall:.3f} s wall {user_cpu:.3f} s CPU per submission ({levels[True]}); "
          f"ratio to root: wall {user_wall / root_wall:.2f} CPU {user_cpu / root_cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-today", action="store_true", help="only the isolated comparison")
    args = parser.parse_args()
    meter = CpuMeter()
    print(f"{load_average('before')}; CPU from {meter.source()}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            compare_engines(Path(tmp), meter, args.students, args.repeats, args.jobs)
            if not args.skip_today:
                today(Path(tmp), meter, args.students, args.repeats, args.jobs)
    finally:
        meter.close()
    print(load_average("after"))


if __name__ == "__main__":
    main()
