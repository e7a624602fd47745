"""The intermediate process of one submission: cgroup, namespaces, then fork the confined server.

Forked by the zygote (or the probe) per submission. It leaves the zygote's session, keeps only
the fds it is given, joins the submission's cgroup (so every later process is counted there),
enters the namespaces, forks the server (pid 1 of the new PID namespace, which confines itself
in `lock_down` and then runs `serve`), writes the server's pid to `report_fd` for the trusted
side, and waits for it. Killing the server kills the namespace; killing this process kills the
server (PDEATHSIG).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from .cgroups import SubmissionCgroup
from .confine import Confinement, SandboxPlan, enter_namespaces, lock_down

__all__ = ["run_intermediate"]


def _keep_only(fds: list[int]) -> None:
    low = 3
    for fd in sorted(fds):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def run_intermediate(keep: list[int], report_fd: int, plan: SandboxPlan, cgroup: SubmissionCgroup | None,
                     serve: Callable[[Confinement], None]) -> None:
    """Never returns normally: the caller must os._exit after it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    _keep_only([*keep, report_fd])
    kind = None
    if cgroup is not None:
        try:
            cgroup.join()
            kind = cgroup.kind
        except OSError:
            kind = None
    features = enter_namespaces(plan)
    alive_read, alive_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(alive_write)
            os.close(report_fd)
            serve(lock_down(plan, features, kind, alive_read))
        finally:
            os._exit(0)
    os.close(alive_read)
    for fd in keep:
        os.close(fd)
    os.write(report_fd, str(pid).encode())
    os.close(report_fd)
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue
