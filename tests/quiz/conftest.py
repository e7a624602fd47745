"""Fixtures for the quiz tests: the real banks, scripted runs of the `quiz` command, and
the answers a student would type to be right or wrong."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from quiz_helpers import REPO, quiz_command

from seqlab.quiz.bank import Bank, load_banks
from seqlab.quiz.session import Planned, expected_input, plan


@pytest.fixture(scope="session")
def banks() -> dict[str, Bank]:
    return load_banks(REPO / "quizzes")


@pytest.fixture
def quiz_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: private state dir, English locale, no colour, 80 columns."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "SEQLAB_QUIZZES", "LC_ALL", "TERM")}
    src = str(REPO / "src")
    env.update({
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "COLUMNS": "80",
        "LINES": "40",
        "PYTHONPATH": src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
    })
    return env


@pytest.fixture
def run_quiz(quiz_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """run_quiz(*args, answers=[...], env={...}) runs `quiz` with answers piped on stdin."""

    def run(*args: str, answers: Sequence[str] | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        text = "".join(f"{a}\n" for a in answers) if answers is not None else ""
        return subprocess.run([*quiz_command(), *args], input=text, capture_output=True, check=False,
                              text=True, env={**quiz_env, **(env or {})}, timeout=60)

    return run


@pytest.fixture
def planned_for(banks: dict[str, Bank]) -> Callable[..., list[Planned]]:
    """The questions `quiz TOPIC -n N --seed S [--tag T]` will ask, in order."""

    def planned(topic: str, n: int, seed: int, tag: str | None = None) -> list[Planned]:
        chosen = banks.values() if topic == "all" else [banks[topic]]
        questions = [q for bank in chosen for q in bank.questions]
        return plan(questions, n=n, seed=seed, tag=tag)

    return planned


@pytest.fixture
def right_answers(planned_for: Callable[..., list[Planned]]) -> Callable[..., list[str]]:
    def answers(topic: str, n: int, seed: int, tag: str | None = None) -> list[str]:
        return [expected_input(p) for p in planned_for(topic, n, seed, tag)]

    return answers
