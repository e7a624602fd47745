"""Everything the quiz draws, with Rich. Bank text is always escaped before it is markup.

Layouts use grids with a hanging indent (choice numbers in their own column) so wrapped
lines, Korean included, stay aligned and readable down to 40 columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from seqlab.quiz.messages import MESSAGES, message
from seqlab.quiz.session import InvalidAnswer, Outcome, Planned, Score, Session, expected_input

__all__ = [
    "MESSAGES",
    "make_console",
    "message",
    "prompt_markup",
    "render_invalid",
    "render_notice",
    "render_outcome",
    "render_question",
    "render_summary",
    "render_topics",
    "score_line",
]

def make_console(*, stderr: bool = False) -> Console:
    """Colour only when the terminal allows it (Rich honours NO_COLOR); no auto-highlight."""
    return Console(stderr=stderr, highlight=False, emoji=False)


def score_line(score: Score, lang: str) -> str:
    return message(lang, "score", correct=score.correct, answered=score.answered,
                   percent=score.percent)


def prompt_markup(planned: Planned, lang: str) -> str:
    return f"[bold cyan]{escape(message(lang, 'kind.' + planned.question.kind))}[/] › "


def render_topics(console: Console, counts: Mapping[str, int], lang: str) -> None:
    table = Table(title=message(lang, "topics.title"), box=box.SIMPLE_HEAD)
    table.add_column(message(lang, "topics.topic"), style="bold")
    table.add_column(message(lang, "topics.count"), justify="right")
    for topic, count in counts.items():
        table.add_row(escape(topic), str(count))
    table.add_row("all", str(sum(counts.values())), style="dim")
    console.print(table)
    example = "lstm" if "lstm" in counts else next(iter(counts), "all")
    console.print(message(lang, "topics.start", example=escape(example)))


def _choice_texts(planned: Planned, lang: str) -> list[str]:
    if planned.question.kind == "truefalse":
        return [message(lang, "true"), message(lang, "false")]
    return [choice.text[lang] for choice in planned.choices]


def render_question(console: Console, planned: Planned, position: int, total: int,
                    lang: str) -> None:
    q = planned.question
    parts: list[object] = [Text.from_markup(escape(q.text[lang]))]
    if q.code:
        parts.append(Padding(Text(q.code.rstrip("\n"), style="bold"), (1, 0, 0, 2)))
    texts = _choice_texts(planned, lang)
    if texts:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", style="bold cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        for number, text in enumerate(texts, 1):
            grid.add_row(f"{number}.", escape(text))
        parts.append(Padding(grid, (1, 0, 0, 0)))
    title = f"[bold]{escape(q.topic)}[/] · {position}/{total}"
    console.print()
    console.print(Panel(Group(*parts), title=title, title_align="left",
                        subtitle=escape(_fitting_tags(q.tags, console.width - 6)),
                        subtitle_align="right", border_style="blue", padding=(0, 1)))


def _fitting_tags(tags: Sequence[str], room: int) -> str:
    """Up to two tags for the panel's bottom border, dropping those that would not fit."""
    shown: list[str] = []
    for tag in tags[:2]:
        if len(" ".join([*shown, tag])) <= room:
            shown.append(tag)
    return " ".join(shown)


def render_invalid(console: Console, error: InvalidAnswer, lang: str) -> None:
    console.print(f"[yellow]{escape(message(lang, 'hint.' + error.code, limit=error.limit))}[/]")


def _answer_text(planned: Planned, lang: str) -> str:
    expected = expected_input(planned)
    if planned.question.kind == "short":
        return expected
    texts = _choice_texts(planned, lang)
    return "; ".join(f"{n}. {texts[n - 1]}" for n in planned.correct_numbers())


def render_outcome(console: Console, outcome: Outcome, lang: str) -> None:
    q = outcome.planned.question
    if outcome.correct:
        console.print(f"[bold green]{message(lang, 'right')}[/]")
    else:
        answer = escape(_answer_text(outcome.planned, lang))
        console.print(f"[bold red]{message(lang, 'wrong')}[/] · "
                      f"{escape(message(lang, 'answer.was', answer=''))}[bold]{answer}[/]")
    console.print(Padding(Text.from_markup(escape(q.explanation[lang]), style="italic"),
                          (0, 0, 0, 2)))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0]


def render_summary(console: Console, session: Session, lang: str, *, stopped: bool,
                   replay: tuple[str, int, str] | None = None) -> None:
    table = Table(title=message(lang, "summary.title"), box=box.SIMPLE_HEAD, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column(message(lang, "summary.question"), ratio=1, no_wrap=True,
                     overflow="ellipsis")
    table.add_column(message(lang, "summary.given"), max_width=14, overflow="ellipsis",
                     no_wrap=True)
    table.add_column(message(lang, "summary.result"), no_wrap=True)
    for number, planned in enumerate(session.planned, 1):
        text = escape(_first_line(planned.question.text[lang]))
        if number <= len(session.outcomes):
            outcome = session.outcomes[number - 1]
            if outcome.correct:
                result = f"[green]✔ {message(lang, 'result.right')}[/]"
            else:
                result = f"[red]✘ {message(lang, 'result.wrong')}[/]"
            table.add_row(str(number), text, escape(outcome.given), result)
        elif stopped:
            table.add_row(str(number), text, "", message(lang, "result.skipped"), style="dim")
    console.print()
    console.print(table)
    score = session.score()
    if stopped and not score.finished:
        console.print(escape(message(lang, "stopped", answered=score.answered,
                                     total=score.total)))
    console.print(f"[bold]{escape(score_line(score, lang))}[/]")
    if replay is not None:
        topic, seed, extra = replay
        console.print(f"[dim]{escape(message(lang, 'replay', topic=topic, seed=seed, extra=extra))}[/]")


def render_notice(console: Console, text: str) -> None:
    console.print(f"[yellow]{escape(text)}[/]")
