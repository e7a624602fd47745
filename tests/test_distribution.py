"""What students install: the wheel and sdist ship the engine, quiz banks, skeletons and public
checks, and nothing that gives answers away (solutions/, graders/, per-assignment oracles, or
solution text copied anywhere). In a fresh venv holding only that wheel (torch borrowed from ours),
a student can fetch a notebook, run `quiz` and `seqlab check`; `seqlab grade` says the hidden
graders are not installed. Builds with hatchling offline: `--no-isolation` when it is installed,
else pip's configured index (a local mirror here); skipped when neither can build.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from seqlab_testing import REPO

pytestmark = pytest.mark.slow

ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
SKELETONS = sorted(p.name for p in (REPO / "assignments").iterdir() if (p / f"{p.name}.ipynb").is_file())
OK_MHA = REPO / "tests" / "submissions" / "mha" / "ok_einsum.py"


def solution_lines() -> set[str]:
    """Every recognisable line that the solutions hold ONLY between ### BEGIN/END SOLUTION (a line
    the author also wrote in a public cell, such as an attribute name the spec requires, is not
    an answer)."""
    found: set[str] = set()
    for assignment in ASSIGNMENTS:
        notebook = json.loads((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text("utf-8"))
        public: list[str] = []
        answers: set[str] = set()
        for cell in notebook["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                text = line.strip()
                if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
                    inside = "BEGIN" in text
                elif not inside:
                    public.append(line)
                elif len(text) >= 24 and not text.startswith("#"):
                    answers.add(text.split("  #")[0].rstrip())
        visible = "\n".join(public)
        found |= {line for line in answers if line not in visible}
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    isolation = ["--no-isolation"] if importlib.util.find_spec("hatchling") else []
    done = subprocess.run([sys.executable, "-m", "build", *isolation, "--outdir", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot build offline (install hatchling): {done.stderr.strip().splitlines()[-1:]}")
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("seqlab-*.whl")
    return wheel


def _members(dist: Path) -> dict[str, dict[str, bytes]]:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        wheel = {name: archive.read(name) for name in archive.namelist()}
    (sdist_path,) = dist.glob("seqlab-*.tar.gz")
    with tarfile.open(sdist_path) as archive:
        sdist = {m.name.split("/", 1)[1]: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    return {"wheel": wheel, "sdist": sdist}


def test_the_wheel_ships_engine_quizzes_skeletons_and_public_checks(dist):
    names = set(_members(dist)["wheel"])
    for module in ("seqlab/cli/main.py", "seqlab/grading/check.py", "seqlab/sandbox/zygote.py",
                   "seqlab/quiz/session.py", "seqlab/oracles/tolerance.py"):
        assert module in names
    for bank in (REPO / "quizzes").glob("*.toml"):
        assert f"seqlab/_data/quizzes/{bank.name}" in names
    for assignment in SKELETONS:  # the skeleton carries the public check_ cells
        skeleton = f"seqlab/_data/assignments/{assignment}/{assignment}.ipynb"
        assert skeleton in names
        assert '"grade_id": "check_' in _members(dist)["wheel"][skeleton].decode()


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_nothing_that_gives_answers_away_is_shipped(dist, kind):
    members = _members(dist)[kind]
    forbidden = re.compile(r"(^|/)(solutions|graders|tests)/|(^|/)oracles/(?!__init__|tolerance)")
    assert not [name for name in members if forbidden.search(name)]
    lines = solution_lines()
    assert len(lines) > 10
    for name, data in members.items():
        text = data.decode("utf-8", errors="replace")
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{kind}:{name} holds solution text: {leaked[:2]}"


def _fresh_venv(tmp: Path, dist: Path) -> tuple[Path, dict[str, str]]:
    """A venv with only the wheel; torch and the other deps are borrowed from ours via a .pth."""
    venv = tmp / "student-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(_wheel(dist))], check=True, timeout=120, capture_output=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SEQLAB_COURSE_ROOT", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    env["LANG"] = "C.UTF-8"
    return venv, env


def _fill_in(skeleton: Path, module: Path, target: Path) -> None:
    notebook = json.loads(skeleton.read_text(encoding="utf-8"))
    cells = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    cells[0]["source"] = module.read_text(encoding="utf-8")
    for cell in cells[1:]:
        cell["source"] = "# written above\n"
    target.write_text(json.dumps(notebook), encoding="utf-8")


def test_a_student_with_only_the_wheel_can_fetch_quiz_and_check_but_not_grade(dist, tmp_path):
    venv, env = _fresh_venv(tmp_path, dist)
    work = tmp_path / "homework"
    work.mkdir()

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=work, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import seqlab; print(seqlab.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where

    fetched = run("seqlab", "fetch", "mha")
    assert fetched.returncode == 0, fetched.stderr
    again = run("seqlab", "fetch", "mha")
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr

    quiz = run("quiz", "lstm", "-n", "2", "--seed", "1", "--lang", "en", stdin="1\n1\n1\n1\n")
    assert quiz.returncode == 0 and "Score:" in quiz.stdout, quiz.stderr[-1000:]

    _fill_in(work / "mha.ipynb", OK_MHA, work / "my_mha.ipynb")
    check = run("seqlab", "check", "my_mha.ipynb")
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]

    grade = run("seqlab", "grade", "mha", "my_mha.ipynb")
    assert grade.returncode != 0 and grade.stderr.count("\n") == 1
    assert grade.stderr.startswith("error:") and "graders are not installed" in grade.stderr
