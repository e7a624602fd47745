"""Issue 10's hostile corpus, graded in the same ONE class run per mode as the first corpus.

Root or not, one submission can neither stop, stall nor skew the class: exact statuses, honest
students at full marks, graders/ and solutions/ unchanged by hash, no process left behind,
bounded output, nothing from a submission reaching the terminal or the feedback as markup.
Cases: tests/hostile_corpus_issue10.py; the run: tests/hostile_class.py.
"""

from __future__ import annotations

import re

import pytest
from hostile_class import MAX_FEEDBACK_BYTES, MAX_RESULTS_BYTES, MODES, class_run
from hostile_corpus import FULL
from hostile_corpus_issue10 import ESCAPES_ID, EXPECTED, LINKS, LONG_ID
from seqlab_testing import by_student

# the class runs are cached in hostile_class for this module and test_hostile_submissions: one worker
pytestmark = pytest.mark.xdist_group("hostile-class")

HONEST = ["alice", "honest_notebook", "stripped_metadata", "caf\\xe9", "caf\\xe8", "\\xff\\xfe_folder",
          LONG_ID, ESCAPES_ID, "inner_link_inside"]


@pytest.fixture(scope="module", params=MODES)
def run(request, tmp_path_factory):
    return class_run(request.param, tmp_path_factory)


def result(run, name: str) -> dict:
    return by_student(run.results)[name]


def message(run, name: str, test_id: str) -> str:
    return next(t["message"] for t in result(run, name)["tests"] if t["id"] == test_id) or ""


def feedback(run, name: str, suffix: str = ".md") -> str:
    return (run.out / "feedback" / f"{result(run, name)['feedback']}{suffix}").read_text(encoding="utf-8")


def _caps_per_submission(run, got: dict) -> bool:
    caps = (run.results.get("sandbox") or {}).get("caps")
    return caps == "per-submission" if caps else "cgroup" in (got["isolation"] or "")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_case_gets_its_exact_status_and_score(run, name):
    status, score = EXPECTED[name]
    got = result(run, name)
    if name == "fork_memory_bombs" and not _caps_per_submission(run, got):
        score = 3.0  # caps per process (recorded so): three forks may each hold 300 MB of a 512 MB cap
    assert (got["status"], got["score"]) == (status, score), got
    if status != "graded":
        assert got["error"] and "\n" not in got["error"]


def test_honest_students_in_the_same_run_get_full_marks(run):
    for name in HONEST:
        got = result(run, name)
        assert got["score"] == FULL and all(t["passed"] for t in got["tests"]), got


def test_graders_and_solutions_are_unchanged_by_hash(run):
    assert run.hashes_after == run.hashes_before
    assert not list(run.where.course.rglob("conftest.py"))


def test_no_escape_reaches_the_course_or_the_host(run):
    assert message(run, "chroot_escape_conftest", "double_doubles_random_tensors").startswith("double(x) differs")
    assert message(run, "reads_solutions", "double_doubles_random_tensors") == ""
    assert result(run, "reads_solutions")["score"] == FULL
    leaked = message(run, "instructor_paths_visible", "double_doubles_random_tensors")
    assert "instructor path visible" not in leaked, leaked


def test_no_process_outlives_the_run(run):
    assert run.survivors == []


def test_lying_about_gradients_earns_nothing(run):
    failed = [t["id"] for t in result(run, "fake_grad_under_no_grad")["tests"] if not t["passed"]]
    assert failed == ["scale_gradient_reaches_k"]


def test_forged_frames_are_refused_as_protocol_violations(run):
    for name in ("forged_list_at_load", "forged_error_string_at_load"):
        assert "not part of the protocol" in " ".join(result(run, name)["notes"]), name
    for name in ("forged_reply_in_call", "forged_giant_header_in_call"):
        assert "not a valid result" in message(run, name, "double_doubles_random_tensors"), name


