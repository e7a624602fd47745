"""How fast does `quiz --list` start compared with importing Rich alone? Target: ratio <= 2.

Runs each command several times in fresh interpreters, taking turns (after one warm-up
each, so the file cache is hot for all) and compares the medians. Usage:

    python bench/bench_quiz.py [--runs 15]

Prints the medians and the ratio; exits 1 if the ratio is above the target, so it can be
used in CI, while the unit tests never time anything. Also prints, for information, what
importing the spaced-repetition scheduler (fsrs) adds to a bare interpreter: the quiz loads
it only once a session has an answer to schedule (or --stats has cards to read).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 2.0
REPO = Path(__file__).resolve().parents[1]
BASELINE = [sys.executable, "-c", "import rich.console, rich.prompt, rich.table"]
QUIZ = [sys.executable, "-m", "seqlab.cli.quiz", "--list"]
# A whole run through the first question: stdin at EOF ends it right there.
FIRST_QUESTION = [sys.executable, "-m", "seqlab.cli.quiz", "lstm", "-n", "1", "--seed", "1"]
# `quiz` alone (what is due today): every bank and the history are read first.
DUE_FIRST = [sys.executable, "-m", "seqlab.cli.quiz", "--due", "-n", "1", "--seed", "1"]
BARE = [sys.executable, "-c", "pass"]
FSRS = [sys.executable, "-c", "import fsrs"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("NO_COLOR", "1")
    return env


def median_seconds(cmds: list[list[str]], runs: int, envs: list[dict[str, str]]) -> list[float]:
    """Median wall time of each command; the commands take turns, so a load spike from
    other processes hits all of them alike instead of skewing the ratio."""
    def once(cmd: list[str], env: dict[str, str]) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    for cmd, env in zip(cmds, envs):
        once(cmd, env)  # warm-up: hot file cache for everyone
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for slot, (cmd, env) in enumerate(zip(cmds, envs)):
            times[slot].append(once(cmd, env))
    return [statistics.median(t) for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = _env()
    with tempfile.TemporaryDirectory() as state:
        state_env = {**env, "XDG_STATE_HOME": state}
        base, quiz, first, due, bare, fsrs = median_seconds(
            [BASELINE, QUIZ, FIRST_QUESTION, DUE_FIRST, BARE, FSRS], args.runs,
            [env, env, state_env, state_env, env, env])
    ratio = quiz / base
    print(f"import rich (baseline): {base * 1000:7.1f} ms  (median of {args.runs})")
    print(f"quiz --list:            {quiz * 1000:7.1f} ms  (median of {args.runs})")
    print(f"quiz lstm, 1st question:{first * 1000:7.1f} ms  (ratio {first / base:.2f}, "
          "for information)")
    print(f"quiz --due, 1st question:{due * 1000:6.1f} ms  (ratio {due / base:.2f}, "
          "for information)")
    print(f"import fsrs:            {(fsrs - bare) * 1000:7.1f} ms over a bare interpreter "
          "(loaded only by sessions with answers, for information)")
    verdict = "ok" if ratio <= TARGET else "TOO SLOW"
    print(f"ratio: {ratio:.2f} (target <= {TARGET:g}) {verdict}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
