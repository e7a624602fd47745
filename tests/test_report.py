"""The class report: what it counts, that it is one offline page, escaped, in two languages."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from seqlab_testing import FIXTURE_COURSE, REPO, run_seqlab
from test_hostile_submissions import CORRECT

from seqlab.grading.assignments import load_assignment
from seqlab.report import REPORT_NAME, write_report, write_report_safely
from seqlab.report.data import build_report, feedback_file, rank_misconceptions
from seqlab.report.render import render_report

MHA = load_assignment("mha", REPO)
RUBRIC = [(item.id, item.points) for item in MHA.rubric]
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _test(item_id: str, points: float, passed: bool, misconception: str | None) -> dict:
    return {"id": item_id, "points": points if passed else 0.0, "max_points": points, "passed": passed,
            "message": None if passed else f"failed: {HOSTILE}", "misconception": None if passed else misconception}


def _submission(student: str, wrong: dict[str, str], status: str = "graded", seconds: float | None = 1.0,
                **extra) -> dict:
    """A result losing exactly the items in `wrong` (item id -> misconception it names)."""
    tests = [] if status != "graded" else [_test(i, p, i not in wrong, wrong.get(i)) for i, p in RUBRIC]
    score = sum(t["points"] for t in tests)
    return {"student": student, "source": f"{student}.ipynb", "status": status, "score": score,
            "max_score": MHA.max_score, "error": None if status == "graded" else f"broken: {HOSTILE}",
            "tests": tests, "notes": [], "isolation": "namespaces", "seconds": seconds, **extra}


ITEM_A, ITEM_B, ITEM_C = RUBRIC[0][0], RUBRIC[1][0], RUBRIC[2][0]
CLASS = {"assignment": "mha", "max_score": MHA.max_score, "submissions": [
    _submission("ada", {}, seconds=2.0),
    _submission("bo", {ITEM_A: "softmax-dim", ITEM_B: "softmax-dim"}, seconds=9.5),
    _submission("chen", {ITEM_A: "softmax-dim"}, seconds=3.0),
    _submission("dami", {ITEM_C: "mask-polarity"}, seconds=4.0),
    _submission("eun", {ITEM_B: None}, seconds=1.0),  # "same cause as": names no misconception
    _submission(HOSTILE, {}, status="invalid", seconds=None, feedback="student-1"),
]}


def test_misconceptions_are_ranked_by_the_share_of_students_counted_once_each():
    ranked = rank_misconceptions(CLASS["submissions"])
    assert [(name, [s["student"] for s in who]) for name, who in ranked] == [
        ("softmax-dim", ["bo", "chen"]), ("mask-polarity", ["dami"])]
    report = build_report(CLASS, MHA.feedback, "en", RUBRIC)
    shares = {m.id: m.share for m in report.misconceptions}
    assert shares == {"softmax-dim": pytest.approx(2 / 6), "mask-polarity": pytest.approx(1 / 6)}
    softmax = report.misconceptions[0]
    assert softmax.title == MHA.feedback["softmax-dim"]["title"]["en"]
    assert softmax.explain == MHA.feedback["softmax-dim"]["explain"]["en"]
    assert softmax.quiz == MHA.feedback["softmax-dim"]["quiz"]


def test_counts_pass_rates_and_slowest_come_from_the_results():
    report = build_report(CLASS, MHA.feedback, "en", RUBRIC)
    assert report.status_counts == {"graded": 5, "invalid": 1, "error": 0, "timeout": 0}
    items = {item.id: item for item in report.items}
    assert [item.id for item in report.items] == [i for i, _ in RUBRIC]  # rubric order
    assert (items[ITEM_A].passed, items[ITEM_A].graded) == (3, 5)  # the invalid one is not graded
    assert (items[ITEM_B].passed, items[ITEM_C].passed) == (3, 4)
    assert [s.student.student for s in report.slowest][:3] == ["bo", "dami", "chen"]
    assert report.slowest[0].seconds == 9.5 and report.timed
    assert report.scores[0] == MHA.max_score and report.students == 6


def test_without_timings_the_timed_out_submissions_are_listed():
    subs = [dict(s, seconds=None) for s in CLASS["submissions"]] + [
        _submission("slowpoke", {}, status="timeout", seconds=None)]
    report = build_report({**CLASS, "submissions": subs}, MHA.feedback, "en", RUBRIC)
    assert not report.timed and [s.student.student for s in report.slowest] == ["slowpoke"]
    assert "no grading times" in render_report(report)


def test_a_status_this_report_does_not_know_is_shown_as_it_is():
    subs = CLASS["submissions"] + [_submission("zed", {}, status="skipped", seconds=None)]
    report = build_report({**CLASS, "submissions": subs}, MHA.feedback, "en", RUBRIC)
    assert report.status_counts["skipped"] == 1 and ">skipped<" in render_report(report)


def test_feedback_links_use_the_file_name_the_writer_recorded():
    assert feedback_file({"student": "ada"}) == "ada.html"
    assert feedback_file({"student": "../x", "feedback": "student-7"}) == "student-7.html"
    page = render_report(build_report(CLASS, MHA.feedback, "en", RUBRIC))
    assert 'href="feedback/bo.html"' in page and 'href="feedback/student-1.html"' in page
    for href in re.findall(r'href="([^"]*)"', page):
        assert href.startswith(("feedback/", "#")), href


def test_everything_from_a_submission_is_escaped():
    page = render_report(build_report(CLASS, MHA.feedback, "en", RUBRIC))
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # the id and the error, shown as text


def test_the_page_is_self_contained():
    page = render_report(build_report(CLASS, MHA.feedback, "en", RUBRIC))
    assert page.count("<svg") == 2  # score distribution and pass rate per item, inline
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page) and "url(http" not in page
    without_svg_namespaces = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", page)
    assert "http://" not in without_svg_namespaces and "https://" not in without_svg_namespaces
    assert len(set(re.findall(r'\bid="([^"]+)"', page))) == len(re.findall(r'\bid="([^"]+)"', page))


@pytest.mark.parametrize("lang, heading, html_lang", [("en", "Class report", 'lang="en"'),
                                                      ("ko", "학급 보고서", 'lang="ko"')])
def test_english_and_korean(lang, heading, html_lang):
    page = render_report(build_report(CLASS, MHA.feedback, lang, RUBRIC))
    assert heading in page and html_lang in page
    assert MHA.feedback["softmax-dim"]["explain"][lang] in page
    assert MHA.feedback["mask-polarity"]["title"][lang] in page
    assert '"Noto Sans KR"' in page and "Malgun Gothic" in page and "Apple SD Gothic Neo" in page


@pytest.mark.parametrize("size", [1, 1000])
def test_a_class_of_one_and_of_a_thousand(size: int):
    subs = [_submission(f"s{i:04d}", {ITEM_A: "softmax-dim"} if i % 3 else {}, seconds=float(i % 17))
            for i in range(size)]
    page = render_report(build_report({**CLASS, "submissions": subs}, MHA.feedback, "en", RUBRIC))
    assert f"{size} students" in page
    assert page.count('href="feedback/s') == len([i for i in range(size) if i % 3]) + min(10, size)


def test_seqlab_report_writes_the_page_and_says_where(tmp_path: Path):
    (tmp_path / "results.json").write_text(json.dumps(CLASS))
    done = run_seqlab("report", str(tmp_path), "--lang", "ko", course=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"class report: {tmp_path / REPORT_NAME}"
    assert "학급 보고서" in (tmp_path / REPORT_NAME).read_text()


def test_seqlab_report_as_an_unprivileged_instructor(tmp_path: Path):
    (tmp_path / "results.json").write_text(json.dumps(CLASS))
    done = run_seqlab("report", str(tmp_path), "--lang", "en", course=REPO, unprivileged=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "Class report" in (tmp_path / REPORT_NAME).read_text()


@pytest.mark.parametrize("content, code, message", [
    (None, 2, "error: no results.json in"),
    ("{not json", 1, "is not a seqlab results file"),
    ('{"assignment": "mha", "submissions": [{"student": 1}]}', 1, "is not a seqlab results file"),
])
def test_seqlab_report_on_bad_input_is_one_line(tmp_path: Path, content, code, message):
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    done = run_seqlab("report", str(tmp_path), course=REPO)
    assert done.returncode == code and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_without_the_graders_the_report_still_renders_and_says_why(tmp_path: Path):
    (tmp_path / "results.json").write_text(json.dumps(CLASS))
    path = write_report(tmp_path, "en", course=tmp_path)  # no graders/ there
    page = path.read_text()
    assert "explanations unavailable" in page and "softmax-dim" in page


def test_a_weak_sandbox_recorded_by_the_run_is_said_at_the_top(tmp_path: Path):
    sandbox = {"level": "weak", "features": ["seccomp", "non-root"], "missing": ["pid-ns"], "cgroup": None,
               "caps": "per-process", "weak_allowed": True}
    (tmp_path / "results.json").write_text(json.dumps({**CLASS, "sandbox": sandbox}))
    page = write_report(tmp_path, "en", course=REPO).read_text()
    assert "sandbox: weak" in page and "MISSING: PID namespace" in page
    (tmp_path / "results.json").write_text(json.dumps({**CLASS, "sandbox": {**sandbox, "level": "strong"}}))
    assert "sandbox:" not in write_report(tmp_path, "en", course=REPO).read_text()


def test_a_report_failure_never_costs_the_grades(tmp_path: Path, monkeypatch, caplog):
    (tmp_path / "results.json").write_text(json.dumps(CLASS))
    (tmp_path / REPORT_NAME).write_text("stale")

    def broken(report):
        raise RuntimeError("cannot draw")

    monkeypatch.setattr("seqlab.report.render.render_report", broken)
    with caplog.at_level(logging.WARNING, logger="seqlab.report"):
        assert write_report_safely(tmp_path, "en", course=REPO) is None
    assert not (tmp_path / REPORT_NAME).exists()  # no stale page passes for this run's
    assert json.loads((tmp_path / "results.json").read_text()) == CLASS
    assert "report not written: RuntimeError: cannot draw" in caplog.text


@pytest.mark.slow
def test_seqlab_grade_writes_the_report_and_names_the_top_misconceptions(tmp_path: Path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(CORRECT)
    (folder / "bob.py").write_text(CORRECT.replace("return x * 2", "return x + 2"))
    (folder / "carol.py").write_text("def (\n")
    out = tmp_path / "out"
    done = run_seqlab("grade", "echo", str(folder), "--out", str(out), course=FIXTURE_COURSE)
    assert done.returncode == 0, done.stderr
    tail = done.stdout.strip().splitlines()
    assert tail[-1] == f"class report: {out / REPORT_NAME}"
    assert tail[-2].startswith("most common misconceptions: 1. doubling (1/3 students)")
    page = (out / REPORT_NAME).read_text()
    assert "alice" in page and 'href="feedback/bob.html"' in page and "doubling" in page
    results = json.loads((out / "results.json").read_text())
    assert all(isinstance(s["seconds"], float) for s in results["submissions"])
