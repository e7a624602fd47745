"""One cgroup per submission, so its caps hold for all its processes together, where allowed.

Preference: a cgroup v2 subtree we may write (delegated, or we are root) with the memory and pids
controllers (`memory.max`, `pids.max`, `cgroup.kill`); else a cgroup v1 memory hierarchy we may
write, with the pids one where that is writable too (root on a v1 machine has both; without it
the process count is still per submission through RLIMIT_NPROC in the submission's own user
namespace); else none, and the per-process rlimits are all there is. The zygote detects this
once; `kind` is what the results record.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupSet", "SubmissionCgroup"]


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fstype, options) of every cgroup filesystem."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) > 4 and tail and tail[0] in ("cgroup", "cgroup2"):
            options = set(tail[2].split(",")) if len(tail) > 2 else set()
            found.append((fields[4].replace("\\040", " "), tail[0], options))
    return found


def _own_paths() -> dict[str, str]:
    """controller (or '' for v2) -> this process's cgroup path."""
    paths = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _writable_parent(start: Path, stop: Path, needed: tuple[str, ...]) -> Path | None:
    """The nearest of `start` and its ancestors up to `stop` where we can make a child cgroup
    that has every file in `needed`."""
    candidate = start
    while True:
        probe = candidate / f"seqlab-probe-{os.getpid()}"
        try:
            probe.mkdir()
        except OSError:
            pass
        else:
            ok = all((probe / name).exists() for name in needed)
            probe.rmdir()
            if ok:
                return candidate
        if candidate == stop or candidate.parent == candidate:
            return None
        candidate = candidate.parent


@dataclass
class SubmissionCgroup:
    """The cgroup directories (one for v2, memory + pids for v1) of one submission."""

    kind: str
    dirs: list[Path]  # v2: one; v1: memory first, then pids if writable

    def join(self, pid: int = 0) -> None:
        for folder in self.dirs:
            (folder / "cgroup.procs").write_text(str(pid or os.getpid()))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.dirs:
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return found

    def kill(self) -> None:
        """Kill every process in the cgroup (v2 at once; v1 by listing until it is empty)."""
        if self.kind == "cgroup-v2":
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
                return
            except OSError:
                pass
        for _ in range(50):
            left = self.pids()
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)

    def remove(self) -> bool:
        """Remove the directories once empty; False while a process is still inside."""
        removed = True
        for folder in self.dirs:
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


@dataclass
class CgroupSet:
    """Where this process may make per-submission cgroups, found once."""

    kind: str | None  # "cgroup-v2", "cgroup-v1" or None
    parents: list[Path]  # v2: one; v1: memory first, then pids if writable

    @classmethod
    def detect(cls) -> CgroupSet:
        mounts, own = _mounts(), _own_paths()
        for point, fstype, _ in mounts:
            if fstype == "cgroup2" and "" in own:
                root = Path(point)
                parent = _writable_parent(root / own[""].lstrip("/"), root, ("memory.max", "pids.max"))
                if parent is not None:
                    return cls("cgroup-v2", [parent])
        parents = []
        for controller, needed in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max")):
            point = next((p for p, fstype, opts in mounts if fstype == "cgroup" and controller in opts), None)
            root = Path(point) if point else None
            parent = (_writable_parent(root / own[controller].lstrip("/"), root, (needed,))
                      if root is not None and controller in own else None)
            if parent is None and controller == "memory":
                return cls(None, [])
            parents += [parent] if parent is not None else []
        return cls("cgroup-v1", parents)

    def remove_stale(self) -> None:
        """Remove empty cgroups left by a zygote or probe killed before it could (names carry the
        owner's pid: seqlab-PID-N, seqlab-probe-PID); a live owner's are left alone."""
        for parent in self.parents:
            for folder in parent.glob("seqlab-*"):
                owner = next((part for part in folder.name.split("-")[1:] if part.isdigit()), "")
                if not owner or Path(f"/proc/{owner}").exists():
                    continue
                try:
                    folder.rmdir()  # refused while a process is inside
                except OSError:
                    pass

    def create(self, name: str, memory_bytes: int, processes: int) -> SubmissionCgroup | None:
        """A fresh cgroup with the submission's caps for all its processes together."""
        if self.kind is None:
            return None
        made = SubmissionCgroup(self.kind, [parent / name for parent in self.parents])
        try:
            for folder in made.dirs:
                folder.mkdir()
            if self.kind == "cgroup-v2":
                (made.dirs[0] / "memory.max").write_text(str(memory_bytes))
                _write_if_present(made.dirs[0] / "memory.swap.max", "0")
                (made.dirs[0] / "pids.max").write_text(str(processes))
            else:
                (made.dirs[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                _write_if_present(made.dirs[0] / "memory.memsw.limit_in_bytes", str(memory_bytes))
                for folder in made.dirs[1:]:
                    (folder / "pids.max").write_text(str(processes))
        except OSError:
            made.remove()
            return None
        return made


def _write_if_present(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError:
        pass
