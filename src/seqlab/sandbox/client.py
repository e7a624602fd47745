"""The trusted side of the sandbox: start a zygote, run a submission's cells, make requests.

`SandboxSession` is what a grader talks to for one student. It loads the cells in a confined
child, and when the child dies or hangs it records why, kills it, and transparently starts a
new one (skipping the cell that killed it) so one bad cell or one looping call costs only the
checks that touch it. A per-submission budget bounds the total time whatever the submission does.

Each wait has one absolute deadline (the earlier of its own limit and the submission's budget)
that no trickle of bytes extends, and every frame the child sends is checked against the
protocol's schema and the expected order of events before any of it is used: student code can
write onto the socket, so what arrives is data to validate, never a trusted report.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.text import clean_line

from .confine import Limits, hidden_inside, plan_binds
from .wire import ProtocolError, check_event, check_reply, recv_message, send_message

# The reference implementations the graders compare against: a submission must never read them,
# even where the package's own source folder is bound into the sandbox (an editable install).
ORACLES_DIR = Path(__file__).resolve().parents[1] / "oracles"

__all__ = [
    "BudgetExhausted",
    "CallTimedOut",
    "CellReport",
    "ProcessEnded",
    "RemoteFailure",
    "SandboxSession",
    "Timeouts",
    "Zygote",
    "cell_notes",
    "modules_to_warm",
]


class RemoteFailure(Exception):
    """Base of everything that can go wrong on the submission's side of a request."""


class CallTimedOut(RemoteFailure):
    pass


class ProcessEnded(RemoteFailure):
    pass


class BudgetExhausted(RemoteFailure):
    pass


@dataclass(frozen=True)
class Timeouts:
    cell: float = 20.0
    call: float = 10.0
    submission: float = 120.0
    # After this many calls that never finished, later calls fail at once: code that hangs on
    # every call would otherwise burn the whole budget one call timeout at a time.
    hung_calls: int = 3


@dataclass
class CellReport:
    """How one cell of the submission went: ok, raised, timeout or ended (killed the process)."""

    index: int
    status: str
    error: dict[str, Any] | None = None
    seconds: float = 0.0

    def note(self) -> str | None:
        """One line for the student's feedback, or None for a cell that ran fine."""
        if self.status == "ok":
            return None
        error = self.error or {}
        detail = f"{clean_line(error.get('type', ''), 100)}: {clean_line(error.get('message', ''), 200)}".strip(": ")
        where = error.get("where")
        verb = {"raised": "raised", "timeout": "timed out:", "ended": "stopped the process:"}.get(
            self.status, self.status)
        return f"cell {self.index} {verb} {detail}{f' ({where})' if where else ''}; it was skipped"


MAX_CELL_NOTES = 20


def cell_notes(reports: dict[int, CellReport]) -> list[str]:
    notes = [n for n in (reports[i].note() for i in sorted(reports)) if n]
    if len(notes) > MAX_CELL_NOTES:
        notes = notes[:MAX_CELL_NOTES] + [f"... and {len(notes) - MAX_CELL_NOTES} more cells that failed"]
    return notes


