"""The proof every hidden grader owes, written once for every assignment.

An assignment's submissions folder `tests/submissions/<id>/` holds `bug_<misconception>.py` mutants
(one bug each; `bug_<misconception>__<variant>.py` for a second one) and `ok_<style>.py` correct implementations. `GraderProof` grades the reference
solution, the skeleton, every mutant and every correct style in ONE real `seqlab grade` run, and
the same files again under other student ids (ascii, long, Korean, with digits) in that same run,
then proves:

- the reference scores full marks; the skeleton 0 without stopping the run;
- every correct style scores full marks;
- every mutant loses points and the SET of misconception ids it is charged with is exactly its own
  (precision): no spurious second id. A mutant whose second id is a legitimately separate bug says
  so in its own file, `ALSO_EXPECTED = ("other-id",)` (parsed, never imported; use sparingly);
- every id any submission is charged with has feedback data (graders/feedback/<id>.toml or
  common.toml), and a mutant's feedback page explains its misconception in both languages;
- same code, same grade: each copy under another id gets identical tests, points, messages and ids.

Use it by subclassing (pytest collects the inherited tests, parametrized per file):

    class TestLstmGraderProof(GraderProof):
        assignment = "lstm"
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from seqlab_testing import REPO

__all__ = ["SAME_CODE_IDS", "GraderProof", "ProofClass", "also_expected", "charged_ids", "import_submission",
           "misconception_of", "one_torch_thread", "precision"]

# Other student ids the same files are graded under: long, Korean, with digits (the first name
# of every file is its ascii stem). Each keeps the file's stem so every copy has a unique id.
SAME_CODE_IDS: tuple[str, ...] = (
    "a_student_whose_identifier_is_deliberately_much_longer_than_any_real_one_{stem}",
    "김민준_{stem}",
    "20261203_{stem}_7",
)
ALSO_EXPECTED = "ALSO_EXPECTED"


def misconception_of(mutant: Path) -> str:
    """bug_state_batch_first.py -> state-batch-first; a second mutant of one id names its variant
    after a double underscore: bug_detached_state__fake_grads.py -> detached-state."""
    return mutant.stem.removeprefix("bug_").split("__")[0].replace("_", "-")


def also_expected(mutant: Path) -> frozenset[str]:
    """The ids a mutant file declares as legitimately expected beside its own (`ALSO_EXPECTED`)."""
    tree = ast.parse(mutant.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == ALSO_EXPECTED
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            return frozenset((value,) if isinstance(value, str) else value)
    return frozenset()


def charged_ids(student: dict[str, Any]) -> set[str]:
    """The misconception ids a graded submission is charged with (failed items that name one;
    an item reported as "same cause as X" names none)."""
    return {t["misconception"] for t in student["tests"] if not t["passed"] and t["misconception"]}


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Our own submissions run in this process on a shared 2-core machine: one torch thread while
    they do (restored afterwards). Import it and use `@pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def import_submission(path: Path) -> types.ModuleType:
    """Import one of OUR OWN test submissions in the test process (to check its expected verdict
    against torch's modules). Never used on student code."""
    name = f"_proof_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ProofClass:
    """The files of one assignment's proof class and the names they are graded under."""

    def __init__(self, assignment: str) -> None:
        self.assignment = assignment
        folder = REPO / "tests" / "submissions" / assignment
        self.bugs = sorted(folder.glob("bug_*.py"))
        self.styles = sorted(folder.glob("ok_*.py"))
        self.reference = REPO / "solutions" / assignment / f"{assignment}.ipynb"
        self.skeleton = REPO / "assignments" / assignment / f"{assignment}.ipynb"
        self.feedback = {
            **tomllib.loads((REPO / "graders" / "feedback" / "common.toml").read_text(encoding="utf-8")),
            **tomllib.loads((REPO / "graders" / "feedback" / f"{assignment}.toml").read_text(encoding="utf-8")),
        }

    def files(self) -> dict[str, Path]:
        """Every file under its own stem; the reference and skeleton under fixed names."""
        files = {"reference": self.reference, "skeleton": self.skeleton}
        files.update({path.stem: path for path in [*self.bugs, *self.styles]})
        return files

    def copies(self) -> dict[str, tuple[str, Path]]:
        """{other id: (original name, file)}. The reference is graded under every other id; each
        mutant and correct style under one of them, in turn (each id kind sees every file kind)."""
        copies = {pattern.format(stem="reference"): ("reference", self.reference) for pattern in SAME_CODE_IDS}
        for pattern, path in zip(itertools.cycle(SAME_CODE_IDS), [*self.bugs, *self.styles], strict=False):
            copies[pattern.format(stem=path.stem)] = (path.stem, path)
        return copies


@functools.cache
def _proof_class(assignment: str) -> ProofClass:
    return ProofClass(assignment)


def precision(graded: dict[str, dict[str, Any]], bugs: list[Path]) -> tuple[int, int]:
    """(mutants charged with exactly their own ids, mutants): the figure issue 11 asks for."""
    exact = sum(charged_ids(graded[m.stem]) == {misconception_of(m)} | also_expected(m) for m in bugs)
    return exact, len(bugs)


def _comparable(student: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(t["id"], t["points"], t["max_points"], t["passed"], t["message"], t["misconception"])
            for t in student["tests"]]


class GraderProof:
    """Subclass with `assignment = "<id>"`; every test below then runs against that assignment."""

    assignment: ClassVar[str] = ""

    @classmethod
    def proof_class(cls) -> ProofClass:
        """Listed once per session: the parametrized ids and the graded class always agree."""
        return _proof_class(cls.assignment)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        proof = self.proof_class()
        if "mutant" in metafunc.fixturenames:
            metafunc.parametrize("mutant", proof.bugs, ids=lambda p: p.stem)
        if "style" in metafunc.fixturenames:
            metafunc.parametrize("style", proof.styles, ids=lambda p: p.stem)
        if "copy_name" in metafunc.fixturenames:
            metafunc.parametrize("copy_name", sorted(proof.copies()))

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, grade_class) -> dict[str, dict[str, Any]]:
        """results.json per student: the whole class and its copies, graded in ONE run."""
        proof = cls.proof_class()
        files = proof.files()
        files.update({name: path for name, (_, path) in proof.copies().items()})
        return grade_class(cls.assignment, files)

    def test_the_class_has_mutants_and_correct_styles(self):
        proof = self.proof_class()
        assert proof.bugs and proof.styles, f"tests/submissions/{self.assignment}/ needs bug_*.py and ok_*.py"

    def test_reference_solution_scores_full_marks(self, graded):
        reference = graded["reference"]
        assert reference["status"] == "graded", reference["error"]
        assert reference["score"] == reference["max_score"], _failures(reference)

    def test_skeleton_scores_zero_without_stopping_the_run(self, graded):
        skeleton = graded["skeleton"]
        assert skeleton["status"] in ("graded", "error")
        assert skeleton["score"] == 0
        assert all(student["status"] == "graded" for name, student in graded.items() if name != "skeleton")

    def test_correct_style_scores_full_marks(self, graded, style):
        student = graded[style.stem]
        assert student["status"] == "graded", student["error"]
        assert student["score"] == student["max_score"], _failures(student)

    def test_mutant_loses_points(self, graded, mutant):
        student = graded[mutant.stem]
        assert student["status"] == "graded", student["error"]
        assert student["score"] < student["max_score"]

    def test_mutant_is_charged_with_exactly_its_own_misconception(self, graded, mutant):
        expected = {misconception_of(mutant)} | also_expected(mutant)
        assert charged_ids(graded[mutant.stem]) == expected, _failures(graded[mutant.stem])

    def test_every_charged_id_has_feedback_data(self, graded):
        proof = self.proof_class()
        unknown = {name: sorted(charged_ids(student) - set(proof.feedback)) for name, student in graded.items()}
        assert not {name: ids for name, ids in unknown.items() if ids}

    def test_mutant_feedback_explains_its_misconception_in_both_languages(self, graded, mutant):
        entry = self.proof_class().feedback[misconception_of(mutant)]
        feedback = graded[mutant.stem]["feedback_md"].read_text(encoding="utf-8")
        assert entry["title"]["en"] in feedback and entry["title"]["ko"] in feedback
        assert "quiz" not in entry or entry["quiz"] in feedback

    def test_same_code_gets_the_same_grade_under_another_id(self, graded, copy_name):
        original, _ = self.proof_class().copies()[copy_name]
        copy, first = graded[copy_name], graded[original]
        assert (copy["status"], copy["score"]) == (first["status"], first["score"])
        assert _comparable(copy) == _comparable(first)


def _failures(student: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """What an assertion shows when a submission is graded wrong: each failed item, id and message."""
    return [(t["id"], t["misconception"], t["message"]) for t in student["tests"] if not t["passed"]]