def test_a_trickle_of_bytes_does_not_extend_a_deadline(run):
    assert "did not finish within 2 s" in message(run, "trickle_in_call", "double_doubles_random_tensors")
    assert "cell 0 timed out" in " ".join(result(run, "trickle_at_load")["notes"])


@pytest.mark.parametrize("name, reason", [
    ("nested_2000_deep", "nested too deeply"), ("nested_100_deep_metadata", "nested too deeply"),
    ("cells_100k", "100000 cells, over the limit"), ("sparse_200mb", "209.7 MB, over the 20 MB limit"),
    ("malformed_cells", "unreadable notebook"), *[(name, "symlink outside the submission") for name in LINKS],
])
def test_unreadable_or_outside_files_are_invalid_with_the_reason(run, name, reason):
    assert reason in result(run, name)["error"]


def test_text_that_breaks_writes_is_cleaned_and_every_file_is_valid(run):
    raw = (run.out / "results.json").read_bytes()
    raw.decode("utf-8")  # strict: no lone surrogate made it to disk
    assert "\ufffd" in message(run, "lone_surrogate_in_call", "double_doubles_random_tensors")
    assert "ValueError: bad \ufffd and \ufffd" in result(run, "lone_surrogate_at_import")["error"]
    names = [s["feedback"] for s in run.results["submissions"]]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[\w.+@-]{1,60}", name) and not name.startswith("."), name
        assert (run.out / "feedback" / f"{name}.md").read_text(encoding="utf-8").startswith("# echo: feedback for")
        assert (run.out / "feedback" / f"{name}.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert len((run.out / "grades.csv").read_text(encoding="utf-8").splitlines()) == len(names) + 1


def test_odd_and_overlong_ids_keep_their_human_form(run):
    students = by_student(run.results)
    assert {"caf\\xe9", "caf\\xe8", "\\xff\\xfe_folder", LONG_ID, "s" * 239 + "t", ESCAPES_ID} <= set(students)
    assert "a_fifo" not in students  # a FIFO is not a submission: never opened, never waited on


def test_output_sizes_are_bounded(run):
    assert (run.out / "results.json").stat().st_size < MAX_RESULTS_BYTES
    for path in (run.out / "feedback").iterdir():
        assert path.stat().st_size < MAX_FEEDBACK_BYTES, path.name
    for submission in run.results["submissions"]:
        texts = [submission["error"] or "", *submission["notes"], *(t["message"] or "" for t in submission["tests"])]
        assert all(len(text) <= 300 for text in texts) and len(submission["notes"]) <= 26, submission["student"]


def test_hidden_inputs_do_not_flood_the_feedback(run):
    leak = result(run, "patched_describe_exception")
    assert not any("Leak" * 25 in (t["message"] or "") for t in leak["tests"])
    assert not any(re.search(r"\d\.\d{4}", t["message"] or "") for t in leak["tests"])  # no tensor repr
    assert len(feedback(run, "patched_describe_exception")) < 8000
    assert len(feedback(run, "megabyte_errors")) < 16000


def test_no_control_character_reaches_the_terminal(run):
    for stream in (run.stdout, run.stderr):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", stream), repr(stream[:2000])


def test_messages_cannot_forge_markdown_or_html(run):
    markdown = feedback(run, "markdown_injection")
    assert [line for line in markdown.splitlines() if line.startswith("# ")] == [markdown.splitlines()[0]]
    assert "[click here](" not in markdown and "\\[click here\\]" in markdown
    rows = 2 + len(result(run, "markdown_injection")["tests"])
    assert markdown.count("|") - markdown.count("\\|") == 4 * rows  # only the table's own bars
    html = feedback(run, "markdown_injection", ".html")
    assert "<img" not in html and "&lt;img" in html
    heading = feedback(run, ESCAPES_ID).splitlines()[0]
    assert "\x1b" not in heading and "\\\\x1b\\[2J" in heading


def test_the_sandbox_level_is_recorded_for_every_submission_that_ran(run):
    ran = [s for s in run.results["submissions"] if s["status"] == "graded"]
    assert ran and all(s["isolation"] for s in ran)

