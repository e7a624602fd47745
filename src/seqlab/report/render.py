"""Render the class report: one self-contained HTML file (inline CSS and SVG, no network).

Jinja2 with autoescaping on: every string from a submission (student ids, error lines) and from
the feedback data is escaped; only our own SVG charts and the font stack are passed as markup.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from .charts import item_pass_rates_svg, score_histogram_svg
from .data import ClassReport, font_family_css

__all__ = ["LANGS", "TEMPLATES", "render_report", "strings"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGS = ("en", "ko")


@cache
def strings(lang: str) -> dict[str, str]:
    """The page's own labels in `lang` (templates/strings.toml)."""
    table = tomllib.loads((TEMPLATES / "strings.toml").read_text(encoding="utf-8"))
    return {**table["en"], **table.get(lang, {})}


@cache
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def render_report(report: ClassReport) -> str:
    """The report page in the report's language."""
    from markupsafe import Markup

    labels = strings(report.lang)
    histogram = score_histogram_svg(report.scores, report.max_score, labels["score_axis"],
                                    labels["count_axis"])
    items_chart = item_pass_rates_svg([item.title for item in report.items],
                                      [item.rate for item in report.items], labels["rate_axis"]) \
        if report.items else ""
    template = _environment().get_template("report.html.j2")
    return template.render(r=report, t=labels, fonts=Markup(font_family_css()),
                           histogram=Markup(histogram), items_chart=Markup(items_chart))
