"""`quiz --from-feedback`: the practice commands of a graded feedback file, read from the
real Markdown and HTML renderers (so a change in how feedback is escaped shows up here),
and from variants of their markup."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from quiz_helpers import REPO

from seqlab.errors import UsageError
from seqlab.grading.feedback import render_html, render_markdown
from seqlab.grading.results import SubmissionResult
from seqlab.grading.results import TestResult as GradedTest
from seqlab.quiz.bank import load_banks
from seqlab.quiz.from_feedback import Practice, drill_questions, practice_commands, read_feedback

BANKS = load_banks(REPO / "quizzes")
MHA = tomllib.loads((REPO / "graders" / "feedback" / "mha.toml").read_text(encoding="utf-8"))
MISSED = ["softmax-dim", "mask-polarity", "wrong-output"]  # the last names only `quiz mha`


def graded(student: str = "alice", missed: list[str] = MISSED) -> SubmissionResult:
    tests = [GradedTest(f"test_{m}", 0, 2, False, f"lost to {m} | <b>`x`</b>", m) for m in missed]
    tests.append(GradedTest("test_ok", 2, 2, True, None, None))
    return SubmissionResult(student, f"{student}.ipynb", "graded", 2, 2 + 2 * len(missed), None,
                            tests)


def feedback_files(tmp_path: Path, student: str = "alice",
                   missed: list[str] = MISSED) -> dict[str, Path]:
    result = graded(student, missed)
    md, page = tmp_path / f"{student}.md", tmp_path / f"{student}.html"
    md.write_text(render_markdown(result, "mha", MHA), encoding="utf-8")
    page.write_text(render_html(result, "mha", MHA), encoding="utf-8")
    return {"md": md, "html": page}


def expected() -> list[tuple[str, str | None]]:
    out = []
    for m in MISSED:
        words = MHA[m]["quiz"].split()
        out.append((words[1], words[words.index("--tag") + 1] if "--tag" in words else None))
    return out


@pytest.mark.parametrize("kind", ["md", "html"])
def test_every_practice_command_of_real_feedback_is_found_in_order(tmp_path, kind):
    path = feedback_files(tmp_path)[kind]
    assert [(p.topic, p.tag) for p in read_feedback(path)] == expected()


@pytest.mark.parametrize("text", [
    "Practice / 연습: `quiz mha --tag softmax-dim`",
    "Practice / 연습: `quiz mha \\-\\-tag softmax\\-dim`",            # every dash escaped
    "Practice / 연습: ``quiz mha --tag=softmax-dim``",
    "**Practice**: run quiz mha --tag softmax-dim.",
    "Practice / 연습: `quiz mha --tag softmax-dim -n 5 --lang ko`",
    "Drill it: quiz mha --tag softmax-dim",  # the platform exports' plain-text wording
])
def test_markdown_variants_of_a_practice_line(text):
    assert [(p.topic, p.tag) for p in practice_commands(text)] == [("mha", "softmax-dim")]


@pytest.mark.parametrize("text", [
    "<p>Practice / 연습: <code>quiz mha --tag softmax-dim</code></p>",
    ("<section><p>Practice&nbsp;/&nbsp;연습:\n<code class='cmd'>quiz mha &#45;&#45;tag "
     "softmax&#x2d;dim</code></p></section>"),
    "<li>Practice: <kbd>quiz</kbd> <kbd>mha --tag softmax-dim</kbd></li>",
    "<p>Drill it: <code>quiz mha --tag softmax-dim</code></p>",  # the course report's wording
    "<p>연습하기: <code>quiz mha --tag softmax-dim</code></p>",
    "<div><b>Next</b> <code>quiz mha --tag softmax-dim</code></div>",  # any code span
])
def test_html_variants_of_a_practice_line(text):
    assert [(p.topic, p.tag) for p in practice_commands(text, is_html=True)] == [
        ("mha", "softmax-dim")]


def test_the_same_command_twice_is_drilled_once_and_other_quiz_words_are_ignored():
    text = ("The quiz helps.\nPractice / 연습: `quiz lstm --tag gates`\n"
            "Practice / 연습: `quiz lstm --tag gates`\nPractice / 연습: `quiz --list`\n")
    assert practice_commands(text) == [Practice("lstm", "gates", "quiz lstm --tag gates")]


def test_feedback_without_practice_lines_names_nothing_and_a_stranger_file_is_an_error(tmp_path):
    full = feedback_files(tmp_path, "bob", missed=[])["md"]
    assert read_feedback(full) == []
    other = tmp_path / "notes.md"
    other.write_text("# shopping\n- milk\n", encoding="utf-8")
    for path in (other, tmp_path / "missing.md", tmp_path):
        with pytest.raises(UsageError):
            read_feedback(path)
    binary = tmp_path / "x.html"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UsageError):
        read_feedback(binary)


def test_the_drill_asks_every_question_of_each_named_tag_once():
    practices = [Practice("mha", "softmax-dim", ""), Practice("mha", "mask-polarity", ""),
                 Practice("mha", "softmax-dim", "")]
    drill = drill_questions(practices, BANKS, topic_sample=10, seed=1)
    for tag in ("softmax-dim", "mask-polarity"):
        wanted = {q.id for q in BANKS["mha"].questions if tag in q.tags}
        assert wanted and wanted <= {q.id for q in drill.questions}
    assert all({"softmax-dim", "mask-polarity"} & set(q.tags) for q in drill.questions)
    assert len({q.id for q in drill.questions}) == len(drill.questions)


def test_a_topic_only_practice_asks_a_sample_and_an_unknown_tag_is_skipped():
    drill = drill_questions([Practice("mha", None, "quiz mha"),
                             Practice("mha", "no-such-tag", "quiz mha --tag no-such-tag"),
                             Practice("nope", None, "quiz nope")], BANKS, topic_sample=4, seed=2)
    assert len(drill.questions) == 4 and all(q.topic == "mha" for q in drill.questions)
    assert [p.command for p in drill.skipped] == ["quiz mha --tag no-such-tag", "quiz nope"]


# --- the command --------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("kind", ["md", "html"])
def test_quiz_from_feedback_drills_the_misconceptions_and_schedules_them(
        run_quiz, quiz_env, tmp_path, kind, lang):
    path = feedback_files(tmp_path)[kind]
    probe = run_quiz("--from-feedback", str(path), "--seed", "5", "--json", "--lang", lang,
                     answers=[])
    assert probe.returncode == 0, probe.stderr
    asked = json.loads(probe.stdout)["questions"]
    header = {"en": "Drilling 3 misconception(s)", "ko": "오개념 3개를 연습합니다"}[lang]
    assert header in " ".join(probe.stderr.split())
    for topic, tag in expected():
        if tag:
            assert {q.id for q in BANKS[topic].questions if tag in q.tags} <= {
                q["id"] for q in asked}
    answers = [q["expected"] for q in asked]
    done = run_quiz("--from-feedback", str(path), "--seed", "5", "--json", "--lang", lang,
                    answers=answers)
    result = json.loads(done.stdout)
    assert result["mode"] == "feedback" and result["finished"] is True
    assert result["score"]["correct"] == len(asked)
    assert all(q["due"] for q in result["questions"])
    history = json.loads((Path(quiz_env["XDG_STATE_HOME"]) / "seqlab" /
                          "quiz-history.json").read_text(encoding="utf-8"))
    assert {q["id"] for q in asked} <= set(history["questions"])


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_quiz_from_feedback_with_full_marks_says_there_is_nothing_to_drill(run_quiz, tmp_path,
                                                                           lang):
    path = feedback_files(tmp_path, "bob", missed=[])["md"]
    done = run_quiz("--from-feedback", str(path), "--lang", lang)
    assert done.returncode == 0
    assert {"en": "names no misconception", "ko": "연습할 오개념이 없습니다"}[lang] in " ".join(done.stdout.split())


@pytest.mark.parametrize("args", [["--from-feedback", "missing.md"],
                                  ["mha", "--from-feedback", "x.md"],
                                  ["--from-feedback", "x.md", "--due"]])
def test_bad_from_feedback_use_is_one_error_line_and_exit_2(run_quiz, args):
    done = run_quiz(*args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
