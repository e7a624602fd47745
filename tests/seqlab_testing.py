"""Helpers every engine test shares: run the real `seqlab` command and read what it wrote.

(A plain module, not conftest.py, so test files import it by a name no other folder uses.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"
SEQLAB = str(Path(sys.executable).parent / "seqlab")

# An instructor without root: uid 1000 in a user namespace of its own, holding no capability
# (the interpreter lives under /root, which a real second user could not read; this can).
UNPRIVILEGED = ("unshare", "--user", "--map-user=1000", "--map-group=1000")


def unprivileged_command(command: list[str]) -> list[str]:
    """`command` run as a non-root user with no capabilities."""
    return [*UNPRIVILEGED, *command]


def run_seqlab(*args: str, course: Path | None = None, timeout: float = 600,
               cwd: Path | None = None, unprivileged: bool = False) -> subprocess.CompletedProcess:
    """Run the installed `seqlab` console script as a user would (as uid 1000 if unprivileged)."""
    env = dict(os.environ)
    if course is not None:
        env["SEQLAB_COURSE_ROOT"] = str(course)
    command = [SEQLAB, *args]
    return subprocess.run(unprivileged_command(command) if unprivileged else command, capture_output=True,
                          text=True, env=env, timeout=timeout, check=False, cwd=cwd)


def grade_folder(assignment: str, folder: Path, out: Path, *extra: str, course: Path | None = None,
                 unprivileged: bool = False) -> dict[str, Any]:
    """Grade every submission in `folder` with ONE run; returns results.json as a dict."""
    done = run_seqlab("grade", assignment, str(folder), "--out", str(out), *extra, course=course,
                      unprivileged=unprivileged)
    assert done.returncode == 0, f"seqlab grade failed ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads((out / "results.json").read_text())


def by_student(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["student"]: s for s in results["submissions"]}
