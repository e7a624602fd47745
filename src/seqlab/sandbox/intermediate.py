"""The intermediate process of one submission: cgroup, namespaces, then fork the confined server.

Forked by the zygote (or the probe) per submission. It leaves the zygote's session, keeps only
the fds it is given, enters the namespaces, waits until it is in the submission's cgroup (the
zygote moves it there meanwhile: a cgroup v1 move waits out an RCU grace period, so it is not
paid on top), forks the server (pid 1 of the new PID namespace, which confines itself
in `lock_down` and then runs `serve`) and waits for it: its only child, which is how the trusted
side finds the server to kill (/proc/PID/task/PID/children). Killing the server kills the
namespace; killing this process kills the server (PDEATHSIG).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from .confine import Confinement, SandboxPlan, enter_namespaces, lock_down

__all__ = ["run_intermediate"]


def _keep_only(fds: list[int]) -> None:
    low = 3
    for fd in sorted(fds):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def run_intermediate(keep: list[int], plan: SandboxPlan, in_cgroup: Callable[[], str | None],
                     serve: Callable[[Confinement], None], own: tuple[int, ...] = ()) -> None:
    """`keep`: fds for the server; `own`: fds `in_cgroup` uses (and closes). `in_cgroup()` returns
    once this process is in its cgroup, with the cgroup's kind (None: none). Never returns
    normally: the caller must os._exit after it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    _keep_only([*keep, *own])
    features = enter_namespaces(plan)
    kind = in_cgroup()
    alive_read, alive_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(alive_write)
            serve(lock_down(plan, features, kind, alive_read))
        finally:
            os._exit(0)
    os.close(alive_read)
    for fd in keep:
        os.close(fd)
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue
