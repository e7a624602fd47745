"""Shared fixtures: grade a folder of submissions with the real `seqlab grade` command.

`make test` runs the suite on two pytest-xdist workers (`-n auto --maxprocesses 2 --dist loadgroup`).
Two hooks here keep that as strict as one process:

- tests that share a module- or class-scoped fixture (a class run, a built wheel, an nbgrader
  course) are sent to ONE worker (an `xdist_group` named after that module or class), so the
  fixture is built once, not once per worker; a module whose shared state outlives it (the hostile
  class runs, cached across two modules) names its group itself;
- a test marked `machine_wide` (it observes /tmp or /proc as a whole) runs while no other worker
  runs a test, so it never sees another worker's sandboxes.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
from seqlab_testing import by_student, grade_folder


@pytest.fixture(scope="session")
def grade_class(tmp_path_factory: pytest.TempPathFactory):
    """grade_class(assignment, {student_name: source_path}) -> results.json as a dict, per student.
    (A factory: each call makes its own folders; the caller's fixture scope decides how often.)"""

    def grade(assignment: str, files: dict[str, Path], *extra: str, course: Path | None = None) -> dict[str, dict]:
        folder = tmp_path_factory.mktemp(f"{assignment}_class")
        for student, source in files.items():
            shutil.copy(source, folder / f"{student}{source.suffix}")
        out = tmp_path_factory.mktemp(f"{assignment}_grades")
        students = by_student(grade_folder(assignment, folder, out, *extra, course=course))
        for name, student in students.items():  # where the student's feedback page was written
            student["feedback_md"] = out / "feedback" / f"{name}.md"
        return students

    return grade


def _sharing_node(item: pytest.Item) -> pytest.Collector | None:
    """The module or class whose tests share a fixture with `item` (the widest such scope)."""
    scopes = {defs[-1].scope for defs in item._fixtureinfo.name2fixturedefs.values() if defs}
    for scope, kind in (("package", pytest.Package), ("module", pytest.Module), ("class", pytest.Class)):
        if scope in scopes:  # a class-scoped fixture used outside a class lives as long as the module
            return item.getparent(kind) or item.getparent(pytest.Module)
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None and (node := _sharing_node(item)) is not None:
            module = item.getparent(pytest.Module)
            name = Path(module.nodeid).stem if module is not None else node.nodeid
            if isinstance(node, pytest.Class):
                name = f"{name}.{node.name}"
            item.add_marker(pytest.mark.xdist_group(name))


@contextmanager
def _alone_or_beside_others(config: pytest.Config, alone: bool) -> Iterator[None]:
    """A readers-writer lock across this run's xdist workers: every test holds it shared, a
    `machine_wide` one exclusively. The turnstile lets a waiting exclusive test in first."""
    folder = Path(config.getoption("basetemp")).parent  # the run's basetemp, one folder per worker below it
    with open(folder / "turnstile.lock", "a") as turnstile, open(folder / "machine.lock", "a") as machine:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield  # closing both files releases the locks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Setup (module fixtures included), call and teardown of each test, under the lock."""
    on_worker = hasattr(item.config, "workerinput") and item.config.getoption("basetemp")
    alone = item.get_closest_marker("machine_wide") is not None
    with _alone_or_beside_others(item.config, alone) if on_worker else nullcontext():
        return (yield)