def _clean_env() -> dict[str, str]:
    """The zygote's (and so every child's) environment: no variable that could hold a path of the
    instructor's (PATH is fixed, TMPDIR dropped)."""
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL") and "/" not in v}
    env.update({"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def modules_to_warm(skeleton: Path | None) -> tuple[str, ...]:
    """The optional heavy modules worth importing once in the zygote rather than in each child:
    those the assignment's skeleton notebook (what students start from) imports."""
    try:
        text = skeleton.read_text(encoding="utf-8") if skeleton else ""
    except OSError:
        return ()
    return ("matplotlib",) if "import matplotlib" in text or "from matplotlib" in text else ()


class Zygote:
    """A torch-warmed process that forks confined children on request."""

    def __init__(self, forbidden: list[Path], limits: Limits | None = None, *, wait: bool = True,
                 allow_weak: bool = True, warm: tuple[str, ...] = ()) -> None:
        """With wait=False the zygote warms up in the background until `wait_ready()`, so the
        caller can import its own heavy modules meanwhile (start-up is paid once, not twice).
        With allow_weak=False a child whose fences do not all hold runs no student code.
        `warm` names optional heavy modules to pre-import (see `modules_to_warm`)."""
        self.forbidden = [Path(p) for p in forbidden]
        self.warm = tuple(warm)
        self.limits = limits or Limits()
        self.allow_weak = allow_weak
        self.binds: list[str] = []
        self.cgroup: str | None = None
        self._launch()
        if wait:
            self.wait_ready()

    def _start(self) -> None:
        self._launch()
        self.wait_ready()

    def _launch(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(  # no instructor path in its argv, environment or cwd
            [sys.executable, "-I", "-m", "seqlab.sandbox.zygote", str(theirs.fileno()),
             *(f"--warm={name}" for name in self.warm)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=_clean_env(), start_new_session=True, cwd="/",
        )
        theirs.close()
        self.control = ours

    def wait_ready(self) -> None:
        self.control.settimeout(120)
        runtime = json.loads(self.control.recv(1 << 20) or b"{}").get("runtime")
        if type(runtime) is not list:
            raise RuntimeError("the sandbox zygote failed to start")
        binds = plan_binds([str(p) for p in runtime], self.forbidden)  # the zygote never sees forbidden
        hidden = hidden_inside(binds, [ORACLES_DIR])  # plan_binds already left out what holds a forbidden path
        self.control.send(json.dumps({"binds": list(binds), "hidden": list(hidden), "limits": vars(self.limits),
                                      "allow_weak": self.allow_weak}).encode())
        ready = json.loads(self.control.recv(65536) or b"{}")
        if not ready.get("ready"):
            raise RuntimeError("the sandbox zygote failed to start")
        self.binds = ready["binds"]
        self.root = str(ready.get("root", ""))
        self.cgroup = ready.get("cgroup")
        self.control.settimeout(10)

    def spawn(self) -> tuple[int, socket.socket]:
        """Fork a confined child; returns its pid (a process-group leader) and our socket."""
        for attempt in range(2):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                socket.send_fds(self.control, [b"spawn"], [theirs.fileno()])
                reply = json.loads(self.control.recv(4096) or b"{}")
                return int(reply["pid"]), ours
            except (OSError, ValueError, KeyError):
                ours.close()
                if attempt:
                    raise
                self.close()
                self._start()  # a submission killed the zygote: replace it
            finally:
                theirs.close()
        raise RuntimeError("unreachable")

    def close(self) -> None:
        try:
            self.control.close()
        finally:
            _wait_dying(5.0)
            try:  # on EOF it kills what is left of its children and removes their cgroups
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            _remove_empty_dir(getattr(self, "root", ""))


def _remove_empty_dir(path: str) -> None:
    """The zygote's mount point, if it was killed before it could remove it itself."""
    if path.startswith(tempfile.gettempdir()) and "seqlab-root-" in path:
        try:
            os.rmdir(path)
        except OSError:
            pass


_DYING: list[int] = []  # pidfds of killed servers whose namespaces may still be tearing down
_MAX_DYING = 4


def _server_of(pid: int) -> int | None:
    """A pidfd of the server: the intermediate's only child, pid 1 of the submission's PID
    namespace. While the intermediate lives its child's pid cannot be reused (it is reaped by it)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return os.pidfd_open(int(children[0])) if children else None
    except (OSError, ValueError):
        return None


def _wait_dying(seconds: float, keep: int = 0) -> None:
    """Wait (at most `seconds` in all) until no more than `keep` killed namespaces are still dying."""
    deadline = time.monotonic() + seconds
    while len(_DYING) > keep:
        ready = select.select(_DYING, [], [], max(0.0, deadline - time.monotonic()))[0]
        if not ready:
            return
        for pidfd in ready:
            _DYING.remove(pidfd)
            os.close(pidfd)


def _kill_group(pid: int) -> None:
    """Kill the submission's server (and with it its whole PID namespace, whatever sessions it
    made) and its intermediate. The kernel tears the namespace down while the next submission
    starts; `Zygote.close` (the end of every run) waits until every one is gone."""
    pidfd = _server_of(pid)
    if pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass
        _DYING.append(pidfd)  # readable once pid 1, and so the whole namespace, is gone
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _wait_dying(0.0)
    _wait_dying(5.0, keep=_MAX_DYING)


@dataclass
class _Child:
    pid: int
    sock: socket.socket
    isolation: str
    generation: int


@dataclass
class SandboxSession:
    """One student's submission, loaded in a confined child that is replaced when it dies."""

    zygote: Zygote
    cells: list[dict[str, Any]]
    module_name: str = "__main__"
    timeouts: Timeouts = field(default_factory=Timeouts)
    cell_reports: dict[int, CellReport] = field(default_factory=dict)
    defined: list[str] = field(default_factory=list)
    isolation: str = "unknown"
    exhausted: bool = False

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeouts.submission
        self._child: _Child | None = None
        self._generation = 0
        self._skip: set[int] = set()
        self._hung = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def _remaining(self, wanted: float) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.exhausted = True
            raise BudgetExhausted(f"the submission used up its {self.timeouts.submission:g} s budget")
        return min(wanted, left)

    def _receive(self, sock: socket.socket, seconds: float) -> tuple[Any, list[bytes]]:
        """One frame, due within `seconds` and before the submission's budget ends."""
        deadline = min(time.monotonic() + self._remaining(seconds), self.deadline)
        try:
            return recv_message(sock, deadline)
        except TimeoutError:
            if deadline >= self.deadline:
                self.exhausted = True
                raise BudgetExhausted(f"the submission used up its {self.timeouts.submission:g} s budget") from None
            raise

    def close(self) -> None:
        if self._child is not None:
            _kill_group(self._child.pid)
            self._child.sock.close()
            self._child = None

    @property
    def generation(self) -> int:
        return self._generation

    def ensure_loaded(self) -> _Child:
        """Return a live child with the submission's cells loaded, starting one if needed."""
        while self._child is None:
            self._load_once()
        return self._child

    def _load_once(self) -> None:
        pid, sock = self.zygote.spawn()
        self._generation += 1
        child = _Child(pid, sock, "unknown", self._generation)
        current: int | None = None
        try:
            hello = check_event(self._receive(sock, 30.0)[0], ("hello",))
            child.isolation = self.isolation = hello["isolation"]
            todo = [c for c in self.cells if c["index"] not in self._skip]
            pending = [c["index"] for c in todo]
            sock.settimeout(self._remaining(30.0))
            send_message(sock, {"op": "load", "cells": todo, "timeout": self.timeouts.cell,
                                "module_name": self.module_name})
            while True:
                expected = ("cell_done",) if current is not None else ("cell_start",) if pending else ("loaded",)
                event = check_event(self._receive(sock, self.timeouts.cell + 2.0)[0], expected)
                kind = event["event"]
                if kind == "cell_start":
                    if event["index"] != pending[0]:
                        raise ProtocolError("cell started out of order")
                    current = pending.pop(0)
                elif kind == "cell_done":
                    if event["index"] != current:
                        raise ProtocolError("another cell reported done")
                    self._record(CellReport(current, event["status"], event["error"], float(event["seconds"])))
                    if event["status"] != "ok":
                        self._skip.add(current)
                    current = None
                else:
                    self.defined = [n for n in event["names"] if len(n) <= 200][:500]
                    self._child = child
                    return
        except BudgetExhausted:
            _kill_group(pid)
            sock.close()
            raise
        except TimeoutError:
            self._fail_cell(current, "timeout", f"ran longer than {self.timeouts.cell:g} s")
        except ProtocolError:
            self._fail_cell(current, "ended", "the cell wrote something onto the grader's channel "
                            "that is not part of the protocol")
        except (EOFError, OSError):
            self._fail_cell(current, "ended", "the process ended while running this cell "
                            "(sys.exit/os._exit, a crash, or the memory cap)")
        _kill_group(pid)
        sock.close()
        if current is None:
            raise ProcessEnded("the submission's process failed to start or load")

    def _fail_cell(self, index: int | None, status: str, message: str) -> None:
        if index is None:
            return
        self._skip.add(index)
        self._record(CellReport(index, status, {"type": status.title(), "bases": [],
                                                "message": message, "where": None}))

    def _record(self, report: CellReport) -> None:
        self.cell_reports.setdefault(report.index, report)

    # -- requests -----------------------------------------------------------------------------
    def request(self, message: dict[str, Any], blobs: list[bytes] | None = None,
                generation: int | None = None) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request to the live child; raise if it hangs, dies or the budget is gone."""
        if self._hung >= self.timeouts.hung_calls:
            raise CallTimedOut(f"was not run: {self._hung} earlier calls did not finish within "
                               f"{self.timeouts.call:g} s")
        child = self.ensure_loaded()
        if generation is not None and generation != child.generation:
            raise ProcessEnded("this object belonged to a submission process that was replaced "
                               "after an earlier failure")
        try:
            child.sock.settimeout(self._remaining(self.timeouts.call))
            send_message(child.sock, message, blobs)
            reply, reply_blobs = self._receive(child.sock, self.timeouts.call)
            return check_reply(reply), reply_blobs
        except BudgetExhausted:
            self.close()
            raise
        except TimeoutError:
            self.close()
            self._hung += 1
            raise CallTimedOut(f"did not finish within {self.timeouts.call:g} s") from None
        except ProtocolError:
            self.close()  # the stream can no longer be trusted to be in step: start afresh
            raise
        except (EOFError, OSError):
            self.close()
            raise ProcessEnded("the submission's process ended during this call (sys.exit, "
                               "os._exit, a crash, or the memory cap)") from None
