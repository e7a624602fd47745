"""`seqlab check`: a student's public sanity checks, run in the same sandbox as grading.

The checks are the skeleton's own `check_` cells (the trusted copy shipped with the course, not
the student's possibly edited version), run after the student's code in the student's
namespace. Hidden graders are never involved, so this works from the student wheel.

One submission per process, so start-up is the cost: the zygote (whose torch import is most
of it) is started first and warms up on the other core while this side reads the notebook,
and this side never imports torch at all (only plain values cross: see `codec`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seqlab.authoring.cells import cell_role
from seqlab.errors import UsageError
from seqlab.paths import skeleton_dir
from seqlab.sandbox.client import (
    RemoteFailure,
    SandboxSession,
    Timeouts,
    Zygote,
    cell_notes,
    modules_to_warm,
)
from seqlab.sandbox.codec import decode_value
from seqlab.sandbox.wire import ProtocolError, RefToken
from seqlab.text import clean_line

from .extract import extract, skeleton_setup_cells, skeleton_skip_texts

__all__ = ["CheckOutcome", "CheckReport", "infer_assignment", "run_checks"]


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    message: str | None


@dataclass
class CheckReport:
    assignment: str
    source: str
    checks: list[CheckOutcome]
    notes: list[str]
    isolation: str

    @property
    def all_passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def _grade_ids(notebook_path: Path) -> set[str]:
    try:
        cells = json.loads(notebook_path.read_text(encoding="utf-8")).get("cells", [])
    except (ValueError, OSError):
        return set()
    return {str(c.get("metadata", {}).get("nbgrader", {}).get("grade_id")) for c in cells} - {"None"}


def infer_assignment(path: Path) -> str:
    """The assignment a file belongs to: its stem, else the skeleton sharing most cell ids."""
    known = sorted(p.name for p in skeleton_dir().iterdir() if p.is_dir()) if skeleton_dir().is_dir() else []
    if path.stem in known:
        return path.stem
    if path.suffix == ".ipynb":
        ids = _grade_ids(path)
        scored = [(len(ids & _grade_ids(skeleton_dir() / a / f"{a}.ipynb")), a) for a in known]
        best = max(scored, default=(0, ""))
        if best[0] > 0:
            return best[1]
    raise UsageError(f"cannot tell which assignment {path.name} is for",
                     f"add --assignment ({', '.join(known) or 'none installed'})")


def _check_cells(skeleton: Path) -> list[tuple[int, str, str]]:
    cells = json.loads(skeleton.read_text(encoding="utf-8"))["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and cell_role(cell) == "check":
            source = cell["source"]
            code = "".join(source) if isinstance(source, list) else source
            found.append((index, cell["metadata"]["nbgrader"]["grade_id"], code))
    return found


def _refuse(token: RefToken) -> None:
    raise ProtocolError("a check's outcome holds an object reference")


def _exec_check(session: SandboxSession, index: int, code: str, timeout: float) -> dict:
    """Run one trusted check cell in the student's namespace; its outcome as plain data."""
    reply, blobs = session.request({"op": "exec", "index": index, "code": code, "timeout": timeout})
    if not reply.get("ok"):
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        return {"status": "raised", "error": error}
    outcome = decode_value(reply.get("value"), blobs, _refuse)
    if not isinstance(outcome, dict):
        raise ProtocolError("malformed check outcome")
    return outcome


def run_checks(path: Path, assignment: str, timeouts: Timeouts | None = None) -> CheckReport:
    skeleton = skeleton_dir() / assignment / f"{assignment}.ipynb"
    if not skeleton.is_file():
        raise UsageError(f"no public checks for assignment '{assignment}'", "run `seqlab generate` or reinstall")
    if not path.is_file():
        raise UsageError(f"no such file: {path}", "check the path")
    zygote = Zygote([path.resolve().parent], wait=False,  # warms up while the notebook is read
                    warm=modules_to_warm(skeleton))
    try:
        extracted = extract(path.stem, path, skeleton_skip_texts(skeleton), skeleton_setup_cells(skeleton))
        if extracted.invalid:
            raise UsageError(f"{path.name}: {extracted.invalid}", "fix the file and run the check again")
        zygote.wait_ready()
        timeouts = timeouts or Timeouts()
        session = SandboxSession(zygote, extracted.cells, extracted.module_name, timeouts)
        try:
            checks = [_check_one(session, index, name, code, timeouts.cell)
                      for index, name, code in _check_cells(skeleton)]
        finally:
            session.close()
    finally:
        zygote.close()
    return CheckReport(assignment, str(path), checks, extracted.notes + cell_notes(session.cell_reports),
                       session.isolation)


def _check_one(session: SandboxSession, index: int, name: str, code: str, timeout: float) -> CheckOutcome:
    try:
        outcome = _exec_check(session, index, code, timeout)
    except (RemoteFailure, ProtocolError) as exc:
        return CheckOutcome(name, False, clean_line(exc, 300))
    error = outcome.get("error") if isinstance(outcome.get("error"), dict) else {}
    message = f"{clean_line(error.get('type', ''), 100)}: {clean_line(error.get('message', ''), 300)}".strip(": ")
    if error.get("type") == "NotImplementedError":
        message = "not implemented yet: replace `raise NotImplementedError()` under YOUR CODE HERE"
    return CheckOutcome(name, outcome.get("status") == "ok", message or None)
