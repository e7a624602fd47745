"""The class report and feedback pages in a real browser: headless Chromium (Debian's package).

Each page is opened from disk with networking features off, its DOM is dumped and checked for
the text a reader must see, a screenshot is taken, and Chromium's log must hold no console
message (a control page proves such messages are caught). Two real `seqlab grade` runs: the
engine's echo fixture, and an mha class holding a mutant (bug_softmax_dim) handed in by a student
with a Korean name, whose page must show the Korean rubric titles and the misconception. Skipped,
with the reason, where Chromium or a Hangul font is not installed (`make tools` installs both).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from seqlab_testing import FIXTURE_COURSE, REPO, run_seqlab
from test_hostile_submissions import CORRECT

from seqlab.report.charts import FONT_STACK

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0")


def _hangul_families() -> set[str]:
    """Font families fontconfig has that cover Korean."""
    if shutil.which("fc-list") is None:
        return set()
    listed = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True, check=False)
    return {name.strip() for line in listed.stdout.splitlines() for name in line.split(",") if name.strip()}


if CHROMIUM is None:
    pytest.skip("chromium is not installed (make tools installs Debian's chromium when apt-get can)",
                allow_module_level=True)
if not _hangul_families():
    pytest.skip("no Hangul font (make tools installs fonts-noto-cjk when apt-get can)", allow_module_level=True)


def _chromium(page: Path, *action: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="seqlab-chromium-") as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,1800",
                               *action, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=180, check=False)


def _console(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def open_page(page: Path, screenshot: Path) -> str:
    """The page's DOM after loading; asserts a screenshot was taken and nothing reached the console."""
    dumped = _chromium(page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert _console(dumped.stderr) == [], f"console messages on {page.name}: {_console(dumped.stderr)}"
    shot = _chromium(page, f"--screenshot={screenshot}")
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return dumped.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small class graded by the real pipeline, with the report in both languages."""
    folder = tmp_path_factory.mktemp("browser_class")
    (folder / "alice.py").write_text(CORRECT)
    (folder / "bob.py").write_text(CORRECT.replace("return x * 2", "return x + 2"))
    (folder / "carol.py").write_text("def (\n")
    out = tmp_path_factory.mktemp("browser_out")
    done = run_seqlab("grade", "echo", str(folder), "--out", str(out), course=FIXTURE_COURSE)
    assert done.returncode == 0, done.stderr
    for lang in ("en", "ko"):
        done = run_seqlab("report", str(out), "--lang", lang, course=FIXTURE_COURSE)
        assert done.returncode == 0, done.stderr
        shutil.copy(out / "report.html", out / f"report-{lang}.html")
    return out


def test_the_console_check_catches_messages(tmp_path: Path):
    probe = tmp_path / "probe.html"
    probe.write_text('<!doctype html><p>x</p><script>console.error("seqlab-probe")</script>')
    assert any("seqlab-probe" in line for line in _console(_chromium(probe, "--dump-dom").stderr))


FEEDBACK = {  # the echo fixture's title for `doubling`, and the report's own headings
    "en": ("double(x) does not return 2·x", "Class report", "Pass rate per rubric item"),
    "ko": ("double(x)가 2·x를 돌려주지 않음", "학급 보고서", "채점 항목별 통과율"),
}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_class_report_in_a_browser(graded: Path, tmp_path: Path, lang: str):
    title, heading, items = FEEDBACK[lang]
    dom = open_page(graded / f"report-{lang}.html", tmp_path / f"report-{lang}.png")
    assert f'<html lang="{lang}">' in dom and heading in dom and items in dom and title in dom
    assert dom.count("<svg") == 2 and 'href="feedback/bob.html"' in dom
    assert "carol" in dom  # listed among the submissions not graded


def test_a_feedback_page_in_a_browser(graded: Path, tmp_path: Path):
    dom = open_page(graded / "feedback" / "bob.html", tmp_path / "feedback-bob.png")
    assert "bob" in dom
    assert FEEDBACK["en"][0] in dom or FEEDBACK["ko"][0] in dom


MUTANT = REPO / "tests" / "submissions" / "mha" / "bug_softmax_dim.py"
STUDENT = "김민지"


@pytest.fixture(scope="module")
def mha_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real mha grading run: the reference-equivalent ok_matmul and the softmax-dim mutant."""
    folder = tmp_path_factory.mktemp("browser_mha")
    shutil.copy(MUTANT, folder / f"{STUDENT}.py")
    shutil.copy(MUTANT.with_name("ok_matmul.py"), folder / "alice.py")
    out = tmp_path_factory.mktemp("browser_mha_out")
    done = run_seqlab("grade", "mha", str(folder), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_seqlab("report", str(out), "--lang", "ko")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_the_page_font_stack_names_a_hangul_font_this_machine_has():
    assert set(FONT_STACK) & _hangul_families(), (sorted(_hangul_families()), FONT_STACK)


MHA_PAGE = ("Attention rows sum to 1 over the keys", "어텐션의 각 행은 키 축으로 합이 1",  # a rubric item
            "Softmax over the wrong axis", "잘못된 축으로 소프트맥스",  # the misconception
            "softmax(scores, dim=-1)", "quiz mha --tag softmax-dim", "복습할 내용")


def test_a_buggy_students_feedback_page_in_a_browser(mha_class: Path, tmp_path: Path):
    dom = open_page(mha_class / "feedback" / f"{STUDENT}.html", tmp_path / "feedback-mha.png")
    missing = [text for text in MHA_PAGE if text not in dom]
    assert not missing and STUDENT in dom, missing
    assert '<span class="id">test id: attention_rows_sum_to_one</span>' in dom  # the id: a reference
    assert dom.index("What to review") < dom.index("attention_rows_sum_to_one")
    assert '<span class="title-ko" lang="ko">어텐션의 각 행은 키 축으로 합이 1</span>' in dom


def test_the_korean_class_report_in_a_browser_links_the_students_page(mha_class: Path, tmp_path: Path):
    dom = open_page(mha_class / "report.html", tmp_path / "report-mha-ko.png")
    assert '<html lang="ko">' in dom and "학급 보고서" in dom
    assert "어텐션의 각 행은 키 축으로 합이 1" in dom and "잘못된 축으로 소프트맥스" in dom
    link = f'href="feedback/{quote(STUDENT)}.html"'
    assert link in dom
    assert (mha_class / unquote(link[len('href="'):-1])).is_file()
