"""The report's charts, drawn by matplotlib (imported only when a report is drawn) as SVG.

Text stays text (`svg.fonttype = none`), so the browser draws labels with the page's font stack
and Korean axis labels render with whatever Hangul font the reader has. Only numbers and our
own labels reach a chart, never text from a submission.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FONT_STACK", "item_pass_rates_svg", "score_histogram_svg"]

FONT_STACK = ("Noto Sans KR", "Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic", "DejaVu Sans",
              "sans-serif")
_ACCENT, _MUTED = "#2b6cb0", "#c53030"

_RC = {"svg.fonttype": "none", "font.family": "sans-serif", "font.sans-serif": list(FONT_STACK[:-1]),
       "font.size": 10, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "seqlab-report"}


def _draw(name: str, width: float, height: float, plot: Callable[[Any], None]) -> str:
    """`plot(axes)` on a fresh figure, returned as inline SVG with ids prefixed by `name`.

    A Figure of our own, not pyplot: no global state and no GUI backend is ever chosen.
    """
    import matplotlib
    from matplotlib.figure import Figure

    buffer = io.StringIO()
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a Hangul label measured with a Latin-only font still renders
        figure = Figure(figsize=(width, height))
        plot(figure.add_subplot())
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)  # RDF boilerplate
    text = re.sub(r'\bid="', f'id="{name}-', text)  # ids unique across the page's SVGs
    text = re.sub(r'(url\(#|xlink:href="#|href="#)', rf"\1{name}-", text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)


def score_histogram_svg(scores: Sequence[float], max_score: float, xlabel: str, ylabel: str) -> str:
    """How many students got each score band, 0 to the maximum."""
    top = max(max_score, max(scores, default=0.0), 1.0)

    def plot(axes: Any) -> None:
        axes.hist(list(scores), bins=max(1, min(20, math.ceil(top))), range=(0.0, top), color=_ACCENT,
                  edgecolor="white")
        axes.set_xlim(0.0, top)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.yaxis.get_major_locator().set_params(integer=True)

    return _draw("score-histogram", 6.4, 2.6, plot)


def item_pass_rates_svg(labels: Sequence[str], rates: Sequence[float], xlabel: str) -> str:
    """One horizontal bar per rubric item: the share of graded students who passed it."""
    positions = list(range(len(labels)))

    def plot(axes: Any) -> None:
        axes.barh(positions, [100.0 * r for r in rates], color=[_ACCENT if r >= 0.5 else _MUTED for r in rates])
        axes.set_yticks(positions, [str(i + 1) for i in positions])  # the table's numbering
        axes.invert_yaxis()
        axes.set_xlim(0, 100)
        axes.set_xlabel(xlabel)

    return _draw("item-pass-rates", 6.4, 0.8 + 0.28 * max(1, len(labels)), plot)
