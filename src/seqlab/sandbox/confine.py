"""Confine a freshly forked submission process; report exactly which fences hold.

Why not just bubblewrap: bwrap must exec a new program, and a fresh `import torch` costs ~1.7 s
per submission. We use the same kernel mechanisms bwrap uses, but on a process forked from a
torch-warmed zygote, so confinement costs milliseconds. Two processes per submission:

- the *intermediate* (`enter_namespaces`) joins the submission's cgroup, then unshares mount,
  network, IPC, UTS and PID namespaces (as root), or those plus a user namespace mapping one
  non-zero id (`SANDBOX_UID`) to the instructor (as anyone else), and builds a tmpfs root holding
  read-only binds of only the Python runtime and system libraries (never the course folder,
  graders, solutions, submissions or the output folder);
- the *server* it forks, pid 1 of the new PID namespace (`lock_down`), mounts its /proc, moves
  into the new root with `pivot_root` and detaches the old one, drops every capability (bounding
  set included) and becomes a non-zero uid/gid, sets NO_NEW_PRIVS and the rlimits, restricts
  itself with Landlock where the kernel has it, arms PDEATHSIG (after the uid change, which would
  clear it) and finally loads the seccomp filter. Killing it kills its whole PID namespace.

What was reached is read back from the kernel and returned as a `Confinement`; a level that
lacks any of `REQUIRED` is "weak" and grading refuses it unless the instructor allows it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import landlock, privileges, seccomp

__all__ = ["REQUIRED", "Confinement", "Limits", "SandboxPlan", "enter_namespaces", "hidden_inside", "lock_down",
           "plan_binds", "runtime_paths"]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

_libc = ctypes.CDLL(None, use_errno=True)

SANDBOX_WORKDIR = "/submission"
SANDBOX_UID = 1000  # the submission's uid (and gid) inside its user namespace
PID_MAX_MIN = 301  # the kernel's floor for pid_max
_DEVICES = ("null", "zero", "urandom", "random")
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc")
_NAMESPACES = ("pid-ns", "mount-ns", "net-ns", "ipc-ns", "uts-ns")
REQUIRED = (*_NAMESPACES, "pivot-root", "no-caps", "non-root", "no-new-privs", "seccomp")
_ROOT_BUILT = "root-built"  # internal: the intermediate built the new root


@dataclass(frozen=True)
class Limits:
    """Caps for one submission (bytes, counts, seconds): for all its processes together where a
    cgroup is available, per process (rlimits) always."""

    memory_bytes: int = 3 * 1024**3
    processes: int = 64
    file_bytes: int = 16 * 1024**2
    open_files: int = 256
    cpu_seconds: int = 600
    tmpfs_bytes: int = 64 * 1024**2


@dataclass(frozen=True)
class SandboxPlan:
    """What the zygote decided once at start: paths to expose, the uid to become as root."""

    binds: tuple[str, ...]
    new_root: str
    uid: int
    limits: Limits = field(default_factory=Limits)
    allow_weak: bool = True
    hidden: tuple[str, ...] = ()  # folders inside a bind that stay invisible (the reference oracles)


@dataclass
class Confinement:
    """The fences one submission process ended up behind, as verified from inside it."""

    features: list[str]
    cgroup: str | None = None  # "cgroup-v1"/"cgroup-v2": caps per submission; None: per process

    @property
    def missing(self) -> list[str]:
        return [f for f in REQUIRED if f not in self.features]

    @property
    def level(self) -> str:
        return "weak" if self.missing else "strong"

    def token(self) -> str:
        """Short id for the per-submission `isolation` field, e.g. strong+landlock7+cgroup1."""
        parts = [self.level] + [f.replace("-", "") for f in self.features if f.startswith("landlock")]
        return "+".join(parts + [self.cgroup.replace("-v", "") if self.cgroup else "rlimits"])

    def to_dict(self) -> dict[str, object]:
        return {"level": self.level, "features": list(self.features), "missing": self.missing,
                "caps": "per-submission" if self.cgroup else "per-process", "cgroup": self.cgroup}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Confinement:
        features = data.get("features")
        cgroup = data.get("cgroup")
        return cls([str(f) for f in features] if isinstance(features, list) else [],
                   str(cgroup) if cgroup in ("cgroup-v1", "cgroup-v2") else None)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def runtime_paths() -> list[str]:
    """Paths this interpreter needs (system dirs, prefixes, sys.path): candidates for binds."""
    return [*_SYSTEM_DIRS, sys.prefix, sys.base_prefix, sys.exec_prefix, *(p for p in sys.path if p)]


def hidden_inside(binds: tuple[str, ...], secrets: list[Path]) -> tuple[str, ...]:
    """The secret folders that a bind would expose (e.g. src/seqlab/oracles under an editable
    install's src/): the sandbox mounts an empty tmpfs over each, keeping the rest of the bind."""
    found = []
    for secret in secrets:
        path = Path(secret).resolve()
        if path.is_dir() and any(path == Path(b) or Path(b) in path.parents for b in binds):
            found.append(str(path))
    return tuple(sorted(found))


def plan_binds(candidates: list[str], forbidden: list[Path]) -> tuple[str, ...]:
    """Read-only paths the submission may see, chosen from `candidates`.

    Any path that contains a forbidden folder (the course root holding graders/ and
    solutions/) is left out; its harmless sub-folders (the venv, src/) are bound instead.
    """
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


def enter_namespaces(plan: SandboxPlan) -> list[str]:
    """In the intermediate: unshare namespaces and build the minimal root; returns the features.

    Must run in a single-threaded, freshly forked process: the kernel refuses to unshare a
    mount or user namespace of a process with several threads.
    """
    base = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
    if os.getuid() == 0:
        os.setgroups([])  # root's supplementary groups must not reach the submission
        if _libc.unshare(base) == 0:
            return _with_root(plan, list(_NAMESPACES))
        os.setresgid(plan.uid, plan.uid, plan.uid)  # root where namespaces are refused: own uid
        os.setresuid(plan.uid, plan.uid, plan.uid)
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(base | CLONE_NEWUSER) != 0:
        return []
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{SANDBOX_UID} {uid} 1")
    _write("/proc/self/gid_map", f"{SANDBOX_UID} {gid} 1")
    return _with_root(plan, [*_NAMESPACES, "user-ns"])


def _with_root(plan: SandboxPlan, features: list[str]) -> list[str]:
    try:
        _build_root(plan)
    except OSError:
        return features
    return [*features, _ROOT_BUILT]


def _build_root(plan: SandboxPlan) -> None:
    root = plan.new_root
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={plan.limits.tmpfs_bytes},mode=755")
    for source in plan.binds:
        target = root + source
        os.makedirs(target, exist_ok=True)
        _mount(source, target, None, MS_BIND | MS_REC)
        _mount(source, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for secret in plan.hidden:  # an empty, read-only tmpfs over it: its files are not there at all
        if os.path.isdir(root + secret):
            _mount("tmpfs", root + secret, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "size=4k,mode=555")
    for name in _SYSTEM_DIRS:  # merged-/usr systems: /bin, /lib64 ... are symlinks into /usr
        if os.path.islink(name) and not os.path.lexists(root + name):
            os.symlink(os.readlink(name), root + name)
    os.makedirs(root + "/dev", exist_ok=True)
    for device in _DEVICES:
        target = f"{root}/dev/{device}"
        open(target, "w").close()
        _mount(f"/dev/{device}", target, None, MS_BIND)
    os.makedirs(root + "/proc", exist_ok=True)
    for scratch in ("/tmp", "/dev/shm"):  # /dev/shm: POSIX semaphores (multiprocessing) live there
        os.makedirs(root + scratch, exist_ok=True)
        os.chmod(root + scratch, 0o1777)
    os.makedirs(root + SANDBOX_WORKDIR, exist_ok=True)
    os.chmod(root + SANDBOX_WORKDIR, 0o777)


def _pivot_into(root: str) -> None:
    """Make `root` the filesystem root and detach the old one entirely (chroot is no fence)."""
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(38, "pivot_root: unknown architecture")
    os.chdir(root)
    _libc.syscall.restype = ctypes.c_long
    _check(_libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")  # old root stacked on "/"
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


def _mount_proc(root: str) -> None:
    """A /proc of the new PID namespace only (process directories, no kernel knobs)."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    for options in ("subset=pid,hidepid=invisible", "subset=pid", None):
        try:
            _mount("proc", root + "/proc", "proc", flags, options)
            return
        except OSError:
            continue


def lock_down(plan: SandboxPlan, features: list[str], cgroup: str | None, parent_alive: int) -> Confinement:
    """In the server, single-threaded: fence, drop privileges, cap; returns what was verified.

    `parent_alive` is the read end of a pipe the intermediate holds open: EOF means it is gone.
    """
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes fail instead of killing
    current_vm = _current_virtual_memory()
    reached = [f for f in features if f != _ROOT_BUILT]
    if "pid-ns" in reached and os.getpid() == 1 and _cap_pid_namespace(plan.limits.processes):
        reached.append("pid-ceiling")
    readable, writable = _fence_files(plan, features, reached)
    in_userns = "user-ns" in reached
    uid = SANDBOX_UID if in_userns else plan.uid
    privileges.drop_bounding_set()
    if os.getuid() == 0 or in_userns:  # holding CAP_SETUID here: become the submission's own id
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # the uid change cleared it: keep /proc/self its own
    try:
        privileges.clear_capabilities()
    except OSError:
        pass
    privileges.set_no_new_privs()
    _apply_limits(plan.limits, current_vm, shares_uid=not in_userns and os.getuid() != plan.uid)
    try:
        reached.append(f"landlock-{landlock.restrict(readable, writable)}")
    except OSError:
        pass
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the uid change, which clears it
    if select.select([parent_alive], [], [], 0)[0]:
        os._exit(0)  # the intermediate died before the signal was armed
    os.close(parent_alive)
    try:
        seccomp.install(seccomp.sandbox_filter())
        reached.append("seccomp")
    except OSError:
        pass
    reached += _verified_identity()
    os.environ.clear()
    os.environ.update({"HOME": os.getcwd(), "TMPDIR": "/tmp" if _ROOT_BUILT in features else os.getcwd(),
                       "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"})
    return Confinement(reached, cgroup)


def _cap_pid_namespace(processes: int) -> bool:
    """A ceiling on the tasks of the submission's whole PID namespace (pid_max is per namespace
    since Linux 6.14; at least 301). It holds where RLIMIT_NPROC does not: the kernel never
    enforces that for a process whose uid is root outside, as when an unprivileged user
    namespace maps the instructor to root. Only ever called as pid 1 of a new PID namespace."""
    try:
        _write("/proc/sys/kernel/pid_max", str(max(PID_MAX_MIN, processes + 1)))
    except OSError:
        return False
    return True


def _fence_files(plan: SandboxPlan, features: list[str], reached: list[str]) -> tuple[list[str], list[str]]:
    """Enter the new root (or a private folder when there is none); the Landlock rule paths."""
    devices = [f"/dev/{d}" for d in _DEVICES]
    if _ROOT_BUILT in features:
        _mount_proc(plan.new_root)
        try:
            _pivot_into(plan.new_root)
            reached.append("pivot-root")
        except OSError:
            os.chroot(plan.new_root)  # still refused as "weak": pivot-root is required
        os.chdir(SANDBOX_WORKDIR)
        return ["/"], ["/tmp", "/dev/shm", SANDBOX_WORKDIR, "/dev/null", "/dev/zero"]
    import tempfile

    os.chdir(tempfile.mkdtemp(prefix="seqlab-sub-"))
    return [*plan.binds, *devices, "/proc"], [os.getcwd(), "/dev/shm", "/dev/null", "/dev/zero"]


def _verified_identity() -> list[str]:
    """What the kernel says now: no capability anywhere, non-zero ids, NO_NEW_PRIVS."""
    state = privileges.held()
    found = []
    if not state["capabilities"] and not state["bounding"]:
        found.append("no-caps")
    if 0 not in (*os.getresuid(), *os.getresgid()):
        found.append("non-root")
    if state["no_new_privs"]:
        found.append("no-new-privs")
    return found


def _tasks_of_user(uid: int) -> int:
    """Processes and threads this uid runs (what RLIMIT_NPROC counts outside a user namespace)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def _apply_limits(limits: Limits, current_vm: int, shares_uid: bool) -> None:
    """Rlimits in every mode. In a user namespace of its own, or as the zygote's own uid, the
    process count is the submission's alone; as the instructor's uid it is counted with theirs."""
    processes = limits.processes + (_tasks_of_user(os.getuid()) if shares_uid else 0)
    caps = {
        resource.RLIMIT_AS: current_vm + limits.memory_bytes,
        resource.RLIMIT_FSIZE: limits.file_bytes,
        resource.RLIMIT_NOFILE: limits.open_files,
        resource.RLIMIT_CPU: limits.cpu_seconds,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NPROC: processes,
    }
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
