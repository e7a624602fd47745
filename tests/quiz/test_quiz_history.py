"""History lives in the XDG state dir, is written atomically, and never crashes the quiz."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from seqlab.quiz.history import (
    FILENAME,
    History,
    load_history,
    missed_ids,
    record,
    save_history,
    state_dir,
    topic_stats,
)


def test_state_dir_follows_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "seqlab"


def test_state_dir_defaults_to_local_state_in_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_dir() == tmp_path / ".local" / "state" / "seqlab"


def test_a_relative_xdg_state_home_is_ignored_as_the_spec_requires(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_dir() == tmp_path / ".local" / "state" / "seqlab"


def test_a_missing_history_is_empty_and_quiet(tmp_path):
    loaded = load_history(tmp_path / FILENAME)
    assert loaded.history == History() and loaded.warning is None


def test_history_round_trips_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "deep" / FILENAME
    history = record(History(), "lstm", [("a", "lstm", True), ("b", "lstm", False)], 3, "2024-01-01")
    assert save_history(history, path) is None
    assert load_history(path).history == history
    assert sorted(p.name for p in path.parent.iterdir()) == [FILENAME]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2, 3]", b'{"version": 99}',
                                     b"\xff\xfe garbage", b'{"version": 1, "sessions": 3}',
                                     # valid JSON, hand-edited into shapes the code relies on
                                     (b'{"version": 1, "sessions": [{"per_topic": {"lstm": ["x", 1]}}],'
                                      b' "questions": {}}'),
                                     (b'{"version": 1, "sessions": [], "questions": {"q": {"topic":'
                                      b' "lstm", "right": "many"}}}'),
                                     b'{"version": 1, "sessions": [{"when": 5}], "questions": {}}'])
def test_a_corrupt_history_is_reported_and_set_aside(tmp_path, content):
    path = tmp_path / FILENAME
    path.write_bytes(content)
    loaded = load_history(path)
    assert loaded.history == History()
    assert loaded.warning and "corrupt" in loaded.warning
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith(f"{FILENAME}.corrupt-")]
    assert aside.read_bytes() == content and not path.exists()


def test_an_unwritable_state_dir_is_a_warning_not_a_crash(tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    warning = save_history(History(), blocker / FILENAME)
    assert warning and "could not save" in warning


def test_a_failed_write_keeps_the_previous_history(tmp_path, monkeypatch):
    path = tmp_path / FILENAME
    first = record(History(), "mdn", [("x", "mdn", True)], 1, "t1")
    save_history(first, path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    second = record(History(), "mdn", [("x", "mdn", False)], 1, "t2")
    assert save_history(second, path) is not None
    monkeypatch.undo()
    assert load_history(path).history == first
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]


def test_review_asks_questions_whose_last_answer_was_wrong():
    h = record(History(), "lstm", [("a", "lstm", False), ("b", "lstm", False)], 2, "t1")
    h = record(h, "lstm", [("a", "lstm", True)], 1, "t2")
    h = record(h, "mha", [("m", "mha", False)], 1, "t3")
    assert missed_ids(h, ["lstm"]) == {"b"}
    assert missed_ids(h, ["lstm", "mha"]) == {"b", "m"}


def test_stats_are_kept_per_question_topic_even_for_topic_all():
    h = record(History(), "all", [("a", "lstm", True), ("m", "mha", False), ("n", "mha", True)],
               3, "2024-05-01T10:00:00")
    h = record(h, "mha", [("m", "mha", True)], 1, "2024-05-02T10:00:00")
    stats = {s.topic: s for s in topic_stats(h)}
    assert (stats["lstm"].sessions, stats["lstm"].correct, stats["lstm"].answered) == (1, 1, 1)
    assert (stats["mha"].sessions, stats["mha"].correct, stats["mha"].answered) == (2, 2, 3)
    assert stats["mha"].best_percent == 100 and stats["mha"].to_review == 0
    assert stats["mha"].last_played.startswith("2024-05-02")


def test_the_file_is_readable_json_with_korean_kept_as_is(tmp_path):
    path = tmp_path / FILENAME
    save_history(record(History(), "rnn", [("순환", "rnn", True)], 1, "t"), path)
    text = path.read_text(encoding="utf-8")
    assert "순환" in text and json.loads(text)["version"] == 2


def test_state_files_live_only_under_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    save_history(History())
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()] == [
        Path("seqlab") / FILENAME]


def test_a_second_corrupt_history_does_not_overwrite_the_first_one_set_aside(tmp_path):
    path = tmp_path / FILENAME
    for content in (b"{first", b"{second"):
        path.write_bytes(content)
        assert "corrupt" in (load_history(path).warning or "")
    kept = sorted(p.read_bytes() for p in tmp_path.iterdir() if ".corrupt-" in p.name)
    assert kept == [b"{first", b"{second"]
