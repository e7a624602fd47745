"""What the student sees: panels with progress, numbered choices, explanations, a score
table; bank text is never interpreted as markup; 40 columns stay readable in both languages."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from seqlab.quiz import render, render_memory
from seqlab.quiz.bank import Choice, Question
from seqlab.quiz.history import TopicStats
from seqlab.quiz.schedule import TopicMemory
from seqlab.quiz.session import Planned, Session, plan


def console(width: int = 40) -> Console:
    return Console(file=io.StringIO(), width=width, record=True, color_system=None,
                   highlight=False)


def lines_of(c: Console) -> list[str]:
    return c.export_text().splitlines()


def assert_fits(c: Console, width: int) -> None:
    too_wide = [line for line in lines_of(c) if cell_len(line) > width]
    assert too_wide == []


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_real_question_fits_in_40_columns(banks, lang):
    c = console(40)
    for bank in banks.values():
        for number, planned in enumerate(plan(bank.questions, seed=1), 1):
            render.render_question(c, planned, number, len(bank.questions), lang)
    assert_fits(c, 40)


def test_a_question_panel_shows_progress_and_numbered_choices(banks):
    c = console(80)
    planned = plan(banks["lstm"].questions, seed=0)[0]
    render.render_question(c, planned, 3, 10, "en")
    text = c.export_text()
    assert "3/10" in text and "lstm" in text
    for number, choice in enumerate(planned.choices, 1):
        assert f"{number}. {choice.text['en'][:20]}" in text


def test_bank_text_that_looks_like_markup_is_printed_literally():
    q = Question(id="m", topic="demo", kind="single", tags=("t",),
                 text={"en": "What is [bold]x[/bold] in out[:, -1]?", "ko": "[red]빨강[/red]?"},
                 explanation={"en": "[link=x]no[/link]", "ko": "설명"}, answer=1,
                 choices=(Choice({"en": "out[-1]", "ko": "out[-1]"}),
                          Choice({"en": "[/]", "ko": "[/]"})))
    c = console(80)
    planned = Planned(q, (1, 2))
    render.render_question(c, planned, 1, 1, "en")
    render.render_outcome(c, Session([planned]).submit("2"), "en")
    text = c.export_text()
    assert "[bold]x[/bold]" in text and "out[:, -1]" in text and "[/]" in text
    assert "[link=x]no[/link]" in text


def test_korean_choices_wrap_under_their_own_text_not_under_the_number():
    q = Question(id="k", topic="demo", kind="single", tags=("t",),
                 text={"en": "q", "ko": "질문"}, explanation={"en": ".", "ko": "."}, answer=1,
                 choices=(Choice({"en": "a", "ko": "가나다라마바사 " * 6}),
                          Choice({"en": "b", "ko": "짧음"})))
    c = console(40)
    render.render_question(c, Planned(q, (1, 2)), 1, 1, "ko")
    body = [line for line in lines_of(c) if "가나다" in line]
    assert len(body) >= 2
    first, second = body[0], body[1]
    assert first.index("가") == second.index("가"), "wrapped Korean lines must stay aligned"
    assert_fits(c, 40)


def test_a_wrong_answer_shows_the_right_one_and_the_explanation(banks):
    planned = plan(banks["mha"].questions, seed=0)[0]
    session = Session([planned])
    right = planned.correct_numbers()
    wrong = "1" if planned.question.kind == "short" or right != (1,) else "2"
    if planned.question.kind == "truefalse":
        wrong = "2" if right == (1,) else "1"
    c = console(80)
    render.render_outcome(c, session.submit(wrong), "en")
    text = c.export_text()
    assert "Wrong" in text and planned.question.explanation["en"][:25] in text


@pytest.mark.parametrize(("lang", "line"), [("en", "Score: 1/2 (50%)"), ("ko", "점수: 1/2 (50%)")])
def test_the_summary_table_lists_each_question_and_ends_with_the_score(banks, lang, line):
    planned = plan(banks["rnn"].questions, n=3, seed=0)
    session = Session(planned)
    from seqlab.quiz.session import expected_input
    session.submit(expected_input(planned[0]))
    session.submit("12345678" if planned[1].question.kind == "short" else
                   str(next(n for n in range(1, 5) if (n,) != planned[1].correct_numbers())))
    c = console(40)
    render.render_summary(c, session, lang, stopped=True)
    out = lines_of(c)
    assert line in out
    assert any("1/2" in ln for ln in out)
    assert_fits(c, 40)


def test_topics_list_shows_counts_and_how_to_start():
    c = console(80)
    render.render_topics(c, {"lstm": 12, "mha": 20}, "en")
    text = c.export_text()
    assert "lstm" in text and "12" in text and "all" in text and "32" in text
    assert "quiz lstm" in text


def test_stats_table_shows_memory_per_topic_and_fits_40_columns():
    runs = [TopicStats("transformer", 2, 10, 7, 80, "2024-05-02T10:00:00", 3)]
    memory = [TopicMemory("transformer", seen=6, total=9, due_today=2, due_week=5,
                          retention=0.873),
              TopicMemory("mdn", seen=1, total=26, due_today=0, due_week=1, retention=None)]
    wide = console(100)
    render_memory.render_stats(wide, memory, runs, "ko")
    text = wide.export_text()
    assert re.search(r"transformer\s+6/9\s+2\s+5\s+87%\s+2\s+7/10\s+2024-05-02", text), text
    assert re.search(r"mdn\s+1/26\s+0\s+1\s+—", text), text
    assert "기억률" in text and "복습" in text
    for lang in ("en", "ko"):
        narrow = console(40)
        render_memory.render_stats(narrow, memory, runs, lang)
        out = narrow.export_text()
        assert "transformer" in out and "87%" in out and "6/9" in out
        assert_fits(narrow, 40)


def test_stats_without_any_history_says_how_to_start():
    c = console(60)
    render_memory.render_stats(c, [TopicMemory("lstm", 0, 25, 0, 0, None)], [], "en")
    assert "No quiz history yet" in c.export_text()
