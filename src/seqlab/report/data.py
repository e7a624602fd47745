"""What the class report shows, as plain records: built from results.json and the feedback data.

No drawing here and no heavy import: `seqlab grade`'s terminal summary uses `rank_misconceptions`
too. A misconception's share is the fraction of the whole class (every submission, graded or
not) whose failed rubric items named it; each student counts once per misconception.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from seqlab.errors import SeqlabError, UsageError

if TYPE_CHECKING:
    from seqlab.grading.assignments import Assignment

__all__ = ["ITEMS_TABLE", "ClassReport", "ItemStat", "MisconceptionStat", "SlowSubmission", "StudentLink",
           "build_report", "cause_titles", "feedback_file", "font_family_css", "item_entry", "item_title", "load_results",
           "rank_misconceptions", "text_in"]

STATUSES = ("graded", "invalid", "error", "timeout")
# graders/feedback/<assignment>.toml: [items.<test id>] holds a rubric item's title (en, ko); every
# other top-level table is a misconception
ITEMS_TABLE = "items"
SLOWEST = 10


@dataclass(frozen=True)
class StudentLink:
    student: str
    href: str  # relative to the report: feedback/<file>.html


@dataclass(frozen=True)
class ItemStat:
    id: str
    title: str
    max_points: float
    passed: int
    graded: int

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class MisconceptionStat:
    id: str
    title: str
    explain: str
    quiz: str | None
    students: tuple[StudentLink, ...]
    share: float


@dataclass(frozen=True)
class SlowSubmission:
    student: StudentLink
    seconds: float | None
    status: str


@dataclass(frozen=True)
class NotGraded:
    student: StudentLink
    status: str
    reason: str


@dataclass(frozen=True)
class ClassReport:
    assignment: str
    lang: str
    max_score: float
    scores: tuple[float, ...]
    status_counts: dict[str, int]
    items: tuple[ItemStat, ...]
    misconceptions: tuple[MisconceptionStat, ...]
    slowest: tuple[SlowSubmission, ...]
    timed: bool  # results.json recorded per-submission seconds
    not_graded: tuple[NotGraded, ...]
    notes: tuple[str, ...] = ()

    @property
    def students(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0


def text_in(entry: dict[str, Any], key: str, lang: str) -> str:
    """A feedback field in `lang`, falling back to English (or a plain string)."""
    value = entry.get(key, "")
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or "")
    return str(value)


def feedback_file(submission: dict[str, Any]) -> str:
    """The name of a student's feedback page, as the results writer chose it.

    results.json names it when the writer records one (`feedback`/`feedback_html`); otherwise
    the writer's own rule applies: `<student>.html`.
    """
    for key in ("feedback_html", "feedback"):
        value = submission.get(key)
        if isinstance(value, str) and value:
            return Path(value).name if value.endswith(".html") else f"{Path(value).name}.html"
    return f"{submission['student']}.html"


def _link(submission: dict[str, Any]) -> StudentLink:
    return StudentLink(str(submission["student"]), "feedback/" + quote(feedback_file(submission)))


def load_results(out_dir: Path) -> dict[str, Any]:
    """OUT_DIR/results.json, checked for the fields the report reads."""
    path = out_dir / "results.json"
    if not path.is_file():
        raise UsageError(f"no results.json in {out_dir}", "run `seqlab grade ASSIGNMENT PATH --out "
                                                          f"{out_dir}` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        subs = data["submissions"]
        assert isinstance(data["assignment"], str) and isinstance(subs, list)
        for sub in subs:
            assert isinstance(sub["student"], str) and isinstance(sub["status"], str)
            float(sub["score"]), float(sub["max_score"])
            assert all(isinstance(t["id"], str) for t in sub.get("tests") or [])
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise SeqlabError(f"{path} is not a seqlab results file",
                          "re-run `seqlab grade` to rebuild it") from None
    return data


def _failed_misconceptions(submission: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for test in submission.get("tests") or []:
        name = test.get("misconception")
        if not test.get("passed") and name and name not in seen:
            seen.append(str(name))
    return seen


def rank_misconceptions(submissions: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Misconception ids with the submissions that showed them, most common first (ties by id)."""
    who: dict[str, list[dict[str, Any]]] = {}
    for sub in submissions:
        for name in _failed_misconceptions(sub):
            who.setdefault(name, []).append(sub)
    return sorted(who.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def item_entry(item_id: str, feedback: dict[str, Any]) -> dict[str, Any]:
    """The rubric item's table in the feedback data (`[items.<test id>]`), or {} when it has none."""
    table = feedback.get(ITEMS_TABLE)
    entry = table.get(item_id) if isinstance(table, dict) else None
    return entry if isinstance(entry, dict) else {}


def item_title(item_id: str, feedback: dict[str, Any], lang: str) -> str:
    """The rubric item's human title in `lang` (English when that is missing), else its id in words.

    The one lookup behind the class report, the students' feedback pages and the platform exports.
    """
    title = text_in(item_entry(item_id, feedback), "title", lang)
    if title:
        return title
    words = item_id.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def cause_titles(assignment: Assignment) -> dict[str, str]:
    """English titles of the assignment's misconception ids and rubric items: what the grading
    plugin's "same cause as ..." messages (written in English, like every grader message) say."""
    titles = {item.id: item_title(item.id, assignment.feedback, "en") for item in assignment.rubric}
    for key, entry in assignment.feedback.items():
        title = text_in(entry, "title", "en") if isinstance(entry, dict) else ""
        if title and key != ITEMS_TABLE:
            titles[key] = title
    return titles


def font_family_css() -> str:
    """The CSS `font-family` of every seqlab page: the charts' stack, which covers Hangul."""
    from .charts import FONT_STACK

    return ", ".join(name if name == "sans-serif" else f'"{name}"' for name in FONT_STACK)


def _items(submissions: list[dict[str, Any]], rubric: list[tuple[str, float]], feedback: dict[str, dict],
           lang: str) -> tuple[ItemStat, ...]:
    order = [item_id for item_id, _ in rubric]
    points = dict(rubric)
    passed: Counter[str] = Counter()
    graded: Counter[str] = Counter()
    for sub in submissions:
        if sub["status"] != "graded":
            continue
        for test in sub.get("tests") or []:
            graded[test["id"]] += 1
            passed[test["id"]] += bool(test.get("passed"))
            if test["id"] not in points:
                order.append(test["id"])
                points[test["id"]] = float(test.get("max_points") or 0.0)
    return tuple(ItemStat(i, item_title(i, feedback, lang), points[i], passed[i], graded[i]) for i in order)


def build_report(results: dict[str, Any], feedback: dict[str, dict], lang: str = "en",
                 rubric: list[tuple[str, float]] | None = None, notes: tuple[str, ...] = ()) -> ClassReport:
    """The report's content from a results.json dict and the assignment's feedback data."""
    subs = list(results["submissions"])
    n = len(subs)
    statuses = Counter(sub["status"] for sub in subs)
    ranked = []
    for name, showed in rank_misconceptions(subs):
        entry = feedback.get(name, {}) if isinstance(feedback.get(name), dict) else {}
        ranked.append(MisconceptionStat(name, text_in(entry, "title", lang) or name,
                                        text_in(entry, "explain", lang), entry.get("quiz") or None,
                                        tuple(_link(s) for s in showed), len(showed) / n if n else 0.0))
    timed = any(isinstance(s.get("seconds"), (int, float)) for s in subs)
    if timed:
        slow = sorted((s for s in subs if isinstance(s.get("seconds"), (int, float))),
                      key=lambda s: (-float(s["seconds"]), s["student"]))[:SLOWEST]
    else:
        slow = [s for s in subs if s["status"] == "timeout"][:SLOWEST]
    return ClassReport(
        assignment=str(results["assignment"]), lang=lang,
        max_score=float(results.get("max_score") or (subs[0]["max_score"] if subs else 0.0)),
        scores=tuple(float(s["score"]) for s in subs),
        status_counts={status: statuses.get(status, 0)
                       for status in (*STATUSES, *sorted(set(statuses) - set(STATUSES)))},
        items=_items(subs, rubric or [], feedback, lang),
        misconceptions=tuple(ranked),
        slowest=tuple(SlowSubmission(_link(s), float(s["seconds"]) if timed else None, s["status"])
                      for s in slow),
        timed=timed,
        not_graded=tuple(NotGraded(_link(s), s["status"], str(s.get("error") or s["status"]))
                         for s in subs if s["status"] != "graded"),
        notes=notes)
