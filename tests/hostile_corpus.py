"""The first hostile corpus (broken, slow and hostile submissions of the `echo` fixture).

Plain data, shared by the class run (tests/hostile_class.py) and by other tests that need a
correct `echo` module (`CORRECT`). The `echo` fixture assignment (tests/fixtures/course):
`double(x)` worth 2 points, `Scale(k)` worth 3 (parameter 1, gradient 1, validation 1).
"""

from __future__ import annotations

import json
import textwrap

GRADER_SECRET = "A tiny fixture assignment for the engine's own tests"  # text of the hidden grader

CORRECT = textwrap.dedent("""
    import torch
    def double(x):
        return x * 2
    class Scale(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            if k < 0:
                raise ValueError("k must be >= 0")
            self.k = torch.nn.Parameter(torch.tensor(float(k)))
        def forward(self, x):
            return self.k * x
""")


def with_double(body: str) -> str:
    """The correct module with `double` replaced by a hostile or buggy one."""
    return CORRECT.replace("def double(x):\n    return x * 2", textwrap.dedent(body).strip())


def notebook(cells: list[dict], **extra) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **extra})


def code_cell(source: str, grade_id: str | None = None) -> dict:
    metadata = {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                             "solution": True, "task": False}} if grade_id else {}
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [],
            "source": source}


