"""Which sandbox level this machine gives, found by confining one throwaway process for real.

`probe_sandbox()` runs `python -I -m seqlab.sandbox.probe` (no torch: ~0.1 s), which goes through
exactly the steps a submission's process does (cgroup, namespaces, pivot_root, privileges,
Landlock, seccomp; see `intermediate.py` and `confine.lock_down`) and reports the `Confinement`
the kernel confirmed. `seqlab grade` starts it (`SandboxProbe`) together with the workers and
waits for its answer before handing any of them a submission, so a weak level is refused (or,
with --allow-weak-sandbox, announced) before a single submission runs, and the probe's start-up
is not paid on top of theirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

from .cgroups import CgroupSet, SubmissionCgroup
from .confine import Confinement, Limits, SandboxPlan, plan_binds, runtime_paths
from .intermediate import run_intermediate

__all__ = ["SandboxProbe", "describe", "probe_sandbox", "require_level"]

_TEXT = {
    "pid-ns": "PID namespace", "mount-ns": "mount namespace", "net-ns": "network namespace",
    "ipc-ns": "IPC namespace", "uts-ns": "UTS namespace", "user-ns": "user namespace",
    "pivot-root": "pivot_root", "no-caps": "no capabilities", "non-root": "non-root uid",
    "no-new-privs": "no_new_privs", "seccomp": "seccomp filter",
    "pid-ceiling": "PID namespace ceiling",
}


def _name(feature: str) -> str:
    if feature.startswith("landlock-"):
        return f"Landlock ABI {feature.split('-', 1)[1]}"
    return _TEXT.get(feature, feature)


def describe(confinement: Confinement) -> str:
    """One line for the terminal: the level, what holds, what is missing, where caps apply."""
    held = ", ".join(_name(f) for f in confinement.features) or "nothing"
    caps = (f"caps per submission ({confinement.cgroup})" if confinement.cgroup
            else "caps per process (rlimits; no writable cgroup)")
    missing = f"; MISSING: {', '.join(_name(f) for f in confinement.missing)}" if confinement.missing else ""
    return f"sandbox: {confinement.level} ({held}; {caps}){missing}"


def probe_sandbox(forbidden: list[Path], limits: Limits, timeout: float = 60) -> Confinement:
    """Confine one throwaway process the way submissions will be; what it reached."""
    config = json.dumps({"forbidden": [str(p) for p in forbidden], "limits": asdict(limits)})
    try:
        done = subprocess.run([sys.executable, "-I", "-m", "seqlab.sandbox.probe"], input=config,
                              capture_output=True, text=True, timeout=timeout, cwd="/", check=False)
        return Confinement.from_dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return Confinement([])


def _join(cgroup: SubmissionCgroup | None) -> str | None:
    if cgroup is None:
        return None
    try:
        cgroup.join()
    except OSError:
        return None
    return cgroup.kind


class SandboxProbe:
    """`probe_sandbox` started at once in a thread (the work is a subprocess's); `confinement()`
    waits for its answer."""

    def __init__(self, forbidden: list[Path], limits: Limits) -> None:
        self._result = Confinement([])
        self._thread = threading.Thread(target=self._run, args=(forbidden, limits), daemon=True)
        self._thread.start()

    def _run(self, forbidden: list[Path], limits: Limits) -> None:
        self._result = probe_sandbox(forbidden, limits)

    def confinement(self) -> Confinement:
        self._thread.join()
        return self._result


def require_level(forbidden: list[Path], limits: Limits, allow_weak: bool,
                  probe: SandboxProbe | None = None) -> dict[str, object]:
    """The run's sandbox record; a weak level is a usage error unless explicitly allowed."""
    from seqlab.errors import UsageError

    confinement = (probe or SandboxProbe(forbidden, limits)).confinement()
    if confinement.level != "strong" and not allow_weak:
        missing = ", ".join(_name(f) for f in confinement.missing)
        raise UsageError(f"the sandbox cannot confine submissions on this machine (missing: {missing})",
                         "to grade anyway at this weaker level, rerun with --allow-weak-sandbox; "
                         "the level is then recorded in results.json")
    return {**confinement.to_dict(), "weak_allowed": allow_weak}


def main() -> None:
    config = json.loads(sys.stdin.read())
    plan = SandboxPlan(binds=plan_binds(runtime_paths(), [Path(p) for p in config["forbidden"]]),
                       new_root=tempfile.mkdtemp(prefix="seqlab-probe-", dir="/tmp"),
                       uid=200_000 + os.getpid() % 100_000, limits=Limits(**config["limits"]))
    cgroup = CgroupSet.detect().create(f"seqlab-probe-{os.getpid()}", plan.limits.memory_bytes,
                                       plan.limits.processes)
    result_read, result_write = os.pipe()

    def report(confinement: Confinement) -> None:
        os.write(result_write, json.dumps(confinement.to_dict()).encode())

    pid = os.fork()
    if pid == 0:
        try:
            os.close(result_read)
            kind = _join(cgroup)
            run_intermediate([result_write], plan, lambda: kind, report)
        finally:
            os._exit(0)
    os.close(result_write)
    with os.fdopen(result_read, "rb") as handle:
        text = handle.read().decode() or json.dumps(Confinement([]).to_dict())
    os.waitpid(pid, 0)
    if cgroup is not None:
        cgroup.kill()
        cgroup.remove()
    os.rmdir(plan.new_root)
    print(text)


if __name__ == "__main__":
    main()
