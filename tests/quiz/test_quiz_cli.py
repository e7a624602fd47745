"""Black-box runs of the `quiz` command with scripted stdin (one answer per line)."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from quiz_helpers import quiz_command, wrong_input
from rich.cells import cell_len

TOPICS = ["rnn", "lstm", "gru", "transformer", "mha", "mdn"]
SCORE = {"en": "Score: {c}/{a} ({p}%)", "ko": "점수: {c}/{a} ({p}%)"}


def score_line(lang: str, correct: int, answered: int) -> str:
    percent = round(100 * correct / answered) if answered else 0
    return SCORE[lang].format(c=correct, a=answered, p=percent)


def history_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "seqlab" / "quiz-history.json"


# --- listing and usage errors --------------------------------------------------------------

def test_list_shows_topics_with_counts(run_quiz, banks):
    done = run_quiz("--list")
    assert done.returncode == 0, done.stderr
    for topic, bank in banks.items():
        assert re.search(rf"^\s*{topic}\s+{len(bank.questions)}\s*$", done.stdout, re.MULTILINE), topic
    assert "quiz TOPIC" in done.stdout
    assert run_quiz("lstm", "--list").stdout == done.stdout


def test_unknown_topic_is_one_error_line_with_a_suggestion_and_exit_2(run_quiz):
    done = run_quiz("lstn")
    assert done.returncode == 2
    assert done.stderr == "error: unknown topic 'lstn' (did you mean 'lstm'?)\n"
    assert done.stdout == ""


def test_unknown_tag_suggests_the_closest_tag(run_quiz):
    done = run_quiz("mha", "--tag", "softmax-dims")
    assert done.returncode == 2
    assert done.stderr.startswith("error: no question in 'mha' has tag 'softmax-dims'")
    assert "did you mean 'softmax-dim'?" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [["lstm", "-n", "0"], ["lstm", "-n", "ten"],
                                  ["lstm", "--lang", "fr"], ["lstm", "--bogus"]])
def test_bad_options_are_one_error_line_and_exit_2(run_quiz, args):
    done = run_quiz(*args)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_bank_is_reported_as_file_and_id_without_a_traceback(run_quiz, tmp_path):
    (tmp_path / "demo.toml").write_text(
        '[[questions]]\nid = "demo-q"\nkind = "single"\ntags = ["t"]\n'
        'text.en = "q"\nexplanation.en = "e"\nexplanation.ko = "설명"\n'
        'choices = [{ en = "a", ko = "가" }, { en = "b", ko = "나" }]\nanswer = 1\n',
        encoding="utf-8")
    done = run_quiz("demo", env={"SEQLAB_QUIZZES": str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr.startswith("error: demo.toml:demo-q: text.ko is missing")
    assert "Traceback" not in done.stderr


# --- scripted runs ----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("topic", TOPICS)
def test_scripted_run_with_right_answers_scores_full_marks(run_quiz, right_answers, topic, lang):
    answers = right_answers(topic, 4, 11)
    done = run_quiz(topic, "-n", "4", "--seed", "11", "--lang", lang, answers=answers)
    assert done.returncode == 0, done.stderr
    assert score_line(lang, 4, 4) in done.stdout.splitlines()
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_scripted_run_over_all_topics_scores_right_and_wrong(run_quiz, planned_for, lang):
    from seqlab.quiz.session import expected_input

    planned = planned_for("all", 6, 5)
    answers = [expected_input(p) if i % 2 == 0 else wrong_input(p) for i, p in enumerate(planned)]
    done = run_quiz("all", "-n", "6", "--seed", "5", "--lang", lang, answers=answers)
    assert done.returncode == 0, done.stderr
    assert score_line(lang, 3, 6) in done.stdout.splitlines()
    assert done.stdout.count("✔") >= 3 and done.stdout.count("✘") >= 3


def test_progress_is_shown_on_every_question(run_quiz, right_answers):
    done = run_quiz("mdn", "-n", "3", "--seed", "2", answers=right_answers("mdn", 3, 2))
    for k in (1, 2, 3):
        assert f"mdn · {k}/3" in done.stdout


def test_a_wrong_answer_shows_the_right_answer_and_the_explanation(run_quiz, planned_for):
    (planned,) = planned_for("lstm", 1, 4)
    done = run_quiz("lstm", "-n", "1", "--seed", "4", answers=[wrong_input(planned)])
    assert "✘ Wrong" in done.stdout and "The answer:" in done.stdout
    first_words = " ".join(planned.question.explanation["en"].split()[:4])
    assert first_words in " ".join(done.stdout.split())


def test_invalid_input_reprompts_with_a_hint_and_costs_nothing(run_quiz, planned_for):
    (planned,) = planned_for("mha", 1, 8, tag="mask-polarity")
    from seqlab.quiz.session import expected_input

    answers = ["", "abc", "99", expected_input(planned)]
    done = run_quiz("mha", "-n", "1", "--seed", "8", "--tag", "mask-polarity", answers=answers)
    assert done.returncode == 0
    assert score_line("en", 1, 1) in done.stdout.splitlines()
    assert "nothing was counted" in done.stdout
    assert done.stdout.count("nothing was counted") == 3


def test_tag_limits_the_quiz_to_that_misconception(run_quiz, right_answers):
    answers = right_answers("mha", 10, 1, tag="softmax-dim")
    done = run_quiz("mha", "--tag", "softmax-dim", "--seed", "1", answers=answers)
    assert done.returncode == 0
    assert score_line("en", len(answers), len(answers)) in done.stdout.splitlines()


def test_end_of_input_ends_with_the_partial_score_and_exit_0(run_quiz, right_answers):
    answers = right_answers("rnn", 3, 9)[:1]
    done = run_quiz("rnn", "-n", "3", "--seed", "9", answers=answers)
    assert done.returncode == 0
    assert "Stopped after 1 of 3 questions." in done.stdout
    assert score_line("en", 1, 1) in done.stdout.splitlines()
    assert "Traceback" not in done.stdout + done.stderr


def test_lang_defaults_to_korean_when_lang_is_korean(run_quiz, right_answers):
    answers = right_answers("gru", 2, 3)
    done = run_quiz("gru", "-n", "2", "--seed", "3", answers=answers,
                    env={"LANG": "ko_KR.UTF-8"})
    assert score_line("ko", 2, 2) in done.stdout.splitlines()


def test_the_quiz_never_imports_torch_numpy_or_nbformat(quiz_env, right_answers):
    answers = "".join(f"{a}\n" for a in right_answers("lstm", 2, 1))
    probe = (
        "import sys\n"
        "from seqlab.cli.quiz import main\n"
        "code = main(['lstm', '-n', '2', '--seed', '1'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numpy', 'nbformat'})\n"
        "print('HEAVY', heavy, code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], input=answers, capture_output=True,
                          text=True, env=quiz_env, timeout=60, check=False)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY [] 0", done.stdout + done.stderr


@pytest.mark.parametrize(("argv", "stdin", "loads_fsrs"), [
    (["--list"], "", False),
    (["lstm", "-n", "1", "--seed", "1"], "", False),      # stopped before any answer
    (["lstm", "-n", "1", "--seed", "1"], "1\n", True),    # one answer to schedule
])
def test_the_scheduler_is_imported_only_when_a_session_has_answers(quiz_env, argv, stdin,
                                                                   loads_fsrs):
    probe = (
        "import sys\n"
        "from seqlab.cli.quiz import main\n"
        f"code = main({argv!r})\n"
        "print('FSRS', 'fsrs' in sys.modules, code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], input=stdin, capture_output=True,
                          text=True, env=quiz_env, timeout=60, check=False)
    assert done.stdout.strip().splitlines()[-1] == f"FSRS {loads_fsrs} 0", done.stdout + done.stderr


@pytest.mark.parametrize(("topic", "seed"), [("mha", 6), ("all", 17)])
def test_narrow_terminal_output_stays_within_40_columns(run_quiz, right_answers, topic, seed):
    answers = right_answers(topic, 8, seed)
    done = run_quiz(topic, "-n", "8", "--seed", str(seed), "--lang", "ko", answers=answers,
                    env={"COLUMNS": "40"})
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line for line in lines if cell_len(line) > 40] == []
    # Korean is two cells wide: every panel line's right border lands in column 40.
    panel = [line for line in lines if line and line[0] in "╭│╰"]
    assert len(panel) > 8 * 4
    assert [line for line in panel if cell_len(line) != 40 or line[-1] not in "╮│╯"] == []


def test_no_color_is_honoured_even_when_colour_is_forced(run_quiz, right_answers):
    answers = right_answers("gru", 1, 1)
    coloured = run_quiz("gru", "-n", "1", "--seed", "1", answers=answers,
                        env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    plain = run_quiz("gru", "-n", "1", "--seed", "1", answers=answers, env={"FORCE_COLOR": "1"})
    colour_sgr = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-79]|9[0-7]|38;[25])[;m]")
    assert colour_sgr.search(coloured.stdout), "sanity: FORCE_COLOR alone should colour"
    assert not colour_sgr.search(plain.stdout)


# --- JSON, history, review, stats ------------------------------------------------------------

def test_json_puts_only_the_result_on_stdout(run_quiz, planned_for):
    from seqlab.quiz.session import expected_input

    planned = planned_for("mdn", 3, 21)
    answers = [expected_input(planned[0]), wrong_input(planned[1]), expected_input(planned[2])]
    done = run_quiz("mdn", "-n", "3", "--seed", "21", "--json", answers=answers)
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["score"] == {"correct": 2, "answered": 3, "total": 3, "percent": 67}
    assert [q["id"] for q in result["questions"]] == [p.question.id for p in planned]
    assert [q["correct"] for q in result["questions"]] == [True, False, True]
    assert result["finished"] is True and result["seed"] == 21 and result["topic"] == "mdn"
    assert "Score: 2/3" in done.stderr


def test_json_after_end_of_input_marks_unanswered_questions(run_quiz):
    done = run_quiz("lstm", "-n", "2", "--seed", "1", "--json", answers=[])
    result = json.loads(done.stdout)
    assert result["finished"] is False and result["stopped"] is True
    assert [q["answer"] for q in result["questions"]] == [None, None]


def test_history_is_recorded_and_review_asks_only_missed_questions(run_quiz, planned_for,
                                                                   quiz_env):
    from seqlab.quiz.session import expected_input

    planned = planned_for("lstm", 3, 13)
    answers = [wrong_input(planned[0]), expected_input(planned[1]), wrong_input(planned[2])]
    run_quiz("lstm", "-n", "3", "--seed", "13", answers=answers)
    assert history_file(quiz_env).exists()

    missed = {planned[0].question.id, planned[2].question.id}
    review = run_quiz("lstm", "--review", "--json", answers=[])
    assert {q["id"] for q in json.loads(review.stdout)["questions"]} == missed

    stats = run_quiz("--stats", "--json")
    (row,) = json.loads(stats.stdout)["topics"]
    assert (row["topic"], row["correct"], row["answered"], row["to_review"]) == ("lstm", 1, 3, 2)
    assert "lstm" in run_quiz("--stats").stdout


def test_review_with_nothing_missed_says_so(run_quiz):
    done = run_quiz("gru", "--review")
    assert done.returncode == 0 and "Nothing to review in gru" in done.stdout


def test_a_corrupt_history_is_set_aside_and_the_quiz_goes_on(run_quiz, right_answers, quiz_env):
    path = history_file(quiz_env)
    path.parent.mkdir(parents=True)
    path.write_text("{ this is not json", encoding="utf-8")
    done = run_quiz("rnn", "-n", "1", "--seed", "1", answers=right_answers("rnn", 1, 1))
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "corrupt" in done.stderr and "moved it to" in done.stderr
    aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_text(encoding="utf-8") == "{ this is not json"
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 2


@pytest.mark.parametrize("content", ["{ this is not json",
                                     '{"version": 1, "sessions": [{"per_topic": {"mha": [1]}}]}'])
def test_stats_with_a_corrupt_history_reports_it_and_sets_it_aside(run_quiz, quiz_env, content):
    path = history_file(quiz_env)
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    done = run_quiz("--stats")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "corrupt" in done.stderr and "No quiz history yet" in done.stdout
    assert not path.exists() and len(list(path.parent.glob("*.corrupt-*"))) == 1
    path.write_text(content, encoding="utf-8")
    as_json = run_quiz("--stats", "--json")
    assert json.loads(as_json.stdout) == {"topics": []} and "corrupt" in as_json.stderr


def test_stats_without_history_says_how_to_start(run_quiz):
    done = run_quiz("--stats")
    assert done.returncode == 0 and "No quiz history yet" in done.stdout


# --- Ctrl-C -----------------------------------------------------------------------------------

def read_until(proc: subprocess.Popen, marker: str, deadline: float) -> str:
    """Read the child's stdout until `marker` appears or the deadline passes."""
    seen = ""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while marker not in seen and time.monotonic() < deadline:
        if sel.select(timeout=0.1):
            chunk = os.read(proc.stdout.fileno(), 65536).decode("utf-8", "replace")
            if not chunk:
                break
            seen += chunk
    sel.close()
    return seen


def _ctrl_c_works() -> None:
    """In the child: SIGINT as a terminal gives it. A suite started in the background of a
    non-interactive shell (`make test &`) hands its children SIGINT *ignored*, and Python then
    rightly keeps ignoring it: the quiz would read on and end at EOF with 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_shows_the_partial_score_and_exits_130(quiz_env, right_answers):
    proc = subprocess.Popen([*quiz_command(), "lstm", "-n", "3", "--seed", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=quiz_env,
                            preexec_fn=_ctrl_c_works)  # noqa: PLW1509 -- resets one signal, takes no lock
    try:
        proc.stdin.write(f"{right_answers('lstm', 3, 2)[0]}\n".encode())
        proc.stdin.flush()
        seen = read_until(proc, "lstm · 2/3", time.monotonic() + 20)
        assert "lstm · 2/3" in seen, seen
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = seen + rest.decode()
    assert proc.returncode == 130
    assert "Stopped after 1 of 3 questions." in out and score_line("en", 1, 1) in out
    assert b"Traceback" not in err and "Traceback" not in out
