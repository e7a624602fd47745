"""`quiz lstm` in a real terminal: tmux types the answers and reads the screen.

The test starts its own tmux server on a private socket (`tmux -L <unique name>`) with no
user config, and kills only that server at the end. Without tmux it is skipped (`make test`
installs tmux when it can).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from quiz_helpers import quiz_command, seed_history, wrong_for, wrong_input
from rich.cells import cell_len

from seqlab.quiz.session import expected_input

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (`make tools` "
                                "installs it); the real-terminal quiz test needs it")
TOPIC, N, SEED = "lstm", 2, 4
EXIT_MARK = "[quiz exited with"


class Terminal:
    """One tmux session on a private server: type into it and read its screen."""

    def __init__(self, socket: str, session: str) -> None:
        self.socket, self.session = socket, session

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX, "-u", "-L", self.socket, "-f", os.devnull, *args],
                              capture_output=True, text=True, timeout=20, check=False)

    def type_line(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)
        self.tmux("send-keys", "-t", self.session, "Enter")

    def screen(self) -> str:
        """Everything printed so far (scroll-back included), wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.session).stdout

    def wait_for(self, marker: str, after: int = 0, timeout: float = 30.0) -> str:
        """Wait until `marker` shows up past character `after` of the screen; return it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if marker in screen[after:]:
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"{marker!r} never appeared on the terminal; it shows:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def start_quiz(quiz_env: dict[str, str]) -> Iterator[Callable[..., Terminal]]:
    """start_quiz(*args, width=80) runs `quiz *args` in a fresh private tmux server."""
    started: list[Terminal] = []

    def start(*args: str, width: int = 80) -> Terminal:
        socket = f"seqlab-quiz-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        term = Terminal(socket, "quiz")
        env = {**quiz_env, "TERM": "xterm-256color"}
        env.pop("NO_COLOR")  # a real terminal gets colour; capture-pane drops the escapes
        env.pop("COLUMNS")   # the terminal's own size decides the layout
        env.pop("LINES")
        command = " ".join(shlex.quote(word) for word in [
            "env", "-i", *(f"{k}={v}" for k, v in sorted(env.items())), *quiz_command(), *args])
        # The shell keeps the pane open after the quiz exits so its last screen can be read;
        # it traps Ctrl-C (the quiz itself still gets the default SIGINT) to survive one.
        script = f'trap : INT; {command}; echo "{EXIT_MARK} $?]"; sleep 600'
        done = term.tmux("new-session", "-d", "-s", term.session, "-x", str(width),
                         "-y", "50", "sh", "-c", script)
        assert done.returncode == 0, done.stderr
        started.append(term)
        return term

    try:
        yield start
    finally:
        for term in started:
            socket_path = term.tmux("display-message", "-p", "#{socket_path}").stdout.strip()
            term.tmux("kill-server")  # our private servers only
            if socket_path.endswith(term.socket):  # tmux leaves the socket file behind
                Path(socket_path).unlink(missing_ok=True)


def test_quiz_lstm_in_a_real_terminal(start_quiz, planned_for):
    first, second = planned_for(TOPIC, N, SEED)
    terminal = start_quiz(TOPIC, "-n", str(N), "--seed", str(SEED), "--lang", "en")

    screen = terminal.wait_for(f"{TOPIC} · 1/{N}")
    assert first.question.text["en"].split()[0] in screen
    terminal.type_line(expected_input(first))
    screen = terminal.wait_for("✔ Correct")

    mark = screen.index("✔ Correct")
    screen = terminal.wait_for(f"{TOPIC} · 2/{N}", after=mark)
    terminal.type_line(wrong_input(second))
    screen = terminal.wait_for("✘ Wrong", after=mark)
    shown = " ".join(screen[mark:].split())
    assert "The answer:" in shown
    explanation = " ".join(second.question.explanation["en"].split()[:5])
    assert explanation in shown, f"explanation not shown:\n{screen}"

    screen = terminal.wait_for(EXIT_MARK)
    assert f"{EXIT_MARK} 0]" in screen
    final = screen[screen.index("Results"):]
    assert "Score: 1/2 (50%)" in final
    assert "✔ right" in final and "✘ wrong" in final
    assert "Traceback" not in screen


def test_korean_at_40_columns_in_a_real_terminal(start_quiz, right_answers):
    """Korean is two cells wide: the panels' right borders still line up in column 40."""
    answers = right_answers("mha", 3, 6)
    terminal = start_quiz("mha", "-n", "3", "--seed", "6", "--lang", "ko", width=40)
    mark = 0
    for number, answer in enumerate(answers, 1):
        screen = terminal.wait_for(f"mha · {number}/3", after=mark)
        mark = screen.index(f"mha · {number}/3", mark)
        terminal.type_line(answer)
    screen = terminal.wait_for(EXIT_MARK)
    assert f"{EXIT_MARK} 0]" in screen and "점수: 3/3 (100%)" in screen
    lines = [line.rstrip() for line in
             terminal.tmux("capture-pane", "-p", "-S", "-", "-t", "quiz").stdout.splitlines()]
    panel = [line for line in lines if line and line[0] in "╭│╰"]
    assert len(panel) > 3 * 4
    assert [line for line in panel if cell_len(line) != 40 or line[-1] not in "╮│╯"] == []


