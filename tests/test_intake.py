"""Intake: which files are submissions, who they belong to, and which code of theirs runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from seqlab.errors import UsageError
from seqlab.grading.discover import discover
from seqlab.grading.extract import extract, strip_magics


def nb(*cells: tuple[str, str | None]) -> str:
    def cell(source: str, grade_id: str | None) -> dict:
        meta = {"nbgrader": {"grade_id": grade_id, "solution": False, "locked": True}} if grade_id else {}
        return {"cell_type": "code", "metadata": meta, "source": source, "outputs": [], "execution_count": None}

    return json.dumps({"cells": [cell(s, g) for s, g in cells], "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5})


def test_student_ids_follow_the_three_folder_layouts(tmp_path: Path):
    (tmp_path / "alice.ipynb").write_text(nb(("x = 1", None)))
    (tmp_path / "bob.py").write_text("x = 1")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "whatever.ipynb").write_text(nb(("x = 1", None)))
    (tmp_path / "dave" / "mha").mkdir(parents=True)
    (tmp_path / "dave" / "mha" / "mha.ipynb").write_text(nb(("x = 1", None)))
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "alice-checkpoint.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a submission")
    found = {f.student: f for f in discover([tmp_path], "mha")}
    assert sorted(found) == ["alice", "bob", "carol", "dave"]
    assert found["dave"].path == tmp_path / "dave" / "mha" / "mha.ipynb"
    assert all(f.problem is None for f in found.values())


def test_a_student_folder_with_two_candidates_is_reported_not_dropped(tmp_path: Path):
    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "a.py").write_text("")
    (tmp_path / "erin" / "b.py").write_text("")
    (found,) = discover([tmp_path], "mha")
    assert found.student == "erin" and "several submissions" in found.problem


def test_duplicate_student_ids_are_kept_apart(tmp_path: Path):
    (tmp_path / "alice.py").write_text("")
    (tmp_path / "alice.ipynb").write_text(nb(("x = 1", None)))
    found = discover([tmp_path], "mha")
    assert len(found) == 2 and "duplicate student id" in found[1].problem


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no such file or folder"),
    (lambda p: p, "no submission found"),
    (lambda p: p / "notes.txt", "is not a .ipynb or .py file"),
])
def test_bad_paths_are_usage_errors(tmp_path: Path, make, message):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(UsageError, match=message):
        discover([make(tmp_path)], "mha")


def test_check_demo_and_train_cells_are_skipped_everything_else_runs(tmp_path: Path):
    path = tmp_path / "s.ipynb"
    path.write_text(nb(("import torch", "setup_imports"), ("def f(): pass", "solution_f"),
                       ("assert f()", "check_f"), ("slow()", "demo_plot"), ("train()", "train_loop"),
                       ("def helper(): pass", None)))
    cells = extract("s", path, set()).cells
    assert [c["code"] for c in cells] == ["import torch", "def f(): pass", "def helper(): pass"]


def test_stripped_metadata_check_cells_are_recognised_by_their_text(tmp_path: Path):
    path = tmp_path / "s.ipynb"
    path.write_text(nb(("def f(): pass", None), ("assert f() is None, 'f'  ", None)))
    cells = extract("s", path, {"assert f() is None, 'f'"}).cells
    assert [c["code"] for c in cells] == ["def f(): pass"]


def test_magics_and_shell_lines_become_pass_and_cell_magics_are_dropped():
    assert strip_magics("%matplotlib inline\n!pip install x\nfiles = !ls\nx = 1") == "pass\npass\npass\nx = 1"
    assert strip_magics("    %time f()\n") == "    pass"
    assert strip_magics("%%bash\nrm -rf /") is None
    assert strip_magics("%%time\ny = 2") == "y = 2"


def test_py_modules_split_on_cell_markers_keep_their_line_numbers(tmp_path: Path):
    path = tmp_path / "s.py"
    path.write_text("a = 1\n# %%\nb = 2\n# %% [markdown]\nc = 3\n")
    result = extract("s", path, set())
    assert result.module_name == "submission"
    codes = [c["code"] for c in result.cells]
    assert [code.splitlines().index(line) for code, line in zip(codes, ["a = 1", "b = 2", "c = 3"])] == [0, 2, 4]


@pytest.mark.parametrize("content, reason", [
    (b'{"cells": [', "not valid notebook JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}).encode(), "no code cells"),
    (json.dumps({"cells": [], "nbformat": 99}).encode(), "unsupported notebook format"),
    (b"[1, 2]", "not a Jupyter notebook"),
])
def test_unreadable_notebooks_are_invalid_with_one_line(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "s.ipynb"
    path.write_bytes(content)
    result = extract("s", path, set())
    assert result.invalid and reason in result.invalid and "\n" not in result.invalid


def test_links_leaving_the_submission_are_invalid_and_links_inside_it_are_followed(tmp_path: Path):
    secret = tmp_path / "solutions" / "mha.ipynb"
    secret.parent.mkdir()
    secret.write_text(nb(("x = 1", None)))
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "top_link.ipynb").symlink_to(secret)
    (folder / "folder_link").symlink_to(secret.parent)
    (folder / "inner").mkdir()
    (folder / "inner" / "mha.ipynb").symlink_to(secret)
    (folder / "layout").mkdir()
    (folder / "layout" / "mha").symlink_to(secret.parent)
    (folder / "ok" / "work").mkdir(parents=True)
    (folder / "ok" / "work" / "real.py").write_text("x = 1")
    (folder / "ok" / "mha.py").symlink_to(folder / "ok" / "work" / "real.py")
    found = {f.student: f for f in discover([folder], "mha")}
    for name in ("top_link", "folder_link", "inner", "layout"):
        assert found[name].path is None and "symlink outside the submission" in found[name].problem, name
    assert found["ok"].problem is None and found["ok"].path == (folder / "ok" / "work" / "real.py").resolve()
    assert extract("ok", found["ok"].path, set(), root=found["ok"].root).cells[0]["code"] == "x = 1"


def test_a_file_swapped_for_a_link_after_discovery_is_still_not_read(tmp_path: Path):
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 1")
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "mallory.py").write_text("x = 1")
    (found,) = discover([folder], "mha")
    found.path.unlink()
    found.path.symlink_to(secret)
    result = extract(found.student, found.path, set(), root=found.root)
    assert result.cells == [] and "symlink outside the submission" in result.invalid
    assert extract("student-run check", found.path, set()).cells  # `seqlab check` on one's own link: fine


def test_sizes_nesting_and_cell_counts_are_checked_before_parsing(tmp_path: Path):
    sparse = tmp_path / "big.ipynb"
    with open(sparse, "wb") as handle:
        handle.truncate(200 * 2**20)
    assert "over the 20 MB limit" in extract("s", sparse, set()).invalid
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"cells": ' + "[" * 2000 + "]" * 2000 + ', "nbformat": 4}')
    assert "nested too deeply" in extract("s", deep, set()).invalid
    many = tmp_path / "many.ipynb"
    many.write_text(nb(*[("x = 1", None)] * 3000))
    assert "3000 cells, over the limit" in extract("s", many, set()).invalid
    odd = tmp_path / "odd.ipynb"
    odd.write_text(json.dumps({"cells": [{"cell_type": "code", "source": {"a": 1}, "metadata": {}}],
                               "nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    assert extract("s", odd, set()).invalid  # a reason, never an exception


def test_odd_file_names_become_distinct_printable_ids(tmp_path: Path):
    for raw in (b"caf\xe9.py", b"caf\xe8.py", b"\x1b[2Jx.py", b"s" * 240 + b".py"):
        Path(os.fsdecode(bytes(tmp_path) + b"/" + raw)).write_text("x = 1")
    found = {f.student: f for f in discover([tmp_path], "mha")}
    assert set(found) == {"caf\\xe9", "caf\\xe8", "\\x1b[2Jx", "s" * 240}
    assert all(f.problem is None for f in found.values())
