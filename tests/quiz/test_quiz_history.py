"""History lives in the XDG state dir, is written atomically, and never crashes the quiz."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from seqlab.quiz.due import card_due
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


# --- version 2: FSRS cards; version 1 migrated -------------------------------------------------

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
V1 = {
    "version": 1,
    "sessions": [
        {"topic": "lstm", "when": "2026-03-01T10:00:00", "answered": 2, "correct": 1,
         "total": 2, "per_topic": {"lstm": [1, 2]}},
        {"topic": "mha", "when": "2026-03-05T18:00:00", "answered": 1, "correct": 0,
         "total": 1, "per_topic": {"mha": [0, 1]}},
    ],
    "questions": {
        "lstm-right": {"topic": "lstm", "right": 3, "wrong": 1, "last": "right"},
        "lstm-wrong": {"topic": "lstm", "right": 0, "wrong": 1, "last": "wrong"},
        "mha-wrong": {"topic": "mha", "right": 0, "wrong": 1, "last": "wrong"},
        "never-played": {"topic": "gru", "right": 1, "wrong": 0},
    },
}


def test_a_version_1_history_is_migrated_with_one_review_per_question(tmp_path):
    path = tmp_path / FILENAME
    original = json.dumps(V1).encode()
    path.write_bytes(original)
    loaded = load_history(path, now=NOW)
    assert loaded.warning is None and loaded.migrated_from == 1
    q = loaded.history.questions
    # counts and sessions survive; every question gains a card and a first-seen time
    assert (q["lstm-right"]["right"], q["lstm-right"]["wrong"]) == (3, 1)
    assert loaded.history.sessions == V1["sessions"]
    assert all("card" in e and "first_seen" in e for e in q.values())
    # reviewed when its topic was last played: wrong answers due sooner than right ones
    played = datetime.fromisoformat("2026-03-01T10:00:00").astimezone()
    assert datetime.fromisoformat(q["lstm-wrong"]["card"]["last_review"]) == played
    assert card_due(q["lstm-wrong"]) < card_due(q["lstm-right"])
    assert card_due(q["lstm-wrong"]) < card_due(q["mha-wrong"])  # mha was played later
    assert datetime.fromisoformat(q["never-played"]["card"]["last_review"]) == NOW
    # the old file is kept; saving writes version 2, which loads back unchanged
    assert (tmp_path / f"{FILENAME}.v1").read_bytes() == original
    assert save_history(loaded.history, path) is None
    again = load_history(path, now=NOW + timedelta(days=3))
    assert again.migrated_from is None and again.history == loaded.history
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 2


@pytest.mark.parametrize("card", [
    "not a card",
    {"card_id": 1, "state": 9, "step": None, "stability": 1.0, "difficulty": 5.0,
     "due": "2026-01-01T00:00:00+00:00", "last_review": None},
    {"card_id": 1, "state": 2, "step": None, "stability": "big", "difficulty": 5.0,
     "due": "2026-01-01T00:00:00+00:00", "last_review": None},
    {"card_id": 1, "state": 2, "step": None, "stability": 1.0, "difficulty": 5.0,
     "due": "next tuesday", "last_review": None},
    {"card_id": 1, "state": 2, "step": None, "stability": 1.0, "difficulty": 5.0,
     "due": "2026-01-01T00:00:00", "last_review": None},  # no time zone
    {"card_id": 1, "state": 2, "step": None, "stability": 0, "difficulty": 5.0,
     "due": "2026-01-01T00:00:00+00:00", "last_review": None},  # reviewed, yet no memory
])
def test_a_malformed_memory_state_makes_the_file_corrupt_and_it_is_set_aside(tmp_path, card):
    path = tmp_path / FILENAME
    content = json.dumps({"version": 2, "sessions": [], "questions": {
        "q": {"topic": "lstm", "right": 1, "wrong": 0, "last": "right", "card": card}}})
    path.write_text(content, encoding="utf-8")
    loaded = load_history(path)
    assert loaded.history == History() and "corrupt" in (loaded.warning or "")
    (aside,) = tmp_path.glob(f"{FILENAME}.corrupt-*")
    assert aside.read_text(encoding="utf-8") == content


def test_a_version_2_history_with_cards_round_trips(tmp_path):
    from seqlab.quiz.schedule import review

    path = tmp_path / FILENAME
    history = record(History(), "lstm", [("a", "lstm", True)], 1, "2026-03-10T10:00:00")
    history.questions["a"]["card"] = review(None, "good", NOW)
    history.questions["a"]["first_seen"] = NOW.isoformat()
    assert save_history(history, path) is None
    assert load_history(path).history == history
