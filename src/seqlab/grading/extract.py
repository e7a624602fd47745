"""Turn one submitted file into the list of code cells to run, or a one-line reason it can't be.

Runs in the trusted process and only *reads*: nothing from the submission executes here.
Which cells run: every code cell in order (setup, solution, and cells the student added),
except the skeleton's own check/demo/training cells, recognised by their nbgrader grade_id or,
when an editor stripped the metadata, by their text matching the skeleton's. IPython magics
and `!shell` lines become `pass`: they are never executed.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.authoring.cells import cell_role

__all__ = [
    "SKIPPED_ROLES",
    "Extracted",
    "extract",
    "skeleton_setup_cells",
    "skeleton_skip_texts",
    "strip_magics",
]

MAX_FILE_BYTES = 20 * 1024 * 1024
SKIPPED_ROLES = {"check", "demo", "train"}
_CELL_MAGICS_WITH_PYTHON_BODY = {"time", "timeit", "capture", "prun"}
_PY_CELL_MARKER = re.compile(r"^# ?%%.*$", re.MULTILINE)


@dataclass
class Extracted:
    """What the sandbox will run for one student, or why nothing can be run."""

    student: str
    source: str
    cells: list[dict[str, Any]] = field(default_factory=list)
    module_name: str = "__main__"
    invalid: str | None = None
    notes: list[str] = field(default_factory=list)


def strip_magics(code: str) -> str | None:
    """Replace IPython line magics and shell escapes with `pass`; None drops the whole cell."""
    lines = code.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].strip() != "%%" else ""
        if magic not in _CELL_MAGICS_WITH_PYTHON_BODY:
            return None
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or re.match(r"^\w+\s*=\s*[%!]", stripped):
            out.append(line[: len(line) - len(stripped)] + "pass")
        else:
            out.append(line)
    return "\n".join(out)


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def skeleton_skip_texts(skeleton: Path | None) -> set[str]:
    """Texts of the skeleton's check/demo/train cells, to skip them in metadata-less notebooks."""
    if skeleton is None or not skeleton.is_file():
        return set()
    notebook = json.loads(skeleton.read_text(encoding="utf-8"))
    return {_normalise(_source(c)) for c in notebook.get("cells", [])
            if c.get("cell_type") == "code" and cell_role(c) in SKIPPED_ROLES}


def skeleton_setup_cells(skeleton: Path | None) -> dict[str, str]:
    """The skeleton's locked setup cells by grade_id: they run instead of a student's copy, and
    in place of a deleted one (as nbgrader restores locked cells), so editing them changes nothing."""
    if skeleton is None or not skeleton.is_file():
        return {}
    notebook = json.loads(skeleton.read_text(encoding="utf-8"))
    return {c["metadata"]["nbgrader"]["grade_id"]: _source(c) for c in notebook.get("cells", [])
            if c.get("cell_type") == "code" and cell_role(c) == "setup"}


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit "
                         "(clear the notebook's outputs and resubmit)")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"file is not UTF-8 text (byte {exc.start})") from None


def _notebook_cells(text: str, skip_texts: set[str], result: Extracted, setup: dict[str, str]) -> None:
    import nbformat  # heavy import, kept off the quiz's path

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid notebook JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", []), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")  # noqa: TRY004 -- a reason, not a type bug
    major = raw.get("nbformat")
    if major not in (3, 4):
        raise ValueError(f"unsupported notebook format version {major!r} (expected 4)")
    try:
        with warnings.catch_warnings():  # missing cell ids etc.: harmless for grading
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 -- nbformat raises many types for malformed files
        raise ValueError(f"unreadable notebook ({type(exc).__name__})") from None
    code_cells = [c for c in notebook.cells if c.get("cell_type") == "code"]
    if not code_cells:
        raise ValueError("the notebook has no code cells")
    present = {str(c.get("metadata", {}).get("nbgrader", {}).get("grade_id")) for c in code_cells}
    for grade_id, code in setup.items():  # a deleted locked setup cell runs first, from the skeleton
        if grade_id not in present:
            result.cells.append({"index": 0, "code": code})
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        role = cell_role(cell)
        if role == "setup" and cell["metadata"]["nbgrader"].get("grade_id") in setup:
            source = setup[cell["metadata"]["nbgrader"]["grade_id"]]  # locked: the trusted copy runs
        if role in SKIPPED_ROLES or (role is None and _normalise(source) in skip_texts):
            continue  # the skeleton's own checks and demos: slow and prove nothing
        code = strip_magics(source)
        if code is None:
            result.notes.append(f"cell {index} starts with a cell magic; it was not run")
        elif code.strip():
            result.cells.append({"index": index, "code": code})


def _module_cells(text: str, result: Extracted) -> None:
    """A .py file is one cell, or several when split with `# %%` markers (VS Code/Jupytext)."""
    result.module_name = "submission"
    parts = _PY_CELL_MARKER.split(text) if _PY_CELL_MARKER.search(text) else [text]
    offset = 0
    for index, part in enumerate(parts):
        padded = "\n" * offset + part  # keep line numbers true to the file
        offset += part.count("\n")  # the marker's own newline starts the next part
        if part.strip():
            result.cells.append({"index": index, "code": padded})
    if not result.cells:
        raise ValueError("the file is empty")


def extract(student: str, path: Path, skip_texts: set[str], setup: dict[str, str] | None = None) -> Extracted:
    """Read one submission; any problem becomes `invalid` with a one-line reason."""
    result = Extracted(student=student, source=str(path))
    try:
        text = _read_text(path)
        if path.suffix == ".ipynb":
            _notebook_cells(text, skip_texts, result, setup or {})
        else:
            _module_cells(text, result)
    except (ValueError, OSError) as exc:
        result.cells = []
        result.invalid = str(exc)
    return result
