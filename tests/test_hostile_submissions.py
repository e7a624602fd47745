"""A class of broken, slow and hostile submissions is graded in ONE run next to honest ones.

Each submission gets its own exact status and score; the honest students in the same run are
graded normally; every output file is complete and valid. Uses the tiny `echo` fixture
assignment (tests/fixtures/course): `double(x)` worth 2 points, `Scale(k)` worth 3.
"""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import threading

import pytest
from seqlab_testing import FIXTURE_COURSE, by_student, grade_folder

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


def _notebook(cells: list[dict], **extra) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **extra})


def _code_cell(source: str, grade_id: str | None = None) -> dict:
    metadata = {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                             "solution": True, "task": False}} if grade_id else {}
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [],
            "source": source}


PORT_HOLDER: dict[str, int] = {}

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
    "stripped_metadata": _notebook([_code_cell(CORRECT)]),
    "nbgrader_metadata": _notebook([_code_cell(CORRECT, "solution_echo"),
                                    _code_cell("assert False, 'public check'", "check_echo")]),
    "truncated_json": _notebook([_code_cell(CORRECT)])[:-20],
    "empty_notebook": _notebook([]),
    "wrong_nbformat": _notebook([_code_cell(CORRECT)]).replace('"nbformat": 4', '"nbformat": 99'),
    "magics_and_shell": _notebook([_code_cell("%matplotlib inline\n!rm -rf /tmp/seqlab-victim\n" + CORRECT)]),
}


@pytest.fixture(scope="module")
def listener():
    """A loopback listener that records any connection a submission manages to make."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, listener):
    port, _ = listener
    folder = tmp_path_factory.mktemp("hostile_class")
    for name, source in SUBMISSIONS.items():
        (folder / f"{name}.py").write_text(source.replace("PORT", str(port)))
    for name, text in NOTEBOOKS.items():
        (folder / f"{name}.ipynb").write_text(text)
    (folder / "not_utf8.ipynb").write_bytes(b"\xff\xfe\x00garbage")
    blob = _notebook([{**_code_cell(CORRECT), "outputs": [{"output_type": "stream", "name": "stdout",
                                                            "text": "x" * (100 * 2**20)}]}])
    (folder / "huge_output.ipynb").write_text(blob)
    out = tmp_path_factory.mktemp("hostile_out")
    results = grade_folder("echo", folder, out, "--jobs", "2", "--cell-timeout", "2",
                           "--call-timeout", "2", "--timeout", "40", course=FIXTURE_COURSE)
    return results, out


def student(graded, name: str) -> dict:
    return by_student(graded[0])[name]


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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_its_exact_status_and_score(graded, name):
    status, score = EXPECTED[name]
    result = student(graded, name)
    assert (result["status"], result["score"]) == (status, score), result
    assert result["max_score"] == FULL
    if status != "graded":
        assert result["error"] and "\n" not in result["error"]


def test_every_submission_in_the_folder_has_a_result(graded):
    assert set(by_student(graded[0])) == set(EXPECTED)


def test_output_files_are_complete_and_valid(graded):
    results, out = graded
    assert json.loads((out / "results.json").read_text()) == results
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0] == "student,score,max_score,status" and len(rows) == len(EXPECTED) + 1
    for name in EXPECTED:
        assert (out / "feedback" / f"{name}.md").read_text().startswith("# echo: feedback for")
        assert (out / "feedback" / f"{name}.html").read_text().rstrip().endswith("</html>")


def test_hidden_grader_text_never_reaches_results_or_feedback(graded):
    _, out = graded
    for path in [out / "results.json", *sorted((out / "feedback").iterdir())]:
        text = path.read_text()
        assert GRADER_SECRET not in text and "def test_" not in text and "STUDENT_API" not in text, path


def test_reading_the_graders_finds_nothing(graded):
    message = next(t["message"] for t in student(graded, "reads_graders")["tests"]
                   if t["id"] == "double_doubles_random_tensors")
    assert "ValueError: found: []" in message


def test_failure_messages_name_what_went_wrong(graded):
    def message(name: str) -> str:
        return next(t["message"] for t in student(graded, name)["tests"]
                    if t["id"] == "double_doubles_random_tensors")

    assert "endless loop" in message("loop_in_forward")
    assert "process ended" in message("os_exit_in_forward")
    assert "SystemExit" in message("exit_in_forward")
    assert "KeyboardInterrupt" in message("raises_keyboard_interrupt")
    assert "Sneaky" in message("raises_base_exception")
    assert "torch.Tensor" in message("returns_numpy") and "ndarray" in message("returns_numpy")
    assert "torch.Tensor" in message("returns_list")
    assert "MemoryError" in message("allocates_50gb_in_forward")
    notes = " ".join(student(graded, "loop_after_definitions")["notes"])
    assert "timed out" in notes


def test_submissions_cannot_reach_the_network(graded, listener):
    _, accepted = listener
    assert accepted == []
    assert "Network is unreachable" in student(graded, "phones_home")["error"]


def test_spawned_processes_are_capped_and_cleaned_up(graded):
    assert "Resource temporarily unavailable" in student(graded, "process_spawner")["error"]
    left = subprocess.run(["pgrep", "-f", "sleep 7341"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == ""