def test_ctrl_c_in_a_real_terminal_shows_the_partial_score_and_exits_130(start_quiz,
                                                                          right_answers):
    answers = right_answers(TOPIC, 3, 2)
    terminal = start_quiz(TOPIC, "-n", "3", "--seed", "2", "--lang", "en")
    terminal.wait_for(f"{TOPIC} · 1/3")
    terminal.type_line(answers[0])
    terminal.wait_for(f"{TOPIC} · 2/3")
    terminal.tmux("send-keys", "-t", "quiz", "C-c")
    screen = terminal.wait_for(EXIT_MARK)
    assert f"{EXIT_MARK} 130]" in screen
    assert "Stopped after 1 of 3 questions." in screen and "Score: 1/1 (100%)" in screen
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen


def test_a_due_review_session_in_a_real_terminal(start_quiz, run_quiz, quiz_env, banks):
    """`quiz --due`: the most overdue question first; a miss comes back tomorrow, and the
    next `quiz` says nothing is due and when the next review is."""
    overdue, recent = banks["mha"].questions[0].id, banks["lstm"].questions[0].id
    seed_history(quiz_env, {overdue: ("mha", "again", timedelta(days=6)),
                            recent: ("lstm", "again", timedelta(days=2))})
    # the same seed shows the same choice order: the JSON run says what to type
    probe = json.loads(run_quiz("--due", "--new", "0", "--seed", "3", "--json",
                                answers=[]).stdout)["questions"]
    assert [q["id"] for q in probe] == [overdue, recent]

    terminal = start_quiz("--due", "--new", "0", "--seed", "3", "--lang", "en")
    screen = terminal.wait_for("mha · 1/2")
    assert "Due today: 2 to review, 0 new" in " ".join(screen.split())
    terminal.type_line(wrong_for(probe[0]))
    screen = terminal.wait_for("✘ Wrong")
    mark = screen.index("✘ Wrong")
    terminal.wait_for("lstm · 2/2", after=mark)
    terminal.type_line(probe[1]["expected"])
    terminal.wait_for("✔ Correct", after=mark)
    screen = terminal.wait_for(EXIT_MARK)
    assert f"{EXIT_MARK} 0]" in screen
    final = " ".join(screen[screen.index("Results"):].split())
    assert "Score: 1/2 (50%)" in final
    assert "Next review:" in final and "(tomorrow), 1 question(s)." in final

    again = start_quiz("--new", "0", "--lang", "ko")
    screen = " ".join(again.wait_for(EXIT_MARK).split())
    assert "오늘 복습할 문제가 없습니다." in screen and "다음 복습:" in screen and "(내일)" in screen
    assert f"{EXIT_MARK} 0]" in screen and "Traceback" not in screen
