"""`quiz`: drill the week's concepts in the terminal (thin: parse -> session -> render -> exit).

`quiz` (or `quiz --due`) asks what FSRS says is due today, then new questions up to a daily
limit; `quiz TOPIC` asks a seeded sample of one bank; `--from-feedback FILE` drills what a
graded feedback file names. Every answer updates the question's spaced-repetition schedule.

Start-up stays about as fast as importing Rich: nothing here (or in seqlab.quiz) imports
torch, numpy or nbformat, and the scheduler (fsrs) loads only once a session has answers to
schedule or `--stats` has cards to read. Exit codes: 0 done (also at end of input), 1
internal failure or broken bank, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from seqlab.errors import SeqlabError, UsageError
from seqlab.quiz.bank import (
    Bank,
    Question,
    QuizError,
    count_questions,
    find_bank_dir,
    list_topics,
    load_bank,
    load_banks,
)

if TYPE_CHECKING:

    from seqlab.quiz.play import Run

__all__ = ["build_parser", "default_lang", "main"]

DEFAULT_COUNT = 10
DEFAULT_NEW = 10  # seqlab.quiz.due.DEFAULT_NEW; not imported so --help stays light


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error:` line (exit 2), not the usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, "see quiz --help")


def _count(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def _positive(text: str) -> int:
    return _count(text, 1)


def _non_negative(text: str) -> int:
    return _count(text, 0)


def default_lang(environ: dict[str, str] | None = None) -> str:
    """Korean when LANG starts with ``ko`` (ko_KR.UTF-8, ko), English otherwise."""
    env = os.environ if environ is None else environ
    return "ko" if env.get("LANG", "").lower().startswith("ko") else "en"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quiz",
        description="Drill the sequence-models week (RNN, LSTM, GRU, attention, MDN) "
                    "in English or Korean, with spaced repetition (FSRS).",
        epilog="Answers can be piped, one per line: quiz lstm -n 3 --seed 1 < answers.txt",
    )
    parser.add_argument("topic", nargs="?",
                        help="a topic from `quiz --list`, or `all`; none: what is due today")
    parser.add_argument("--list", action="store_true", help="list topics")
    parser.add_argument("-n", type=_positive, default=None, metavar="N",
                        help=f"number of questions (default {DEFAULT_COUNT}; "
                             "with --due: no limit)")
    parser.add_argument("--lang", choices=("ko", "en"), default=None,
                        help="language (default from LANG: Korean for ko*)")
    parser.add_argument("--seed", type=int, default=None, help="replay a given question order")
    parser.add_argument("--tag", default=None, help="only questions with this tag")
    parser.add_argument("--review", action="store_true",
                        help="only questions whose last answer was wrong")
    parser.add_argument("--due", action="store_true",
                        help="what is due today (all topics, or TOPIC), then new questions")
    parser.add_argument("--new", type=_non_negative, default=None, metavar="N",
                        help=f"new questions per day in a due session (default {DEFAULT_NEW})")
    parser.add_argument("--from-feedback", type=Path, default=None, metavar="FILE",
                        help="drill the misconceptions named in feedback/STUDENT.md or .html")
    parser.add_argument("--rate", action="store_true",
                        help="after a right answer, ask how hard it felt (schedules it)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON on stdout (the quiz goes to stderr)")
    parser.add_argument("--stats", action="store_true",
                        help="per topic: seen, due today, due this week, retention")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _unknown_topic(topic: str, topics: list[str]) -> UsageError:
    names = [*topics, "all"]
    close = difflib.get_close_matches(topic, names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(names)}"
    return UsageError(f"unknown topic '{topic}'", hint)


def _load(topic: str, directory: Path) -> dict[str, Bank]:
    """Only the banks a run needs: one file for a topic, every file for ``all``."""
    topics = list_topics(directory)
    if topic == "all":
        return load_banks(directory)
    if topic not in topics:
        raise _unknown_topic(topic, topics)
    return {topic: load_bank(directory / f"{topic}.toml")}


def _select(topic: str, banks: dict[str, Bank], tag: str | None) -> list[Question]:
    questions = [q for bank in banks.values() for q in bank.questions]
    if tag is not None:
        tags = sorted({t for q in questions for t in q.tags})
        if tag not in tags:
            close = difflib.get_close_matches(tag, tags, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"tags: {', '.join(tags)}"
            raise UsageError(f"no question in '{topic}' has tag '{tag}'", hint)
        questions = [q for q in questions if tag in q.tags]
    return questions


def _check_options(args: argparse.Namespace) -> None:
    if args.from_feedback is not None and (args.topic or args.tag or args.review or args.due):
        raise UsageError("--from-feedback picks its own questions",
                         "use it without a topic, --tag, --review or --due")
    if args.due and args.review:
        raise UsageError("--due and --review are different sessions", "use one of them")
    due_mode = args.due or (args.topic is None and args.from_feedback is None)
    if args.new is not None and not due_mode:
        raise UsageError("--new sets the new questions per day of a due session",
                         "use it with `quiz` or `quiz --due`")


def _runner(args: argparse.Namespace, lang: str) -> Run:
    from seqlab.quiz.play import Run

    meta = {"topic": args.topic, "tag": args.tag, "review": args.review}
    return Run(lang, to_stderr=args.json, rate=args.rate, seed=args.seed,
               json_meta=meta if args.json else None)


def _run_topic(args: argparse.Namespace, directory: Path, lang: str) -> int:
    banks = _load(args.topic, directory)
    questions = _select(args.topic, banks, args.tag)
    from seqlab.quiz import history as hist
    from seqlab.quiz.session import plan

    run = _runner(args, lang)
    only_ids = None
    if args.review:
        topics = list(banks) if args.topic == "all" else [args.topic]
        only_ids = hist.missed_ids(run.loaded.history, topics)
        if not only_ids:
            run.print("review.none", topic=args.topic)
            return 0
    n = args.n or DEFAULT_COUNT
    planned = plan(questions, n=n, seed=run.seed, only_ids=only_ids)
    extra = (f" -n {n}" if n != DEFAULT_COUNT else "") + (f" --tag {args.tag}" if args.tag else "")
    replay = None if args.review else (args.topic, run.seed, extra)
    return run.play(planned, args.topic, replay=replay)


def _run_due(args: argparse.Namespace, directory: Path, lang: str) -> int:
    topic = args.topic or "all"
    questions = _select(topic, _load(topic, directory), args.tag)
    from seqlab.quiz.due import plan_due
    from seqlab.quiz.render_memory import render_due_header, render_nothing_due

    run = _runner(args, lang)
    new_limit = DEFAULT_NEW if args.new is None else args.new
    due = plan_due(questions, run.loaded.history.questions, run.now, new_limit=new_limit,
                   seed=run.seed, n=args.n)
    if not due.planned:
        render_nothing_due(run.console, due, run.now, lang)
        if args.json:
            print(json.dumps({"mode": "due", "due_today": 0, "new_today": due.new_today,
                              "new_limit": new_limit, "unseen": due.unseen,
                              "next_due": due.next_due.isoformat() if due.next_due else None,
                              "next_count": due.next_count}, ensure_ascii=False))
        return 0
    render_due_header(run.console, due, lang)
    return run.play(due.planned, "due" if topic == "all" else f"{topic} --due", mode="due",
                    upcoming=questions)


def _run_feedback(args: argparse.Namespace, directory: Path, lang: str) -> int:
    from seqlab.quiz.from_feedback import drill_questions, read_feedback
    from seqlab.quiz.render_memory import render_drill_header
    from seqlab.quiz.session import arrange

    path: Path = args.from_feedback
    practices = read_feedback(path)
    run = _runner(args, lang)
    if not practices:
        run.print("feedback.nothing", file=str(path))
        return 0
    drill = drill_questions(practices, load_banks(directory), DEFAULT_COUNT, run.seed)
    for skipped in drill.skipped:
        run.notice(run.message("feedback.skipped", file=str(path), command=skipped.command))
    if not drill.questions:
        raise QuizError(f"{path}: none of its {len(practices)} practice command(s) matches a "
                        "question in the banks", "the banks may be older than the feedback")
    render_drill_header(run.console, str(path), [p.command.removeprefix("quiz ")
                                                 for p in drill.practices], lang)
    planned = arrange(drill.questions[:args.n], random.Random(run.seed))
    return run.play(planned, "feedback", mode="feedback")


def _run_stats(args: argparse.Namespace, lang: str) -> int:
    from seqlab.quiz import history as hist
    from seqlab.quiz import render
    from seqlab.quiz.render_memory import render_stats
    from seqlab.quiz.schedule import overview

    now = datetime.now().astimezone()
    loaded = hist.load_history(now=now)
    if loaded.warning:
        render.render_notice(render.make_console(stderr=True), loaded.warning)
    try:
        banks: dict[str, Bank] | None = load_banks()
    except QuizError:
        banks = None  # the history alone still answers
    totals = {t: len(b.questions) for t, b in banks.items()} if banks is not None else None
    known = {q.id for b in banks.values() for q in b.questions} if banks is not None else None
    runs = hist.topic_stats(loaded.history)
    played = {s.topic for s in runs}
    memory = [m for m in overview(loaded.history, now, totals, known)
              if m.seen or m.topic in played]
    if not args.json:
        render_stats(render.make_console(), memory, runs, lang)
        return 0
    blank = {"sessions": 0, "answered": 0, "correct": 0, "best_percent": 0, "last_played": "",
             "to_review": 0, "seen": 0, "total": None, "due_today": 0, "due_week": 0,
             "retention": None}
    rows: dict[str, dict[str, Any]] = {t: {"topic": t, **blank}
                                       for t in played | {m.topic for m in memory}}
    for row in [*runs, *memory]:
        rows[row.topic].update(vars(row))
    print(json.dumps({"topics": [rows[t] for t in sorted(rows)]}, ensure_ascii=False))
    return 0


def _run(args: argparse.Namespace) -> int:
    lang = args.lang or default_lang()
    if args.stats:
        return _run_stats(args, lang)
    directory = find_bank_dir()
    if args.list:
        counts = {t: count_questions(directory / f"{t}.toml") for t in list_topics(directory)}
        if args.json:
            print(json.dumps({"topics": counts}))
        else:
            from seqlab.quiz import render

            render.render_topics(render.make_console(), counts, lang)
        return 0
    _check_options(args)
    if args.from_feedback is not None:
        return _run_feedback(args, directory, lang)
    if args.topic is None or args.due:
        return _run_due(args, directory, lang)
    return _run_topic(args, directory, lang)


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        return _run(args)
    except SeqlabError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # silences the flush at exit
        return 1
    except Exception as exc:  # the last line of defence: never a traceback
        if debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} (run with --debug for "
              "the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
