"""A student's feedback page (Markdown and HTML, from the Jinja2 templates of seqlab.grading.feedback).

Every rubric item of every assignment has a human title in English and Korean (`[items.<test id>]`
in graders/feedback/<assignment>.toml; the assignments and their items are found as the engine
finds them); the pages and the class report show those titles through one lookup, the test id
only as a small reference; anything from a submission is escaped in both media; both pages name
a font stack that covers Hangul. A real grading run in a browser: tests/test_report_browser.py.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest
from seqlab_testing import REPO

from seqlab.grading.assignments import available, load_assignment
from seqlab.grading.feedback import build_page, render_html, render_markdown
from seqlab.grading.results import SubmissionResult
from seqlab.grading.results import TestResult as Line  # not a pytest class
from seqlab.report.data import ITEMS_TABLE, build_report, item_entry, item_title
from seqlab.report.render import render_report

ASSIGNMENTS = available(REPO / "graders")
HANGUL = re.compile("[\uac00-\ud7a3]")
HANGUL_FONTS = ('"Noto Sans KR"', '"Noto Sans CJK KR"', '"Apple SD Gothic Neo"', '"Malgun Gothic"')
MHA = load_assignment("mha", REPO)
FAILED = {"attention_rows_sum_to_one": "rows sum over the queries",
          "padding_mask_keeps_ones": "the mask hides the ones",
          "causal_mask_keeps_ones": "the causal mask hides the past"}
HOSTILE = "<img src=x onerror=alert(1)> | [click here](http://127.0.0.1/) `x` *y* <script>z</script>"


def graded(student: str = "alice", failed: dict[str, str] = FAILED, **changes) -> SubmissionResult:
    """An mha result whose `failed` items lost their points with the given messages."""
    lines = [Line(i.id, 0.0 if i.id in failed else i.points, i.points, i.id not in failed,
                  failed.get(i.id), i.misconception) for i in MHA.rubric]
    result = SubmissionResult(student, f"{student}.py", "graded", sum(t.points for t in lines),
                              MHA.max_score, None, lines)
    return replace(result, **changes)


def test_the_engine_finds_all_five_assignments():
    assert {"mha", "mdn", "lstm", "gru", "vit"} <= set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_rubric_item_has_an_english_and_a_korean_title(assignment: str):
    loaded = load_assignment(assignment, REPO)
    missing = []
    for item in loaded.rubric:
        title = item_entry(item.id, loaded.feedback).get("title")
        en, ko = (title.get(lang, "") if isinstance(title, dict) else "" for lang in ("en", "ko"))
        if not en.strip() or not HANGUL.search(ko) or HANGUL.search(en) or en == ko:
            missing.append(item.id)
    assert loaded.rubric and not missing, (
        f"graders/feedback/{assignment}.toml: add [{ITEMS_TABLE}.<id>] title = {{ en = \"...\", ko = \"...\" }} "
        f"for {missing}")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_title_is_left_for_an_item_the_grader_no_longer_has(assignment: str):
    loaded = load_assignment(assignment, REPO)
    stale = set(loaded.feedback.get(ITEMS_TABLE, {})) - {item.id for item in loaded.rubric}
    assert not stale, f"graders/feedback/{assignment}.toml: [{ITEMS_TABLE}.*] for unknown items {sorted(stale)}"


def test_the_page_the_report_and_the_exports_share_one_title_lookup():
    item = "attention_rows_sum_to_one"
    titles = {lang: item_title(item, MHA.feedback, lang) for lang in ("en", "ko")}
    assert titles == {"en": "Attention rows sum to 1 over the keys", "ko": "어텐션의 각 행은 키 축으로 합이 1"}
    page = build_page(graded(), "mha", MHA.feedback)
    assert next(i for i in page.items if i.id == item).title == titles
    results = {"assignment": "mha", "submissions": [{"student": "alice", "status": "graded", "score": 1.0,
                                                     "max_score": 2.0, "tests": []}]}
    for lang, title in titles.items():
        report = build_report(results, MHA.feedback, lang, [(item, 2.0)])
        assert report.items[0].title == title and title in render_report(report)


def test_an_item_without_a_title_falls_back_to_its_id_in_words():
    assert item_title("attention_rows_sum_to_one", {}, "ko") == "Attention rows sum to one"


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_each_item_shows_both_titles_and_its_id_only_as_a_reference(render):
    page = render(graded(), "mha", MHA.feedback)
    markdown = render is render_markdown
    plain = page.replace("\\", "") if markdown else html.unescape(page)  # escaped ( ) _ or '
    for item in MHA.rubric:
        entry = MHA.feedback[ITEMS_TABLE][item.id]["title"]
        assert entry["en"] in plain and entry["ko"] in plain, item.id
        shown_id = item.id.replace("_", "\\_") if markdown else item.id
        reference = f"<sub>test id: {shown_id}</sub>" if markdown else f'<span class="id">test id: {shown_id}</span>'
        assert reference in page
        anywhere = re.findall(rf"(?<![\w\\]){re.escape(shown_id)}(?![\w\\])", page)
        assert len(anywhere) == 1, item.id  # the id appears only in its reference


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_each_misconception_is_explained_once_in_both_languages_with_what_it_cost(render):
    page = render(graded(), "mha", MHA.feedback)
    for name in ("softmax-dim", "mask-polarity"):
        entry = MHA.feedback[name]
        assert page.count(entry["title"]["en"]) == 1 and entry["title"]["ko"] in page
        assert entry["quiz"] in page
    assert "Points lost on" in page and "감점된 항목" in page and "−2" in page
    assert page.index("What to review") < page.index("Rubric")  # what to do first, the table after
    assert MHA.feedback["no-scaling"]["title"]["en"] not in page  # not charged: not explained


def test_markdown_explanations_keep_the_courses_markdown_but_nothing_from_a_submission_is_markup():
    page = render_markdown(graded(failed={"attention_rows_sum_to_one": HOSTILE}, student=HOSTILE,
                                      error=HOSTILE, notes=[HOSTILE]), "mha", MHA.feedback)
    assert "`quiz mha --tag softmax-dim`" in page
    assert [line for line in page.splitlines() if line.startswith("#") and not line.startswith("##")] == [
        page.splitlines()[0]]
    assert not re.search(r"(?<!\\)<(img|script)", page) and "\\<img src=x" in page
    for raw in ("[click here](", "`x`", "*y*"):
        assert raw not in page, raw
    rows = 2 + len(MHA.rubric)
    assert page.count("|") - page.count("\\|") == 4 * rows  # only the table's own bars


def test_html_escapes_everything_from_a_submission():
    page = render_html(graded(failed={"attention_rows_sum_to_one": HOSTILE}, student=HOSTILE,
                              error=HOSTILE, notes=[HOSTILE]), "mha", MHA.feedback)
    assert "<img" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;z&lt;/script&gt;" in page


def test_a_title_in_the_feedback_data_cannot_break_the_markdown_table():
    data = {**MHA.feedback, ITEMS_TABLE: {"attention_rows_sum_to_one": {"title": {"en": "a | b", "ko": "<b>가</b>"}}}}
    page = render_markdown(graded(), "mha", data)
    assert page.count("|") - page.count("\\|") == 4 * (2 + len(MHA.rubric))
    assert "\\<b\\>가\\</b\\>" in page
    assert "<b>" not in render_html(graded(), "mha", data)


def test_a_submission_that_was_not_graded_says_so_in_both_languages():
    failed = SubmissionResult.failed("bob", "bob.py", "error", "SyntaxError: invalid syntax (cell 2, line 1)",
                                     MHA.max_score)
    for render in (render_markdown, render_html):
        page = render(failed, "mha", MHA.feedback)
        assert "Your submission could not be graded" in page and "제출물을 채점할 수 없습니다" in page
        assert "SyntaxError: invalid syntax" in page and "What to review" not in page


def test_full_marks_say_so():
    page = render_html(graded(failed={}), "mha", MHA.feedback)
    assert "Every rubric item passed" in page and "모든 채점 항목을 통과했습니다" in page
    assert "What to review" not in page


def test_korean_text_is_marked_korean_in_the_html():
    page = render_html(graded(), "mha", MHA.feedback)
    korean = re.findall(r'<(?:span|p) [^>]*lang="ko"[^>]*>([^<]*)', page)
    assert MHA.feedback["softmax-dim"]["explain"]["ko"].split("`")[0][:20] in " ".join(korean)
    assert any("어텐션의 각 행은 키 축으로 합이 1" in text for text in korean)


def _font_family(page: str) -> str:
    match = re.search(r"body\s*\{[^}]*font-family:\s*([^;]+);", page)
    assert match, "the page sets no body font-family"
    return match.group(1)


def test_the_feedback_page_and_the_class_report_name_a_font_stack_that_covers_hangul():
    results = {"assignment": "mha", "submissions": [{"student": "alice", "status": "graded", "score": 1.0,
                                                     "max_score": 2.0, "tests": []}]}
    pages = {"feedback": render_html(graded(), "mha", MHA.feedback),
             "report": render_report(build_report(results, MHA.feedback, "ko"))}
    for name, page in pages.items():
        fonts = [f.strip() for f in _font_family(page).split(",")]
        assert all(font in fonts for font in HANGUL_FONTS), (name, fonts)
        assert fonts[-1] == "sans-serif" and fonts.index('"Noto Sans KR"') < fonts.index("sans-serif"), name


def test_the_feedback_templates_live_in_the_package_that_ships():
    from seqlab.grading import feedback

    folder = feedback.TEMPLATES
    assert folder.parent == REPO / "src" / "seqlab" / "grading" / "feedback"
    assert {p.name for p in folder.iterdir()} >= {"feedback.md.j2", "feedback.html.j2"}
