"""The zygote: a clean process that imported torch once and forks one confined child per request.

Started with `python -I -m seqlab.sandbox.zygote FD CONFIG_JSON` by a grading worker, so it never
holds grader code or hidden inputs in memory (a forked child inherits its parent's memory).
Each spawn request carries one end of a socketpair (SCM_RIGHTS); the forked child confines
itself and then serves the trusted side on that socket. SIGCHLD is ignored so children are
reaped by the kernel.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributions
import torch.nn.functional

from .confine import Limits, SandboxPlan, enter_namespaces, lock_down, plan_binds
from .dispatcher import Dispatcher, discard_python_output
from .wire import recv_message, send_message

__all__ = ["main"]


def _warm_up() -> None:
    """Run the kernels a grader will ask for, so forked children do not pay lazy init."""
    torch.set_num_threads(1)
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 3, 8, requires_grad=True)
    layer(x).softmax(-1).sum().backward()
    # The first backward from a non-scalar output with an explicit gradient (how graders probe
    # gradients) costs ~0.3 s of one-time autograd set-up; pay it here, once, not per student.
    y = layer(x).tanh()
    y.backward(torch.randn_like(y))
    torch.nn.functional.dropout(x, 0.5, training=True)
    torch.distributions.Normal(torch.zeros(2), torch.ones(2)).log_prob(torch.zeros(2))
    torch.nn.functional.scaled_dot_product_attention(x, x, x)
    torch.nn.LSTM(4, 4, batch_first=True)(torch.randn(2, 3, 4))


def _serve(conn_fd: int, plan: SandboxPlan, level: str) -> None:
    lock_down(plan, level)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    output = os.open(".output", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    discard_python_output()
    conn = socket.socket(fileno=conn_fd)
    send_message(conn, {"event": "hello", "isolation": level})
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


def _run_child(conn_fd: int, plan: SandboxPlan) -> None:
    """Intermediate process: enter namespaces, fork the confined server, wait for it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    os.closerange(3, conn_fd)
    os.closerange(conn_fd + 1, 1024)
    level = enter_namespaces(plan)
    pid = os.fork()
    if pid == 0:
        try:
            torch.set_num_threads(1)
            _serve(conn_fd, plan, level)
        finally:
            os._exit(0)
    os.close(conn_fd)
    while True:
        try:
            os.waitpid(pid, 0)
            break
        except ChildProcessError:
            break
        except InterruptedError:
            continue


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    config = json.loads(sys.argv[2])
    _warm_up()
    forbidden = [Path(p).resolve() for p in config["forbidden"]]
    plan = SandboxPlan(
        binds=plan_binds(forbidden),
        new_root=tempfile.mkdtemp(prefix="seqlab-root-"),
        uid=200_000 + os.getpid() % 100_000,
        limits=Limits(**config.get("limits", {})),
    )
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    control.send(json.dumps({"ready": True, "binds": list(plan.binds), "root": plan.new_root}).encode())
    try:
        _serve_spawns(control, plan)
    finally:
        _remove_mount_point(plan.new_root)


def _remove_mount_point(path: str) -> None:
    """The root dir is only a mount point (the tmpfs lives in each child's namespace): empty here."""
    try:
        os.rmdir(path)
    except OSError:
        pass


def _serve_spawns(control: socket.socket, plan: SandboxPlan) -> None:
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 4096, 1)
        except OSError:
            return
        if not data:
            return
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            try:
                _run_child(fds[0], plan)
            finally:
                os._exit(0)
        os.close(fds[0])
        control.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    main()
