"""Everything the quiz draws, with Rich. Bank text is always escaped before it is markup.

Layouts use grids with a hanging indent (choice numbers in their own column) so wrapped
lines, Korean included, stay aligned and readable down to 40 columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from seqlab.quiz.session import InvalidAnswer, Outcome, Planned, Score, Session, expected_input

if TYPE_CHECKING:
    from seqlab.quiz.history import TopicStats

__all__ = [
    "MESSAGES",
    "make_console",
    "message",
    "prompt_markup",
    "render_invalid",
    "render_notice",
    "render_outcome",
    "render_question",
    "render_stats",
    "render_summary",
    "render_topics",
    "score_line",
]

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "topics.title": "Quiz topics",
        "topics.topic": "topic",
        "topics.count": "questions",
        "topics.start": "Start one with [bold]quiz TOPIC[/] (e.g. quiz {example}), "
                        "or [bold]quiz all[/]. Options: -n N, --lang ko|en, --tag TAG, --review.",
        "kind.single": "Choose one number",
        "kind.multi": "Choose every right number (e.g. 1,3)",
        "kind.truefalse": "1 = true, 2 = false",
        "kind.short": "Type the answer",
        "true": "True",
        "false": "False",
        "hint.empty": "Please type an answer (nothing was counted).",
        "hint.not-a-number": "Type a number from 1 to {limit} (nothing was counted).",
        "hint.one-number": "Type just one number from 1 to {limit} (nothing was counted).",
        "hint.out-of-range": "Choose between 1 and {limit} (nothing was counted).",
        "hint.truefalse": "Type 1 (true) or 2 (false) (nothing was counted).",
        "right": "✔ Correct",
        "wrong": "✘ Wrong",
        "answer.was": "The answer: {answer}",
        "summary.title": "Results",
        "summary.question": "question",
        "summary.given": "your answer",
        "summary.result": "result",
        "result.right": "right",
        "result.wrong": "wrong",
        "result.skipped": "—",
        "score": "Score: {correct}/{answered} ({percent}%)",
        "stopped": "Stopped after {answered} of {total} questions.",
        "replay": "Same questions again: quiz {topic} --seed {seed}{extra}",
        "stats.title": "Quiz history",
        "stats.empty": "No quiz history yet. Start with: quiz lstm",
        "stats.topic": "topic",
        "stats.runs": "runs",
        "stats.correct": "right",
        "stats.best": "best",
        "stats.last": "last played",
        "stats.review": "review",
        "review.none": "Nothing to review in {topic}: no question was missed last time.",
    },
    "ko": {
        "topics.title": "퀴즈 주제",
        "topics.topic": "주제",
        "topics.count": "문항 수",
        "topics.start": "[bold]quiz 주제[/] 로 시작하세요 (예: quiz {example}), "
                        "전체는 [bold]quiz all[/]. 옵션: -n N, --lang ko|en, --tag 태그, --review.",
        "kind.single": "번호 하나를 고르세요",
        "kind.multi": "맞는 번호를 모두 고르세요 (예: 1,3)",
        "kind.truefalse": "1 = 참(O), 2 = 거짓(X)",
        "kind.short": "답을 입력하세요",
        "true": "참 (O)",
        "false": "거짓 (X)",
        "hint.empty": "답을 입력해 주세요 (채점되지 않았습니다).",
        "hint.not-a-number": "1부터 {limit} 사이의 숫자를 입력하세요 (채점되지 않았습니다).",
        "hint.one-number": "1부터 {limit} 사이의 숫자 하나만 입력하세요 (채점되지 않았습니다).",
        "hint.out-of-range": "1부터 {limit} 사이에서 고르세요 (채점되지 않았습니다).",
        "hint.truefalse": "1(참) 또는 2(거짓)를 입력하세요 (채점되지 않았습니다).",
        "right": "✔ 정답",
        "wrong": "✘ 오답",
        "answer.was": "정답: {answer}",
        "summary.title": "결과",
        "summary.question": "문제",
        "summary.given": "내 답",
        "summary.result": "결과",
        "result.right": "정답",
        "result.wrong": "오답",
        "result.skipped": "—",
        "score": "점수: {correct}/{answered} ({percent}%)",
        "stopped": "{total}문항 중 {answered}문항에서 멈췄습니다.",
        "replay": "같은 문제 다시 풀기: quiz {topic} --seed {seed}{extra}",
        "stats.title": "퀴즈 기록",
        "stats.empty": "아직 퀴즈 기록이 없습니다. 시작: quiz lstm",
        "stats.topic": "주제",
        "stats.runs": "횟수",
        "stats.correct": "정답",
        "stats.best": "최고",
        "stats.last": "최근",
        "stats.review": "복습",
        "review.none": "{topic}에서 복습할 문제가 없습니다: 지난번에 틀린 문제가 없어요.",
    },
}


def message(lang: str, key: str, **params: object) -> str:
    return MESSAGES[lang][key].format(**params)


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


def render_stats(console: Console, stats: Sequence[TopicStats], lang: str) -> None:
    """One row per topic; the date column is dropped on narrow terminals."""
    if not stats:
        console.print(message(lang, "stats.empty"))
        return
    with_date = console.width >= 56
    table = Table(title=message(lang, "stats.title"), box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    table.add_column(message(lang, "stats.topic"), no_wrap=True)
    for key in ("runs", "correct", "best", "review"):
        table.add_column(message(lang, f"stats.{key}"), justify="right", no_wrap=True)
    if with_date:
        table.add_column(message(lang, "stats.last"), no_wrap=True)
    for s in stats:
        row = [escape(s.topic), str(s.sessions), f"{s.correct}/{s.answered}",
               f"{s.best_percent}%", str(s.to_review)]
        table.add_row(*row, *([escape(s.last_played[:10])] if with_date else []))
    console.print(table)


def render_notice(console: Console, text: str) -> None:
    console.print(f"[yellow]{escape(text)}[/]")
