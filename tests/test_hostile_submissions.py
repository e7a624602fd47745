"""A class of broken, slow and hostile submissions is graded in ONE run next to honest ones.

Each submission gets its own exact status and score; the honest students in the same run are
graded normally; every output file is complete and valid. Uses the tiny `echo` fixture
assignment (tests/fixtures/course): `double(x)` worth 2 points, `Scale(k)` worth 3. The cases
are in tests/hostile_corpus.py; the run (one per mode: as root, and with `seqlab grade` itself
unprivileged) is shared with tests/test_hostile_class.py through tests/hostile_class.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from hostile_class import MODES, class_run
from hostile_corpus import CORRECT, EXPECTED, FULL, GRADER_SECRET
from seqlab_testing import by_student

__all__ = ["CORRECT"]  # tests/test_cli.py takes the correct module from here
pytestmark = pytest.mark.xdist_group("hostile-class")  # shares its class runs with test_hostile_class


@pytest.fixture(scope="module", params=MODES)
def run(request, tmp_path_factory):
    return class_run(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def graded(run):
    return run.results, run.out


def student(graded, name: str) -> dict:
    return by_student(graded[0])[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_its_exact_status_and_score(graded, name):
    status, score = EXPECTED[name]
    result = student(graded, name)
    assert (result["status"], result["score"]) == (status, score), result
    assert result["max_score"] == FULL
    if status != "graded":
        assert result["error"] and "\n" not in result["error"]


def test_every_submission_in_the_folder_has_a_result(graded):
    assert set(EXPECTED) <= set(by_student(graded[0]))


def test_output_files_are_complete_and_valid(graded):
    results, out = graded
    assert json.loads((out / "results.json").read_text()) == results
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0] == "student,score,max_score,status" and len(rows) == len(results["submissions"]) + 1
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


def test_submissions_cannot_reach_the_network(graded, run):
    assert run.connections == 0
    error = student(graded, "phones_home")["error"]  # no route, or (seccomp/Landlock) no socket at all
    assert any(reason in error for reason in ("Network is unreachable", "Permission denied",
                                              "Operation not permitted")), error


def test_spawned_processes_are_capped_and_cleaned_up(graded):
    assert "Resource temporarily unavailable" in student(graded, "process_spawner")["error"]
    left = subprocess.run(["pgrep", "-f", "sleep 7341"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == ""
