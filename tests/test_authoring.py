"""The authoring pipeline: one source of truth per assignment, skeletons generated from it that leak
no solution line, and notebooks that run in a real Jupyter kernel the way a student runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from seqlab_testing import REPO, run_seqlab

from seqlab.authoring.cells import cell_role

ASSIGNMENTS = sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb"))


def solution_notebook(assignment: str) -> Path:
    return REPO / "solutions" / assignment / f"{assignment}.ipynb"


def skeleton_notebook(assignment: str) -> Path:
    return REPO / "assignments" / assignment / f"{assignment}.ipynb"


def solution_lines(notebook: Path) -> list[str]:
    """Every meaningful line between the BEGIN/END SOLUTION markers."""
    lines, inside = [], False
    for cell in nbformat.read(notebook, as_version=4).cells:
        for line in cell.source.splitlines():
            stripped = line.strip()
            if "### BEGIN SOLUTION" in stripped:
                inside = True
            elif "### END SOLUTION" in stripped:
                inside = False
            elif inside and len(stripped) > 12 and not stripped.startswith("#"):
                lines.append(stripped)
    return lines


def run_in_kernel(notebook: Path, workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def test_there_is_at_least_the_required_mha_assignment():
    assert "mha" in ASSIGNMENTS


def test_committed_skeletons_match_their_solutions():
    done = run_seqlab("generate", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_generate_check_fails_when_a_skeleton_drifts(tmp_path: Path):
    course = tmp_path / "course"
    for folder in ("solutions", "assignments", "graders"):
        shutil.copytree(REPO / folder, course / folder)
    skeleton = course / "assignments" / "mha" / "mha.ipynb"
    nb = nbformat.read(skeleton, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('edited by hand')"))
    nbformat.write(nb, skeleton)
    done = run_seqlab("generate", "--check", course=course)
    assert done.returncode == 1
    assert "mha" in done.stdout + done.stderr


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_skeleton_contains_no_solution_line(assignment: str):
    skeleton = skeleton_notebook(assignment).read_text(encoding="utf-8")
    leaked = [line for line in solution_lines(solution_notebook(assignment)) if line in skeleton]
    assert not leaked, f"solution lines in the skeleton: {leaked[:3]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_skeleton_stubs_raise_not_implemented_and_have_no_outputs(assignment: str):
    nb = nbformat.read(skeleton_notebook(assignment), as_version=4)
    stubs = [c for c in nb.cells if c.cell_type == "code" and cell_role(c) == "solution"]
    assert stubs and all("raise NotImplementedError" in c.source for c in stubs)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_runs_top_to_bottom_in_a_kernel(assignment: str, tmp_path: Path):
    nb = run_in_kernel(solution_notebook(assignment), tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_skeleton_runs_up_to_its_first_stub_with_a_clear_message(assignment: str, tmp_path: Path):
    with pytest.raises(CellExecutionError) as stopped:
        run_in_kernel(skeleton_notebook(assignment), tmp_path)
    assert "NotImplementedError" in str(stopped.value)
    nb = nbformat.read(skeleton_notebook(assignment), as_version=4)
    first_stub = next(c for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source)
    assert first_stub.source.splitlines()[0] in str(stopped.value) or "YOUR CODE HERE" in str(stopped.value)
