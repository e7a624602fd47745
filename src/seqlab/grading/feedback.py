"""Per-student feedback (Markdown and HTML): which misconceptions cost which points, and why.

Text comes from the result (messages the graders chose to show) and the assignment's feedback
data (explanations in English and Korean, and the quiz command that drills each misconception).
Everything from a submission is escaped; nothing from grader source ever gets here. In
Markdown that means one line with every markup character backslash-escaped (no forged
headings, links or table cells); in HTML, `html.escape` of text already free of control characters.
"""

from __future__ import annotations

import html

from seqlab.text import clean_line, markdown_escape

from .results import SubmissionResult

__all__ = ["render_html", "render_markdown"]


def _explanations(result: SubmissionResult, data: dict[str, dict]) -> list[tuple[str, dict]]:
    seen: list[str] = []
    for test in result.tests:
        if not test.passed and test.misconception and test.misconception not in seen:
            seen.append(test.misconception)
    return [(m, data.get(m, {})) for m in seen]


def _text(entry: dict, key: str, lang: str) -> str:
    value = entry.get(key, {})
    return str(value.get(lang, "")) if isinstance(value, dict) else str(value)


def _esc(text: object) -> str:
    return html.escape(clean_line(text, 10**6), quote=True)


def render_markdown(result: SubmissionResult, assignment: str, data: dict[str, dict]) -> str:
    lines = [f"# {assignment}: feedback for {markdown_escape(result.student)}", "",
             f"**Score: {result.score:g} / {result.max_score:g}** (status: {result.status})", ""]
    if result.error:
        lines += [f"> {markdown_escape(result.error)}", ""]
    if result.tests:
        lines += ["| check | points | result |", "|---|---|---|"]
        for test in result.tests:
            verdict = "passed" if test.passed else markdown_escape(test.message or "failed")
            lines.append(f"| {markdown_escape(test.id)} | {test.points:g}/{test.max_points:g} | {verdict} |")
        lines.append("")
    explained = _explanations(result, data)
    if explained:
        lines += ["## What to review / 복습할 내용", ""]
        for misconception, entry in explained:
            title_en, title_ko = _text(entry, "title", "en"), _text(entry, "title", "ko")
            lines.append(f"### {title_en or misconception}" + (f" / {title_ko}" if title_ko else ""))
            for lang in ("en", "ko"):
                body = _text(entry, "explain", lang)
                if body:
                    lines += ["", body]
            if entry.get("quiz"):
                lines += ["", f"Practice / 연습: `{entry['quiz']}`"]
            lines.append("")
    if result.notes:
        lines += ["## Notes on your notebook", ""] + [f"- {markdown_escape(n)}" for n in result.notes] + [""]
    return "\n".join(lines)


def render_html(result: SubmissionResult, assignment: str, data: dict[str, dict]) -> str:
    esc = _esc
    rows = "".join(
        f"<tr class='{'pass' if t.passed else 'fail'}'><td>{esc(t.id)}</td>"
        f"<td>{t.points:g}/{t.max_points:g}</td><td>{esc('passed' if t.passed else t.message or 'failed')}</td></tr>"
        for t in result.tests)
    sections = []
    for misconception, entry in _explanations(result, data):
        title = esc(_text(entry, "title", "en") or misconception)
        title_ko = esc(_text(entry, "title", "ko"))
        bodies = "".join(f"<p lang='{lang}'>{esc(_text(entry, 'explain', lang))}</p>"
                         for lang in ("en", "ko") if _text(entry, "explain", lang))
        quiz = f"<p>Practice / 연습: <code>{esc(str(entry['quiz']))}</code></p>" if entry.get("quiz") else ""
        sections.append(f"<section><h3>{title}{' / ' + title_ko if title_ko else ''}</h3>{bodies}{quiz}</section>")
    notes = "".join(f"<li>{esc(n)}</li>" for n in result.notes)
    error = f"<p class='error'>{esc(result.error)}</p>" if result.error else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(assignment)}: {esc(result.student)}</title>"
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}"
        "td{padding:.2em .6em;border-bottom:1px solid #ddd}.fail td:last-child{color:#a00}"
        ".error{color:#a00}</style></head><body>"
        f"<h1>{esc(assignment)}: feedback for {esc(result.student)}</h1>"
        f"<p><strong>Score: {result.score:g} / {result.max_score:g}</strong> (status: {esc(result.status)})</p>"
        f"{error}<table><tr><th>check</th><th>points</th><th>result</th></tr>{rows}</table>"
        + (f"<h2>What to review / 복습할 내용</h2>{''.join(sections)}" if sections else "")
        + (f"<h2>Notes on your notebook</h2><ul>{notes}</ul>" if notes else "")
        + "</body></html>\n"
    )
