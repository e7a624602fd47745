"""The suite's own promise (tests/conftest.py): under `make test`'s two pytest-xdist workers,
tests that share a class- or module-scoped fixture (a whole class run) run on ONE worker, so
the fixture is built once. pytest 9.2 with pytest-xdist 3.8 broke that silently (every proof
class graded twice, minutes of the suite); this runs the repository's conftest over a tiny
suite of that shape and counts the builds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SHAPE = '''
import os
import pytest


def _record(kind):
    with open(os.environ["FIXTURE_BUILDS"], "a") as log:
        log.write(kind + "\\n")


@pytest.fixture(scope="class")
def class_run():
    _record("class")


@pytest.fixture(scope="module")
def module_run():
    _record("module")


class TestOneClassRun:
    @pytest.mark.parametrize("student", range(6))
    def test_each_student(self, class_run, student):
        pass


@pytest.mark.parametrize("item", range(6))
def test_each_item(module_run, item):
    pass


@pytest.mark.parametrize("other", range(6))
def test_unrelated(other):
    pass
'''


def test_tests_sharing_a_fixture_build_it_once_under_two_xdist_workers(tmp_path):
    pytest.importorskip("xdist")
    (tmp_path / "test_shape.py").write_text(SHAPE, encoding="utf-8")
    builds = tmp_path / "builds.txt"
    env = {**os.environ, "FIXTURE_BUILDS": str(builds), "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "conftest",
         "-c", os.devnull, "--rootdir", str(tmp_path), "--basetemp", str(tmp_path / "base"),
         "-p", "no:cacheprovider", str(tmp_path / "test_shape.py")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "18 passed" in done.stdout
    assert sorted(builds.read_text().split()) == ["class", "module"], (
        "a shared fixture was built once per worker: pytest-xdist's loadgroup is not grouping "
        "(see the pytest pin in pyproject.toml)")
