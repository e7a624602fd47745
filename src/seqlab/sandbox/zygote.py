"""The zygote: a clean process that imported torch once and forks one confined child per request.

Started with `python -I -m seqlab.sandbox.zygote FD` by a grading worker, so it never holds
grader code or hidden inputs in memory (a forked child inherits its parent's memory), and it
never learns an instructor path either: it sends the worker the runtime paths it would bind,
and the worker answers (over the control socket, never argv or the environment) with the
binds it allows, the caps and whether a weak sandbox may run. Its command line in /proc is
overwritten to a bare name, as its children inherit it.

Each spawn request carries one end of a socketpair (SCM_RIGHTS); the zygote makes the
submission's cgroup, forks the intermediate (see `intermediate.py`) and answers with its pid. Cgroups of finished submissions are emptied and removed
at the next spawn and when the zygote ends. SIGCHLD is ignored so children are reaped by the kernel,
and the zygote is their subreaper, so orphans of a killed submission are reaped at once too.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import select
import signal
import socket
import sys
import tempfile

import torch
import torch.distributions
import torch.nn.functional

from seqlab.gradients import backward_from

from .cgroups import CgroupSet, SubmissionCgroup
from .confine import Confinement, Limits, SandboxPlan, runtime_paths
from .dispatcher import Dispatcher, discard_python_output
from .intermediate import run_intermediate
from .wire import recv_message, send_message

__all__ = ["main"]

TITLE = b"seqlab-sandbox"


WARMABLE = ("matplotlib",)  # what the worker may ask us to pre-import (argv `--warm=NAME`)


def _warm_up(modules: tuple[str, ...] = ()) -> None:
    """Run the kernels a grader will ask for, so forked children do not pay lazy init."""
    torch.set_num_threads(1)
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 3, 8, requires_grad=True)
    layer(x).softmax(-1).sum().backward()
    # Graders probe gradients from a non-scalar output with an explicit upstream gradient, through
    # `backward_from` (which spares every process torch's lazy sympy import); warm that path too.
    y = layer(x).tanh()
    backward_from(y, torch.randn_like(y))
    torch.nn.functional.dropout(x, 0.5, training=True)
    torch.distributions.Normal(torch.zeros(2), torch.ones(2)).log_prob(torch.zeros(2))
    torch.nn.functional.scaled_dot_product_attention(x, x, x)
    torch.nn.LSTM(4, 4, batch_first=True)(torch.randn(2, 3, 4))
    # Some course notebooks import matplotlib.pyplot at the top (vit, mdn): ~0.5 s of CPU per
    # child that imports it, more where it must build its font cache in the child's empty /tmp.
    # Where the worker says the assignment's skeleton imports it, import it once here, its config
    # and cache in a folder of our own (no instructor path, not even $HOME's, is read or
    # remembered), removed again: the font list stays in memory. Elsewhere (mha, lstm, gru) it
    # would only lengthen a one-submission run by ~0.6 s.
    if "matplotlib" not in modules:
        return
    import shutil

    config = tempfile.mkdtemp(prefix="seqlab-mpl-")
    os.environ["MPLCONFIGDIR"] = config
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:  # optional for students: the zygote works without it
        pass
    finally:
        del os.environ["MPLCONFIGDIR"]
        shutil.rmtree(config, ignore_errors=True)


def _hide_command_line() -> None:
    """Overwrite this process's argv area (what /proc/PID/cmdline shows, for us and every child)
    with a bare title, as setproctitle does. (The environment holds no path: the worker starts
    us with a fixed one.)"""
    sys.argv = [TITLE.decode()]
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49 of stat)
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)
        ctypes.memmove(start, TITLE, min(len(TITLE), end - start - 1))


def _serve(conn_fd: int, confinement: Confinement, allow_weak: bool) -> None:
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    output = os.open(".output", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    discard_python_output()
    conn = socket.socket(fileno=conn_fd)
    send_message(conn, {"event": "hello", "isolation": confinement.token(),
                        "features": " ".join(confinement.features)})
    if confinement.level != "strong" and not allow_weak:
        return  # refuse to run any student code behind fences that do not hold
    dispatcher: Dispatcher | None = None
    while True:
        try:
            request, blobs = recv_message(conn)
        except (EOFError, OSError):
            return
        if request.get("op") == "load":
            dispatcher = Dispatcher(str(request.get("module_name", "__main__")))
            for cell in request["cells"]:
                send_message(conn, {"event": "cell_start", "index": cell["index"]})
                outcome = dispatcher.run_cell(cell["index"], cell["code"], float(request["timeout"]))
                send_message(conn, {"event": "cell_done", **outcome})
            send_message(conn, {"event": "loaded", "names": dispatcher.defined_names()})
            continue
        if dispatcher is None:
            send_message(conn, {"ok": False, "error": {"type": "ProtocolError", "bases": [],
                                                        "message": "not loaded", "where": None}})
            continue
        reply, out_blobs = dispatcher.handle(request, blobs)
        send_message(conn, reply, out_blobs)


def _handshake(control: socket.socket) -> dict:
    """Send the runtime paths we would bind; receive the worker's config (binds, limits)."""
    control.send(json.dumps({"runtime": runtime_paths()}).encode())
    config = json.loads(control.recv(1 << 20) or b"{}")
    if not isinstance(config, dict) or not isinstance(config.get("binds"), list):
        raise SystemExit(1)
    return config


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    _hide_command_line()
    asked = (arg.removeprefix("--warm=") for arg in sys.argv[2:])
    _warm_up(tuple(name for name in asked if name in WARMABLE))
    config = _handshake(control)
    plan = SandboxPlan(
        binds=tuple(str(p) for p in config["binds"]),
        new_root=tempfile.mkdtemp(prefix="seqlab-root-", dir="/tmp"),
        uid=200_000 + os.getpid() % 100_000,
        limits=Limits(**config.get("limits", {})),
        allow_weak=bool(config.get("allow_weak", True)),
        hidden=tuple(str(p) for p in config.get("hidden", [])),
    )
    del config
    cgroups = CgroupSet.detect()
    cgroups.remove_stale()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _adopt_orphans()
    control.send(json.dumps({"ready": True, "binds": list(plan.binds), "root": plan.new_root,
                             "cgroup": cgroups.kind}).encode())
    children = _Children()
    try:
        _serve_spawns(control, plan, cgroups, children)
    finally:
        children.sweep(everything=True)
        _remove_mount_point(plan.new_root)


