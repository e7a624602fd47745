"""Per-student feedback (Markdown and HTML): which misconceptions cost which points, and why.

`build_page` turns a result and the assignment's feedback data into plain records (`Page`); two
Jinja2 templates (templates/feedback.md.j2, feedback.html.j2) draw them, English and Korean side
by side (`seqlab grade` has no language option: a student reads the one they prefer). Each rubric
item is shown by its human title (`[items.<test id>]` in graders/feedback/<assignment>.toml,
looked up by `seqlab.report.data.item_title`, the class report's own lookup), its test id kept as
a small reference. Nothing from grader source ever gets here.

Escaping is on by default in both media. HTML: Jinja2's autoescape. Markdown: every `{{ }}`
value passes through `markdown_escape` (one line, every markup character backslash-escaped, so
no forged headings, links or table cells) unless it is wrapped in `Trusted`, which only the
course's own words are (labels, misconception titles, explanations and quiz commands). Text
from a submission is cleaned (`clean_line`: no control characters) before either escaper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from seqlab.report.data import font_family_css, item_title, text_in
from seqlab.text import clean_line, markdown_escape

from ..results import SubmissionResult

__all__ = ["LANGS", "Item", "Page", "Review", "Trusted", "build_page", "render_html", "render_markdown"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGS = ("en", "ko")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


class Trusted(str):
    """Course-authored text that the Markdown template writes as it is (it may hold Markdown)."""


@dataclass(frozen=True)
class Item:
    """One rubric line: the titles are the feedback data's, everything else the result's."""

    id: str
    title: dict[str, str]  # lang -> title
    points: float
    max_points: float
    passed: bool
    message: str
    misconception: str | None


@dataclass(frozen=True)
class Review:
    """One misconception the student showed: what it is, what it cost, what to practise."""

    id: str
    title: dict[str, Trusted]
    explain: dict[str, Trusted]
    quiz: Trusted | None
    items: tuple[Item, ...]

    @property
    def lost(self) -> float:
        return sum(item.max_points - item.points for item in self.items)


@dataclass(frozen=True)
class Page:
    assignment: str
    student: str
    status: str
    score: float
    max_score: float
    error: str
    items: tuple[Item, ...]
    reviews: tuple[Review, ...]
    notes: tuple[str, ...]

    @property
    def passed(self) -> int:
        return sum(item.passed for item in self.items)


def _line(text: object) -> str:
    return clean_line(text, 10**6)


def _titles(entry: dict[str, Any], key: str) -> dict[str, Trusted]:
    return {lang: Trusted(text_in(entry, key, lang)) for lang in LANGS}


def build_page(result: SubmissionResult, assignment: str, data: dict[str, Any]) -> Page:
    """What one student's feedback page shows, in both languages."""
    items = tuple(Item(_line(t.id), {lang: item_title(t.id, data, lang) for lang in LANGS}, t.points,
                       t.max_points, t.passed, _line(t.message or ""), t.misconception)
                  for t in result.tests)
    reviews: list[Review] = []
    for name in dict.fromkeys(i.misconception for i in items if not i.passed and i.misconception):
        entry = data.get(name) if isinstance(data.get(name), dict) else {}
        title = _titles(entry, "title")
        if not title["en"]:
            title = {lang: Trusted(_line(name)) for lang in LANGS}
        quiz = Trusted(_line(entry["quiz"])) if entry.get("quiz") else None
        reviews.append(Review(_line(name), title, _titles(entry, "explain"), quiz,
                              tuple(i for i in items if not i.passed and i.misconception == name)))
    return Page(_line(assignment), _line(result.student), _line(result.status), result.score,
                result.max_score, _line(result.error or ""), items, tuple(reviews),
                tuple(_line(n) for n in result.notes))


@cache
def _labels() -> dict[str, dict[str, Trusted]]:
    """The page's own words (the report's templates/strings.toml) in every language."""
    from seqlab.report.render import strings

    return {lang: {k: Trusted(v) for k, v in strings(lang).items()} for lang in LANGS}


@cache
def _both() -> dict[str, Trusted]:
    """Each label as "English / 한국어", for the Markdown template (which has no macros)."""
    labels = _labels()
    return {key: Trusted(" / ".join(labels[lang][key] for lang in LANGS)) for key in labels["en"]}


def _markdown_value(value: object) -> str:
    """Jinja2's `finalize` for Markdown: escape whatever the course did not write."""
    if value is None:
        return ""
    return value if isinstance(value, Trusted) else markdown_escape(str(value))


def _code_spans(text: str):
    """Course text for HTML: escaped, with its `code spans` as <code> elements."""
    from markupsafe import Markup, escape

    parts = _CODE_SPAN.split(text)
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p)
                           for i, p in enumerate(parts))


@cache
def _environment(html: bool):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=html,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=None if html else _markdown_value)
    env.filters["code_spans"] = _code_spans
    env.filters["num"] = lambda value: Trusted(f"{value:g}")
    return env


def _render(name: str, html: bool, result: SubmissionResult, assignment: str, data: dict[str, Any]) -> str:
    labels = _labels()
    if html:
        from markupsafe import Markup

        extra: dict[str, Any] = {"fonts": Markup(font_family_css())}
    else:
        extra = {"b": _both()}
    template = _environment(html).get_template(name)
    return template.render(p=build_page(result, assignment, data), t=labels, **extra)


def render_markdown(result: SubmissionResult, assignment: str, data: dict[str, Any]) -> str:
    return _render("feedback.md.j2", False, result, assignment, data)


def render_html(result: SubmissionResult, assignment: str, data: dict[str, Any]) -> str:
    return _render("feedback.html.j2", True, result, assignment, data)