SUBMISSIONS: dict[str, str] = {
    "alice": CORRECT,
    "bob_buggy": with_double("def double(x):\n    return x + x + 1"),
    "exit_at_import": "import sys\nsys.exit(0)\n" + CORRECT,
    "os_exit_at_import": "import os\nos._exit(0)\n" + CORRECT,
    "exit_in_forward": with_double("def double(x):\n    import sys\n    sys.exit(0)"),
    "os_exit_in_forward": with_double("def double(x):\n    import os\n    os._exit(0)"),
    "loop_at_import": "while True:\n    pass\n" + CORRECT,
    "loop_after_definitions": CORRECT + "\nwhile True:\n    pass\n",
    "loop_in_forward": with_double("def double(x):\n    while True:\n        pass"),
    "ignores_alarm_and_loops": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                               "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "allocates_50gb": "import torch\nbig = torch.ones(50 * 2**30 // 4)\n" + CORRECT,
    "allocates_50gb_in_forward": with_double("def double(x):\n    blob = bytearray(50 * 2**30)\n    return x * 2"),
    "process_spawner": "import subprocess\nprocs = [subprocess.Popen(['sleep', '7341']) for _ in range(300)]\n"
                       + CORRECT,
    "prints_10mb": CORRECT + "\nprint('passed ' * 2_000_000)\nimport os\nos.write(1, b'x' * 10_000_000)\n",
    "patches_allclose": "import torch, builtins, torch.testing\n"
                        "torch.allclose = lambda *a, **k: True\n"
                        "torch.testing.assert_close = lambda *a, **k: None\n"
                        "builtins.abs = lambda x: 0\n"
                        + with_double("def double(x):\n    return x + 1"),
    "always_equal_tensor": with_double(
        "class Liar(torch.Tensor):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        return True\n"
        "def double(x):\n"
        "    return torch.zeros_like(x).as_subclass(Liar)"),
    "returns_numpy": with_double("def double(x):\n    return (x * 2).numpy()"),
    "returns_list": with_double("def double(x):\n    return (x * 2).tolist()"),
    "raises_keyboard_interrupt": with_double("def double(x):\n    raise KeyboardInterrupt"),
    "raises_base_exception": with_double(
        "class Sneaky(BaseException):\n    pass\ndef double(x):\n    raise Sneaky('gotcha')"),
    "reads_graders": textwrap.dedent("""
        import glob, os
        found = []
        for pattern in ['../graders/*.py', '../../graders/*.py', '/work/main/graders/*.py',
                        '/work/main/tests/fixtures/course/graders/*.py', '/work/main/solutions/*/*',
                        os.path.expanduser('~/graders/*.py')]:
            for name in glob.glob(pattern):
                found.append(open(name).read())
        print(found)
        if found:
            raise ValueError(found[0][:400])
    """) + with_double("def double(x):\n    raise ValueError('found: ' + repr(found)[:400])"),
    "writes_output_folder": "import glob\nfor path in glob.glob('/tmp/**/results.json', recursive=True):\n"
                            "    open(path, 'w').write('owned')\n" + CORRECT,
    "kills_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + CORRECT,
    "defines_nothing": "x = 1\n",
    "syntax_error": "def double(x)\n    return x * 2\n",
    "phones_home": "import socket\ns = socket.create_connection(('127.0.0.1', PORT), timeout=1)\n" + CORRECT,
}

NOTEBOOKS: dict[str, str] = {
    "stripped_metadata": notebook([code_cell(CORRECT)]),
    "nbgrader_metadata": notebook([code_cell(CORRECT, "solution_echo"),
                                   code_cell("assert False, 'public check'", "check_echo")]),
    "truncated_json": notebook([code_cell(CORRECT)])[:-20],
    "empty_notebook": notebook([]),
    "wrong_nbformat": notebook([code_cell(CORRECT)]).replace('"nbformat": 4', '"nbformat": 99'),
    "magics_and_shell": notebook([code_cell("%matplotlib inline\n!rm -rf /tmp/seqlab-victim\n" + CORRECT)]),
}


FULL = 5.0

EXPECTED = {
    # name: (status, score)
    "alice": ("graded", FULL),
    "bob_buggy": ("graded", 3.0),
    "exit_at_import": ("error", 0.0),
    "os_exit_at_import": ("error", 0.0),
    "exit_in_forward": ("graded", 3.0),
    "os_exit_in_forward": ("graded", 3.0),
    "loop_at_import": ("error", 0.0),
    "loop_after_definitions": ("graded", FULL),
    "loop_in_forward": ("graded", 3.0),
    "ignores_alarm_and_loops": ("error", 0.0),
    "allocates_50gb": ("error", 0.0),
    "allocates_50gb_in_forward": ("graded", 3.0),
    "process_spawner": ("error", 0.0),
    "prints_10mb": ("graded", FULL),
    "patches_allclose": ("graded", 3.0),
    "always_equal_tensor": ("graded", 3.0),
    "returns_numpy": ("graded", 3.0),
    "returns_list": ("graded", 3.0),
    "raises_keyboard_interrupt": ("graded", 3.0),
    "raises_base_exception": ("graded", 3.0),
    "reads_graders": ("graded", 3.0),
    "writes_output_folder": ("graded", FULL),
    "kills_parent": ("graded", FULL),  # in its own PID namespace the parent is out of reach
    "defines_nothing": ("error", 0.0),
    "syntax_error": ("error", 0.0),
    "phones_home": ("error", 0.0),
    "stripped_metadata": ("graded", FULL),
    "nbgrader_metadata": ("graded", FULL),
    "magics_and_shell": ("graded", FULL),
    "truncated_json": ("invalid", 0.0),
    "empty_notebook": ("invalid", 0.0),
    "wrong_nbformat": ("invalid", 0.0),
    "not_utf8": ("invalid", 0.0),
    "huge_output": ("invalid", 0.0),
}


def write_first_corpus(folder, port: int) -> None:
    """The first corpus's files in the class folder; `port` is the loopback listener's."""
    for name, source in SUBMISSIONS.items():
        (folder / f"{name}.py").write_text(source.replace("PORT", str(port)))
    for name, text in NOTEBOOKS.items():
        (folder / f"{name}.ipynb").write_text(text)
    (folder / "not_utf8.ipynb").write_bytes(b"\xff\xfe\x00garbage")
    blob = notebook([{**code_cell(CORRECT), "outputs": [{"output_type": "stream", "name": "stdout",
                                                            "text": "x" * (100 * 2**20)}]}])
    (folder / "huge_output.ipynb").write_text(blob)
