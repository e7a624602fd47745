"""Black-box runs of the spaced-repetition side of `quiz` with scripted stdin: `quiz` and
`quiz --due` (due first, then new up to `--new N`), the schedule a topic run leaves behind,
`--rate`, `--stats`, and a version 1 history met by the new command."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta

import pytest
from quiz_helpers import history_file, quiz_command, seed_history, wrong_for, wrong_input

from seqlab.quiz.session import expected_input

DAY = timedelta(days=1)


def plain(text: str) -> str:
    return " ".join(text.split())


def first_id(banks, topic: str) -> str:
    """A real question id of the topic (the banks grow while this file stays the same)."""
    return banks[topic].questions[0].id


# --- quiz / quiz --due ---------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "header"), [
    ("en", "Due today: 0 to review, 10 new (new per day: 10)"),
    ("ko", "오늘 할 일: 복습 0문항, 새 문항 10개 (하루 새 문항: 10)")])
def test_plain_quiz_with_no_history_asks_the_daily_new_questions(run_quiz, lang, header):
    done = run_quiz("--lang", lang, "--seed", "3", answers=[])
    assert done.returncode == 0, done.stderr
    assert header in plain(done.stdout)
    assert "· 1/10" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_new_questions_stop_at_the_limit_and_then_it_says_when_the_next_review_is(run_quiz,
                                                                                  lang):
    probe = json.loads(run_quiz("--due", "--new", "3", "--seed", "8", "--json",
                                answers=[]).stdout)
    assert [q["answer"] for q in probe["questions"]] == [None] * 3
    ids = [q["id"] for q in probe["questions"]]
    answers = ["12345678" if q["kind"] == "short" else q["expected"] for q in probe["questions"]]
    done = run_quiz("--due", "--new", "3", "--seed", "8", "--json", answers=answers)
    result = json.loads(done.stdout)
    assert [q["id"] for q in result["questions"]] == ids and result["finished"]
    assert all(q["due"] for q in result["questions"])

    again = run_quiz("--due", "--new", "3", "--lang", lang)
    text = plain(again.stdout)
    assert again.returncode == 0
    if lang == "en":
        assert "Nothing is due today." in text and "Today's 3 new questions are done" in text
        assert re.search(r"Next review: \d{4}-\d\d-\d\d \((tomorrow|in \d+ days)\)", text), text
    else:
        assert "오늘 복습할 문제가 없습니다." in text and "새 문항 3개를 다 풀었습니다" in text
        assert re.search(r"다음 복습: \d{4}-\d\d-\d\d \((내일|\d+일 후)\)", text), text
    more = json.loads(run_quiz("--due", "--new", "5", "--json", answers=[]).stdout)
    assert len(more["questions"]) == 2 and not {q["id"] for q in more["questions"]} & set(ids)


@pytest.mark.parametrize(("lang", "line"), [("en", "New questions are off (--new 0)."),
                                            ("ko", "새 문항은 꺼 두었습니다 (--new 0).")])
def test_nothing_due_and_no_new_questions_says_so(run_quiz, lang, line):
    done = run_quiz("--new", "0", "--lang", lang)
    assert done.returncode == 0 and line in done.stdout
    assert "Next review" not in done.stdout  # nothing was ever seen: no review to announce


def test_due_reviews_come_most_overdue_first_and_not_due_ones_wait(run_quiz, quiz_env, banks):
    lstm, mha, gru, mdn = (first_id(banks, t) for t in ("lstm", "mha", "gru", "mdn"))
    seed_history(quiz_env, {
        lstm: ("lstm", "again", 3 * DAY),   # due 2 days ago
        mha: ("mha", "again", 10 * DAY),    # due 9 days ago
        gru: ("gru", "good", 6 * DAY),      # due 4 days ago
        mdn: ("mdn", "easy", 0 * DAY),      # due in 8 days
    })
    done = run_quiz("--due", "--new", "0", "--json", "--seed", "1", answers=[])
    result = json.loads(done.stdout)
    assert [q["id"] for q in result["questions"]] == [mha, gru, lstm]
    assert result["mode"] == "due"
    assert "Due today: 3 to review, 0 new" in plain(done.stderr)

    first, second, third = result["questions"]  # as shown with --seed 1
    answers = [wrong_for(first), second["expected"], third["expected"]]
    done = run_quiz("--due", "--new", "0", "--json", "--seed", "1", answers=answers)
    rows = {q["id"]: q for q in json.loads(done.stdout)["questions"]}
    missed, right = rows[mha], rows[lstm]
    assert missed["correct"] is False and right["correct"] is True
    assert datetime.fromisoformat(missed["due"]) < datetime.fromisoformat(right["due"])
    assert "Next review:" in plain(done.stderr)


def test_quiz_topic_due_and_tag_restrict_the_due_session(run_quiz, quiz_env, banks):
    seed_history(quiz_env, {first_id(banks, "gru"): ("gru", "again", 3 * DAY),
                            first_id(banks, "mha"): ("mha", "again", 3 * DAY)})
    only_mha = json.loads(run_quiz("mha", "--due", "--new", "2", "--json", answers=[]).stdout)
    ids = [q["id"] for q in only_mha["questions"]]
    assert ids[0] == first_id(banks, "mha") and len(ids) == 3
    assert all(q["topic"] == "mha" for q in only_mha["questions"])
    tagged = json.loads(run_quiz("--due", "--tag", "softmax-dim", "--json", answers=[]).stdout)
    assert tagged["questions"] and all("softmax-dim" in q["tags"] for q in tagged["questions"])


def test_a_topic_run_updates_the_schedule_wrong_sooner_than_right(run_quiz, planned_for,
                                                                 quiz_env):
    planned = planned_for("rnn", 2, 4)
    answers = [wrong_input(planned[0]), expected_input(planned[1])]
    result = json.loads(run_quiz("rnn", "-n", "2", "--seed", "4", "--json",
                                 answers=answers).stdout)
    wrong, right = (datetime.fromisoformat(q["due"]) for q in result["questions"])
    assert wrong < right
    stored = json.loads(history_file(quiz_env).read_text(encoding="utf-8"))
    assert stored["version"] == 2
    assert stored["questions"][planned[0].question.id]["card"]["due"] == wrong.isoformat()


def test_rate_asks_how_it_felt_and_easy_comes_back_later_than_hard(run_quiz, planned_for):
    planned = planned_for("gru", 3, 2)
    answers = [expected_input(planned[0]), "x", "3", expected_input(planned[1]), "1",
               wrong_input(planned[2])]  # "x" is not a rating: asked again, costs nothing
    done = run_quiz("gru", "-n", "3", "--seed", "2", "--rate", "--json", answers=answers)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["questions"]
    assert [q["felt"] for q in rows] == ["easy", "hard", None]
    easy, hard, wrong = (datetime.fromisoformat(q["due"]) for q in rows)
    assert easy > hard >= wrong
    assert "How did it feel?" in done.stderr and "Type 1 (hard)" in done.stderr


@pytest.mark.parametrize("args", [["--due", "--review"], ["lstm", "--new", "3"],
                                  ["--new", "-1"], ["--new", "many"]])
def test_bad_due_options_are_one_error_line_and_exit_2(run_quiz, args):
    done = run_quiz(*args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")


# --- --stats ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "words"), [
    ("en", ["seen", "due", "today", "7 days", "retention"]),
    ("ko", ["본 문항", "오늘", "복습", "7일", "기억률"])])
def test_stats_shows_seen_due_and_retention_per_topic(run_quiz, quiz_env, banks, lang, words):
    seed_history(quiz_env, {first_id(banks, "gru"): ("gru", "again", 3 * DAY),
                            first_id(banks, "mdn"): ("mdn", "good", 1 * DAY)})
    done = run_quiz("--stats", "--lang", lang, env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    for word in words:
        assert word in done.stdout
    gru_total, mdn_total = len(banks["gru"].questions), len(banks["mdn"].questions)
    assert re.search(rf"gru\s+1/{gru_total}\s+1\s+1\s+\d+%", done.stdout), done.stdout
    assert re.search(rf"mdn\s+1/{mdn_total}\s+0\s+1\s+\d+%", done.stdout), done.stdout
    rows = {r["topic"]: r for r in json.loads(run_quiz("--stats", "--json").stdout)["topics"]}
    assert set(rows) == {"gru", "mdn"}
    assert (rows["gru"]["seen"], rows["gru"]["due_today"], rows["gru"]["due_week"]) == (1, 1, 1)
    assert rows["mdn"]["due_today"] == 0 and 0 < rows["gru"]["retention"] < rows["mdn"]["retention"]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_stats_at_40_columns_keeps_the_memory_columns(run_quiz, quiz_env, banks, lang):
    from rich.cells import cell_len

    seed_history(quiz_env, {first_id(banks, "transformer"): ("transformer", "good", DAY)})
    narrow = run_quiz("--stats", "--lang", lang, env={"COLUMNS": "40"})
    total = len(banks["transformer"].questions)
    assert re.search(rf"transformer\s+1/{total}\s+0\s+1\s+\d+%", narrow.stdout), narrow.stdout
    assert [ln for ln in narrow.stdout.splitlines() if cell_len(ln) > 40] == []


# --- migration ------------------------------------------------------------------------------

def test_a_version_1_history_keeps_working_and_is_upgraded_on_the_next_save(run_quiz, quiz_env,
                                                                            right_answers):
    path = history_file(quiz_env)
    path.parent.mkdir(parents=True)
    old = {"version": 1,
           "sessions": [{"topic": "gru", "when": "2026-01-05T10:00:00", "answered": 1,
                         "correct": 0, "total": 1, "per_topic": {"gru": [0, 1]}}],
           "questions": {"gru-gates": {"topic": "gru", "right": 0, "wrong": 1, "last": "wrong"}}}
    path.write_text(json.dumps(old), encoding="utf-8")
    review_run = json.loads(run_quiz("gru", "--review", "--json", answers=[]).stdout)
    assert [q["id"] for q in review_run["questions"]] == ["gru-gates"]
    due = json.loads(run_quiz("--due", "--new", "0", "--json", answers=[]).stdout)
    assert [q["id"] for q in due["questions"]] == ["gru-gates"]  # long overdue after migration
    done = run_quiz("rnn", "-n", "1", "--seed", "1", answers=right_answers("rnn", 1, 1))
    assert done.returncode == 0 and "corrupt" not in done.stderr
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["version"] == 2 and stored["questions"]["gru-gates"]["wrong"] == 1
    assert "card" in stored["questions"]["gru-gates"]
    assert json.loads((path.parent / "quiz-history.json.v1").read_text(encoding="utf-8")) == old


# --- as a student without root -----------------------------------------------------------------

UNSHARE = ("unshare", "--user", "--map-user=1000", "--map-group=1000")


def unprivileged_ok() -> bool:
    try:
        done = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=20, check=False)
        return done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not unprivileged_ok(), reason="user namespaces are not available here")
def test_as_an_unprivileged_student_the_schedule_is_saved_and_a_read_only_state_dir_warns(
        quiz_env, tmp_path):
    state = tmp_path / "state"
    env = {**quiz_env, "XDG_STATE_HOME": str(state)}

    def run(*args: str, answers: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*UNSHARE, *quiz_command(), *args], input=answers, text=True,
                              capture_output=True, env=env, timeout=60, check=False)

    probe = json.loads(run("--due", "-n", "2", "--seed", "2", "--json", answers="").stdout)
    answers = "".join(f"{q['expected']}\n" for q in probe["questions"])
    done = run("--due", "-n", "2", "--seed", "2", "--json", answers=answers)
    assert done.returncode == 0, done.stderr
    stored = json.loads(history_file(env).read_text(encoding="utf-8"))
    assert {q["id"] for q in probe["questions"]} <= set(stored["questions"])

    (state / "seqlab").chmod(0o555)  # root ignores this; uid 1000 without capabilities cannot
    try:
        again = run("rnn", "-n", "1", "--seed", "1", "--json", answers="1\n")
    finally:
        (state / "seqlab").chmod(0o755)
    assert again.returncode == 0 and "could not save quiz history" in again.stderr
    assert "Traceback" not in again.stderr
    assert json.loads(history_file(env).read_text(encoding="utf-8")) == stored
