"""ONE class run of the whole hostile corpus per mode, shared by the hostile test modules.

Modes: `root` (as CI runs) and `unprivileged` (`seqlab grade` itself as uid 1000 with no
capabilities, as an instructor runs it). Each run grades both corpora beside honest students
in a copy of the fixture course that also holds solutions/, hashes graders/ and solutions/
before and after, listens on loopback for connections, and afterwards looks in /proc for any
process carrying the run's marker (in argv or comm): those are reported, then killed by pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from hostile_corpus import CORRECT, code_cell, notebook, write_first_corpus
from hostile_corpus_issue10 import Where, write_issue10_corpus
from seqlab_testing import run_seqlab

MODES = ("root", "unprivileged")
GRADE_ARGS = ("--jobs", "2", "--cell-timeout", "2", "--call-timeout", "2", "--timeout", "40",
              "--memory-mb", "512")
MAX_RESULTS_BYTES = 2 * 2**20  # results.json for the whole class (about 80 submissions)
MAX_FEEDBACK_BYTES = 64 * 2**10  # one feedback file


@dataclass
class ClassRun:
    mode: str
    results: dict
    out: Path
    where: Where
    stdout: str
    stderr: str
    hashes_before: dict[str, str]
    hashes_after: dict[str, str]
    survivors: list[str]
    connections: int


_RUNS: dict[str, ClassRun] = {}


def class_run(mode: str, tmp_path_factory) -> ClassRun:
    """The class run for `mode`, graded on first use and then shared."""
    if mode not in _RUNS:
        _RUNS[mode] = _grade_once(mode, tmp_path_factory)
    return _RUNS[mode]


def _course_copy(root: Path) -> Path:
    from seqlab_testing import FIXTURE_COURSE

    course = root / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    solutions = course / "solutions" / "echo"
    solutions.mkdir(parents=True)
    (solutions / "echo.py").write_text(CORRECT)
    (solutions / "echo.ipynb").write_text(notebook([code_cell(CORRECT, "solution_echo")]))
    return course


def _hashes(course: Path) -> dict[str, str]:
    found = {}
    for top in ("graders", "solutions"):
        for path in sorted((course / top).rglob("*")):
            key = str(path.relative_to(course))
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


class _Listener:
    """Counts connections to a loopback port (a submission must never reach it)."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
                conn.close()
                self.count += 1
            except OSError:
                continue

    def close(self) -> int:
        self._stop.set()
        self._thread.join(2)
        self.server.close()
        return self.count


def _marked(mark: str) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes().replace(b"\0", b" ") + b" " + (entry / "comm").read_bytes()
        except OSError:
            continue
        if mark.encode() in text:
            found[int(entry.name)] = text.decode("utf-8", "replace").strip()[-120:]
    return found


def _survivors(mark: str) -> list[str]:
    """Processes still carrying `mark` (a few seconds' grace for kills in flight), then killed."""
    for _ in range(20):
        found = _marked(mark)
        if not found:
            return []
        time.sleep(0.5)
    for pid in found:  # they came from this run's submissions: end them, by pid
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return sorted(found.values())


def _grade_once(mode: str, tmp_path_factory) -> ClassRun:
    root = tmp_path_factory.mktemp(f"hostile_{mode}")
    course = _course_copy(root)
    folder, out = root / "class", root / "out"
    folder.mkdir()
    where = Where(course=course, folder=folder, out=out, mark=f"seqlabhx{uuid.uuid4().hex[:6]}")
    listener = _Listener()
    try:
        write_first_corpus(folder, listener.port)
        write_issue10_corpus(where)
        before = _hashes(course)
        done = run_seqlab("grade", "echo", str(folder), "--out", str(out), *GRADE_ARGS, course=course,
                          unprivileged=mode == "unprivileged")
    finally:
        connections = listener.close()
    assert done.returncode == 0, f"seqlab grade failed ({done.returncode}): {done.stderr[-3000:]}"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return ClassRun(mode, results, out, where, done.stdout, done.stderr, before, _hashes(course),
                    _survivors(where.mark), connections)
