"""`quiz`: drill the week's concepts in the terminal (thin: parse -> session -> render -> exit).

Start-up stays about as fast as importing Rich: nothing here (or in seqlab.quiz) imports
torch, numpy or nbformat. Exit codes: 0 done (also at end of input), 1 internal failure or
broken bank, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from seqlab.errors import SeqlabError, UsageError
from seqlab.quiz.bank import (
    Bank,
    Question,
    count_questions,
    find_bank_dir,
    list_topics,
    load_bank,
    load_banks,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from seqlab.quiz.session import Session

__all__ = ["build_parser", "default_lang", "main"]

DEFAULT_COUNT = 10


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error:` line (exit 2), not the usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, "see quiz --help")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def default_lang(environ: dict[str, str] | None = None) -> str:
    """Korean when LANG starts with ``ko`` (ko_KR.UTF-8, ko), English otherwise."""
    env = os.environ if environ is None else environ
    return "ko" if env.get("LANG", "").lower().startswith("ko") else "en"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quiz",
        description="Drill the sequence-models week (RNN, LSTM, GRU, attention, MDN) "
                    "in English or Korean.",
        epilog="Answers can be piped, one per line: quiz lstm -n 3 --seed 1 < answers.txt",
    )
    parser.add_argument("topic", nargs="?", help="a topic from `quiz --list`, or `all`")
    parser.add_argument("--list", action="store_true", help="list topics (the default)")
    parser.add_argument("-n", type=_positive, default=DEFAULT_COUNT, metavar="N",
                        help=f"number of questions (default {DEFAULT_COUNT})")
    parser.add_argument("--lang", choices=("ko", "en"), default=None,
                        help="language (default from LANG: Korean for ko*)")
    parser.add_argument("--seed", type=int, default=None, help="replay a given question order")
    parser.add_argument("--tag", default=None, help="only questions with this tag")
    parser.add_argument("--review", action="store_true",
                        help="only questions whose last answer was wrong")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON on stdout (the quiz goes to stderr)")
    parser.add_argument("--stats", action="store_true", help="your history per topic")
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
    return questions


def _ask_all(session: Session, console: Console, lang: str) -> int | None:
    """Run the question loop; return None when finished, else the exit code of the stop."""
    from rich.markup import escape

    from seqlab.quiz import render
    from seqlab.quiz.session import InvalidAnswer

    echo = not sys.stdin.isatty()
    try:
        while (planned := session.current) is not None:
            render.render_question(console, planned, session.position, session.total, lang)
            while True:
                raw = console.input(render.prompt_markup(planned, lang))
                if echo:
                    console.print(escape(raw), highlight=False)
                try:
                    outcome = session.submit(raw)
                    break
                except InvalidAnswer as invalid:
                    render.render_invalid(console, invalid, lang)
            render.render_outcome(console, outcome, lang)
    except EOFError:
        console.print()
        return 0
    except KeyboardInterrupt:
        console.print()
        return 130
    return None


def _result_json(args: argparse.Namespace, lang: str, seed: int, session: Session,
                 stopped: bool) -> dict[str, Any]:
    from seqlab.quiz.session import expected_input

    score = session.score()
    rows = []
    for number, planned in enumerate(session.planned):
        outcome = session.outcomes[number] if number < len(session.outcomes) else None
        q = planned.question
        rows.append({
            "id": q.id, "topic": q.topic, "kind": q.kind, "tags": list(q.tags),
            "answer": outcome.given if outcome else None,
            "expected": expected_input(planned),
            "correct": outcome.correct if outcome else None,
        })
    return {
        "topic": args.topic, "lang": lang, "seed": seed, "tag": args.tag,
        "review": args.review, "finished": score.finished, "stopped": stopped,
        "score": {"correct": score.correct, "answered": score.answered,
                  "total": score.total, "percent": score.percent},
        "questions": rows,
    }


def _run_quiz(args: argparse.Namespace, directory: Path, lang: str) -> int:
    banks = _load(args.topic, directory)
    from seqlab.quiz import history as hist
    from seqlab.quiz import render
    from seqlab.quiz.session import Session, plan

    console = render.make_console(stderr=args.json)
    notices = render.make_console(stderr=True)
    questions = _select(args.topic, banks, args.tag)
    loaded = hist.load_history()
    if loaded.warning:
        render.render_notice(notices, loaded.warning)
    only_ids = None
    if args.review:
        topics = list(banks) if args.topic == "all" else [args.topic]
        only_ids = hist.missed_ids(loaded.history, topics)
        if not only_ids:
            console.print(render.message(lang, "review.none", topic=args.topic))
            return 0
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    session = Session(plan(questions, n=args.n, seed=seed, tag=args.tag, only_ids=only_ids))
    stop_code = _ask_all(session, console, lang)
    stopped = stop_code is not None
    if session.outcomes:
        results = [(o.planned.question.id, o.planned.question.topic, o.correct)
                   for o in session.outcomes]
        hist.record(loaded.history, args.topic, results, session.total,
                    time.strftime("%Y-%m-%dT%H:%M:%S"))
        warning = hist.save_history(loaded.history)
        if warning:
            render.render_notice(notices, warning)
    extra = (f" -n {args.n}" if args.n != DEFAULT_COUNT else "") + (
        f" --tag {args.tag}" if args.tag else "")
    replay = None if args.review else (args.topic, seed, extra)
    render.render_summary(console, session, lang, stopped=stopped, replay=replay)
    if args.json:
        print(json.dumps(_result_json(args, lang, seed, session, stopped), ensure_ascii=False))
    return stop_code or 0


def _run(args: argparse.Namespace) -> int:
    lang = args.lang or default_lang()
    if args.stats:
        from seqlab.quiz import history as hist
        from seqlab.quiz import render

        loaded = hist.load_history()
        if loaded.warning:
            render.render_notice(render.make_console(stderr=True), loaded.warning)
        stats = hist.topic_stats(loaded.history)
        if args.json:
            print(json.dumps({"topics": [vars(s) for s in stats]}, ensure_ascii=False))
        else:
            render.render_stats(render.make_console(), stats, lang)
        return 0
    directory = find_bank_dir()
    if args.list or args.topic is None:
        counts = {t: count_questions(directory / f"{t}.toml") for t in list_topics(directory)}
        if args.json:
            print(json.dumps({"topics": counts}))
        else:
            from seqlab.quiz import render

            render.render_topics(render.make_console(), counts, lang)
        return 0
    return _run_quiz(args, directory, lang)


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