PR_SET_CHILD_SUBREAPER = 36


def _adopt_orphans() -> None:
    """Become the subreaper of everything we fork. When a submission's intermediate dies before
    its server (the namespace's pid 1, killed with it), the orphan is handed to us instead of the
    machine's init, and, as we ignore SIGCHLD, the kernel reaps it at once: no zombie outlives its
    submission, even where pid 1 is a container's shell that never reaps."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: orphans go to init as before
        pass


def _remove_mount_point(path: str) -> None:
    """The root dir is only a mount point (the tmpfs lives in each child's namespace): empty here."""
    try:
        os.rmdir(path)
    except OSError:
        pass


class _Children:
    """Intermediates still running or whose cgroup is not yet removed: pid -> (pidfd, cgroup)."""

    def __init__(self) -> None:
        self.live: dict[int, tuple[int | None, SubmissionCgroup | None]] = {}

    def add(self, pid: int, cgroup: SubmissionCgroup | None) -> None:
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except OSError:
            pidfd = None
        self.live[pid] = (pidfd, cgroup)

    def sweep(self, everything: bool = False) -> None:
        """Empty and remove the cgroups of submissions that ended (all of them, at exit)."""
        for pid, (pidfd, cgroup) in list(self.live.items()):
            ended = pidfd is None or bool(select.select([pidfd], [], [], 0)[0])
            if not (ended or everything):
                continue
            if not ended:
                _kill(pid)
            if cgroup is not None:
                cgroup.kill()
                if not cgroup.remove() and not everything:
                    continue
            if pidfd is not None:
                os.close(pidfd)
            del self.live[pid]


def _kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _serve_spawns(control: socket.socket, plan: SandboxPlan, cgroups: CgroupSet, children: _Children) -> None:
    count = 0
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 4096, 1)
        except OSError:
            return
        if not data:
            return
        if not fds:
            continue
        count += 1
        cgroup = cgroups.create(f"seqlab-{os.getpid()}-{count}", plan.limits.memory_bytes, plan.limits.processes)
        joined_read, joined_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                os.close(joined_write)
                run_intermediate([fds[0]], plan, functools.partial(_wait_joined, joined_read, cgroup),
                                 functools.partial(_serve_child, fds[0], allow_weak=plan.allow_weak),
                                 own=(joined_read,))
            finally:
                os._exit(0)
        os.close(fds[0])
        os.close(joined_read)
        children.add(pid, cgroup)
        control.send(json.dumps({"pid": pid}).encode())
        os.write(joined_write, b"1" if _move_into(cgroup, pid) else b"0")  # while it sets up namespaces
        os.close(joined_write)
        children.sweep()


def _move_into(cgroup: SubmissionCgroup | None, pid: int) -> bool:
    if cgroup is None:
        return False
    try:
        cgroup.join(pid)
    except OSError:
        return False
    return True


def _wait_joined(fd: int, cgroup: SubmissionCgroup | None) -> str | None:
    """In the intermediate: block until the zygote has moved us into the cgroup (or could not)."""
    answer = os.read(fd, 1)
    os.close(fd)
    return cgroup.kind if cgroup is not None and answer == b"1" else None


def _serve_child(conn_fd: int, confinement: Confinement, *, allow_weak: bool) -> None:
    torch.set_num_threads(1)
    _serve(conn_fd, confinement, allow_weak)


if __name__ == "__main__":
    main()
    # Everything it owns is gone (children killed, cgroups removed, mount point emptied): skip the
    # interpreter's shutdown, which with torch loaded costs 0.3-2 s that every run would wait for.
    os._exit(0)
