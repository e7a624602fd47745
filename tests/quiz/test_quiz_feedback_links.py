"""Grader feedback points students at the quiz: every `quiz = "quiz T --tag X"` line in
graders/feedback/*.toml must name a topic and a tag that exist in quizzes/.

The feedback files are found by listing the folder, so files added later (mdn, lstm, ...)
are covered without touching this test.
"""

from __future__ import annotations

import io
import shlex
import tomllib
from pathlib import Path

import pytest
from quiz_helpers import REPO

from seqlab.cli.quiz import build_parser, main
from seqlab.quiz.bank import load_banks
from seqlab.report.data import ITEMS_TABLE

FEEDBACK_DIR = REPO / "graders" / "feedback"
SHARED = {"common"}  # generic misconceptions (not-a-tensor, ...): no concept to drill


def feedback_files() -> list[Path]:
    return sorted(FEEDBACK_DIR.glob("*.toml"))


def feedback_entries() -> list[tuple[str, str, dict]]:
    """(file name, misconception id, entry) for every entry of every feedback file."""
    rows = []
    for path in feedback_files():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        rows += [(path.name, mid, entry) for mid, entry in data.items()
                 if isinstance(entry, dict) and mid != ITEMS_TABLE]  # [items.*]: rubric titles
    return rows


ENTRIES = feedback_entries()
QUIZ_LINES = [(f, mid, e["quiz"]) for f, mid, e in ENTRIES if "quiz" in e]
BANKS = load_banks(REPO / "quizzes")


def parse_quiz_line(line: str) -> tuple[str, str | None]:
    """The topic and tag of a `quiz TOPIC [--tag TAG]` command, via the quiz's own parser."""
    words = shlex.split(line)
    assert words[:1] == ["quiz"], f"{line!r} does not start with `quiz`"
    args = build_parser().parse_args(words[1:])
    assert args.topic, f"{line!r} names no topic"
    extra = {k for k, v in vars(args).items()
             if k not in ("topic", "tag", "n", "lang", "seed") and v not in (None, False)}
    assert not extra, f"{line!r}: feedback should only name a topic and a tag, not {extra}"
    return args.topic, args.tag


def test_there_are_feedback_files_with_quiz_lines():
    assert any(p.stem == "mha" for p in feedback_files())
    assert len(QUIZ_LINES) >= 10


@pytest.mark.parametrize(("name", "mid", "line"), QUIZ_LINES,
                         ids=[f"{n}:{m}" for n, m, _ in QUIZ_LINES])
def test_every_quiz_line_names_an_existing_topic_and_tag(name, mid, line):
    topic, tag = parse_quiz_line(line)
    assert topic in BANKS, f"{name}:{mid}: {line!r} names no bank (topics: {sorted(BANKS)})"
    if tag is not None:
        assert tag in BANKS[topic].tags(), (
            f"{name}:{mid}: {line!r}: no question in quizzes/{topic}.toml has tag '{tag}'")


# Tags added to the banks after these feedback files were written; each file's owner points
# its quiz line at the exact tag (then the entry can leave this list).
@pytest.mark.parametrize(("name", "mid", "line"),
                         [pytest.param(n, m, line, id=f"{n}:{m}") for n, m, line in QUIZ_LINES])
def test_a_quiz_line_drills_the_misconception_itself_when_the_bank_has_it(name, mid, line):
    topic, tag = parse_quiz_line(line)
    if topic in BANKS and mid in BANKS[topic].tags():
        assert tag == mid, f"{name}:{mid}: point at `quiz {topic} --tag {mid}`, not {line!r}"


def test_every_assignment_misconception_names_a_quiz_command():
    missing = [f"{name}:{mid}" for name, mid, entry in ENTRIES
               if Path(name).stem not in SHARED and not entry.get("quiz")]
    assert missing == [], f"feedback entries without a quiz = line: {missing}"


@pytest.mark.parametrize("line", sorted({line for _, _, line in QUIZ_LINES}))
def test_the_quiz_command_really_runs(line, monkeypatch, tmp_path, capsys):
    """The real command (in-process), stdin at end of input: it starts and exits 0."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("SEQLAB_QUIZZES", str(REPO / "quizzes"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main([*shlex.split(line)[1:], "-n", "1", "--lang", "en"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1/1" in captured.out and "error" not in captured.err
