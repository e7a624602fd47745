"""Confine a freshly forked submission process: namespaces, a minimal root, no privileges, caps.

Why not just bubblewrap: bwrap must exec a new program, and a fresh `import torch` costs ~1.7 s
per submission. We use the same kernel mechanisms bwrap uses, but on a process forked from a
torch-warmed zygote, so confinement costs milliseconds. Levels, strongest first:

- ``namespaces``: new mount, network, IPC, UTS and PID namespaces; a tmpfs root holding
  read-only binds of only the Python runtime and system libraries (never the course folder,
  graders, solutions, other submissions or the output folder); chroot; then, as root, drop to an
  unprivileged uid of its own, or, as a normal user, a user namespace.
- ``rlimits``: where namespaces are refused, resource caps only (reported in the results).

Resource caps apply at every level: address space, processes, file size, open files, CPU time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "SandboxPlan", "enter_namespaces", "lock_down", "plan_binds"]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

SANDBOX_WORKDIR = "/submission"
_DEVICES = ("null", "zero", "urandom", "random")
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc")


@dataclass(frozen=True)
class Limits:
    """Caps for one submission process (bytes, counts, seconds)."""

    memory_bytes: int = 3 * 1024**3
    processes: int = 64
    file_bytes: int = 16 * 1024**2
    open_files: int = 256
    cpu_seconds: int = 600
    tmpfs_bytes: int = 64 * 1024**2


@dataclass(frozen=True)
class SandboxPlan:
    """What the zygote decided once at start: paths to expose and the uid to become."""

    binds: tuple[str, ...]
    new_root: str
    uid: int
    limits: Limits = field(default_factory=Limits)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def plan_binds(forbidden: list[Path]) -> tuple[str, ...]:
    """Read-only paths the submission may see: system dirs and the Python runtime.

    Any path that contains a forbidden folder (the course root holding graders/ and
    solutions/) is left out; its harmless sub-folders (the venv, src/) are bound instead.
    """
    candidates = list(_SYSTEM_DIRS) + [sys.prefix, sys.base_prefix, sys.exec_prefix]
    candidates += [p for p in sys.path if p]
    chosen: list[str] = []
    for raw in candidates:
        path = Path(raw).resolve()
        if not path.exists():
            continue
        if any(f == path or path in f.parents for f in forbidden):
            continue  # would expose graders/solutions
        if any(path == f or f in path.parents for f in forbidden):
            continue  # inside a forbidden folder
        text = str(path)
        if any(text == c or text.startswith(c + "/") for c in chosen):
            continue
        chosen = [c for c in chosen if not c.startswith(text + "/")] + [text]
    return tuple(sorted(chosen))


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter_namespaces(plan: SandboxPlan) -> str:
    """Unshare namespaces and build the minimal root (still privileged). Returns the level.

    Must run in a single-threaded, freshly forked process: the kernel refuses to unshare a
    mount or user namespace of a process with several threads.
    """
    base = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
    uid, gid = os.getuid(), os.getgid()
    if uid == 0 and _libc.unshare(base) == 0:
        level = "namespaces"
    elif _libc.unshare(base | CLONE_NEWUSER) == 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        level = "namespaces-user"
    else:
        return "rlimits"
    try:
        _build_root(plan)
    except OSError:
        return "rlimits-netns"
    return level


def _build_root(plan: SandboxPlan) -> None:
    root = plan.new_root
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={plan.limits.tmpfs_bytes},mode=755")
    for source in plan.binds:
        target = root + source
        os.makedirs(target, exist_ok=True)
        _mount(source, target, None, MS_BIND | MS_REC)
        _mount(source, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)
    for name in _SYSTEM_DIRS:  # merged-/usr systems: /bin, /lib64 ... are symlinks into /usr
        if os.path.islink(name) and not os.path.lexists(root + name):
            os.symlink(os.readlink(name), root + name)
    os.makedirs(root + "/dev", exist_ok=True)
    for device in _DEVICES:
        target = f"{root}/dev/{device}"
        open(target, "w").close()
        _mount(f"/dev/{device}", target, None, MS_BIND)
    os.makedirs(root + "/tmp", mode=0o1777, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    os.makedirs(root + SANDBOX_WORKDIR, exist_ok=True)
    os.chmod(root + SANDBOX_WORKDIR, 0o777)


def lock_down(plan: SandboxPlan, level: str) -> None:
    """In the final submission process: die with the supervisor, chroot, drop privileges, cap."""
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes fail instead of killing
    current_vm = _current_virtual_memory()  # read /proc before it disappears with the chroot
    if level.startswith("namespaces"):
        os.chroot(plan.new_root)
        os.chdir(SANDBOX_WORKDIR)
    else:
        os.chdir(_private_workdir())
    if level == "namespaces" and os.getuid() == 0:
        os.setgroups([])
        os.setresgid(plan.uid, plan.uid, plan.uid)
        os.setresuid(plan.uid, plan.uid, plan.uid)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _apply_limits(plan.limits, current_vm, count_processes=level == "namespaces")
    os.environ.clear()
    os.environ.update({"HOME": SANDBOX_WORKDIR if level.startswith("namespaces") else os.getcwd(),
                       "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"})


def _private_workdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="seqlab-sub-")


def _apply_limits(limits: Limits, current_vm: int, count_processes: bool) -> None:
    caps = {
        resource.RLIMIT_AS: current_vm + limits.memory_bytes,
        resource.RLIMIT_FSIZE: limits.file_bytes,
        resource.RLIMIT_NOFILE: limits.open_files,
        resource.RLIMIT_CPU: limits.cpu_seconds,
        resource.RLIMIT_CORE: 0,
    }
    if count_processes:
        caps[resource.RLIMIT_NPROC] = limits.processes
    for which, value in caps.items():
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def _current_virtual_memory() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 4 * 1024**3  # /proc hidden: assume torch's typical footprint
