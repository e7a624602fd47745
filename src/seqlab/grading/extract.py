"""Turn one submitted file into the list of code cells to run, or a one-line reason it can't be.

Runs in the trusted process and only *reads*: nothing from the submission executes here.
Which cells run: every code cell in order (setup, solution, and cells the student added),
except the skeleton's own check/demo/training cells, recognised by their nbgrader grade_id or,
when an editor stripped the metadata, by their text matching the skeleton's. IPython magics
and `!shell` lines become `pass`: they are never executed.

Reading is defensive: the file is opened without following a final symlink and must still
resolve inside the student's own folder once open; its size is checked before a byte is read;
JSON nesting and the number of cells are bounded before nbformat sees the notebook (whose
outputs are dropped unread); any failure becomes `invalid` with a one-line reason.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.authoring.cells import cell_role
from seqlab.text import clean_line

from .discover import OUTSIDE

__all__ = [
    "SKIPPED_ROLES",
    "Extracted",
    "extract",
    "skeleton_setup_cells",
    "skeleton_skip_texts",
    "strip_magics",
]

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_CELLS = 2000
MAX_JSON_DEPTH = 64
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
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise ValueError("a cell's source is not text")


def _open(path: Path, root: Path | None) -> int:
    """A descriptor on the submission; with a `root`, never through a link leaving that folder."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if root is not None:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if root is not None and os.path.islink(path):
            raise ValueError(OUTSIDE) from None
        raise ValueError(f"cannot open the file ({type(exc).__name__})") from None
    if root is not None:
        try:
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            real = Path(os.path.realpath(path))
        if real != root and root not in real.parents:
            os.close(fd)
            raise ValueError(OUTSIDE)
    return fd


def _read_text(path: Path, root: Path | None = None) -> str:
    fd = _open(path, root)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"file is {info.st_size / 1e6:.1f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit "
                             "(clear the notebook's outputs and resubmit)")
        data = bytearray()
        while len(data) <= MAX_FILE_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"file is over the {MAX_FILE_BYTES // 2**20} MB limit")
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"file is not UTF-8 text (byte {exc.start})") from None


def _too_deep(value: Any, limit: int) -> bool:
    """True if lists/dicts nest deeper than `limit` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _notebook_cells(text: str, skip_texts: set[str], result: Extracted, setup: dict[str, str]) -> None:
    if "rfc3987_syntax" not in sys.modules:  # jsonschema's optional IRI checker: ~1.5 s of grammar
        sys.modules["rfc3987_syntax"] = None  # building per process, for a format nbformat never uses
    import nbformat  # heavy import, kept off the quiz's path

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid notebook JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise ValueError(f"notebook JSON nested too deeply (over {MAX_JSON_DEPTH} levels)") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", []), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")  # noqa: TRY004 -- a reason, not a type bug
    major = raw.get("nbformat")
    if major not in (3, 4):
        raise ValueError(f"unsupported notebook format version {clean_line(repr(major), 40)} (expected 4)")
    if len(raw.get("cells", [])) > MAX_CELLS:
        raise ValueError(f"the notebook has {len(raw['cells'])} cells, over the limit of {MAX_CELLS}")
    for cell in raw.get("cells", []):
        if isinstance(cell, dict) and isinstance(cell.get("outputs"), list):
            cell["outputs"] = []  # never graded: not even validated
    if _too_deep(raw, MAX_JSON_DEPTH):
        raise ValueError(f"notebook JSON nested too deeply (over {MAX_JSON_DEPTH} levels)")
    try:
        with warnings.catch_warnings():  # missing cell ids etc.: harmless for grading
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(json.dumps(raw), as_version=4)
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
    if len(result.cells) > MAX_CELLS:
        raise ValueError(f"the file has {len(result.cells)} cells, over the limit of {MAX_CELLS}")


def extract(student: str, path: Path, skip_texts: set[str], setup: dict[str, str] | None = None,
            root: Path | None = None) -> Extracted:
    """Read one submission; any problem becomes `invalid` with a one-line reason.

    `root` is the student's own folder (a real path): the file is read only if it resolves
    inside it, and never through a final symlink."""
    result = Extracted(student=student, source=str(path))
    try:
        text = _read_text(path, root)
        if path.suffix == ".ipynb":
            _notebook_cells(text, skip_texts, result, setup or {})
        else:
            _module_cells(text, result)
    except (ValueError, OSError) as exc:
        result.cells = []
        result.invalid = clean_line(exc)
    except (RecursionError, MemoryError, TypeError, KeyError, AttributeError, IndexError) as exc:
        result.cells = []  # a malformed structure nbformat or the cell walk tripped over
        result.invalid = f"unreadable notebook ({type(exc).__name__})"
    return result
