"""The mha graders discriminate: the reference and every correct style get full marks, the
skeleton gets 0 without crashing the run, and every mutant loses points with feedback that names
its own misconception. The whole class is graded in ONE real `seqlab grade` run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from seqlab_testing import REPO

SUBMISSIONS = REPO / "tests" / "submissions" / "mha"
BUGS = sorted(SUBMISSIONS.glob("bug_*.py"))
CORRECT_STYLES = sorted(SUBMISSIONS.glob("ok_*.py"))
FEEDBACK = tomllib.loads((REPO / "graders" / "feedback" / "mha.toml").read_text(encoding="utf-8"))


def misconception_of(mutant: Path) -> str:
    """bug_split_heads_without_permute.py -> split-heads-without-permute"""
    return mutant.stem.removeprefix("bug_").replace("_", "-")


@pytest.fixture(scope="module")
def graded(grade_class) -> dict[str, dict]:
    files = {"reference": REPO / "solutions" / "mha" / "mha.ipynb",
             "skeleton": REPO / "assignments" / "mha" / "mha.ipynb"}
    files.update({path.stem: path for path in [*BUGS, *CORRECT_STYLES]})
    return grade_class("mha", files)


def failed_misconceptions(student: dict) -> set[str]:
    return {t["misconception"] for t in student["tests"] if not t["passed"] and t["misconception"]}


def test_the_class_has_at_least_12_mutants_and_5_correct_styles():
    assert len(BUGS) >= 12 and len(CORRECT_STYLES) >= 5


def test_reference_solution_scores_full_marks(graded):
    reference = graded["reference"]
    assert reference["status"] == "graded"
    assert reference["score"] == reference["max_score"], failed_misconceptions(reference)


def test_skeleton_scores_zero_without_crashing_the_run(graded):
    skeleton = graded["skeleton"]
    assert skeleton["status"] in ("graded", "error")
    assert skeleton["score"] == 0


@pytest.mark.parametrize("style", CORRECT_STYLES, ids=lambda p: p.stem)
def test_correct_style_scores_full_marks(graded, style):
    student = graded[style.stem]
    assert student["status"] == "graded"
    assert student["score"] == student["max_score"], failed_misconceptions(student)


@pytest.mark.parametrize("mutant", BUGS, ids=lambda p: p.stem)
def test_mutant_loses_points_for_its_own_misconception(graded, mutant):
    student = graded[mutant.stem]
    assert student["status"] == "graded"
    assert student["score"] < student["max_score"]
    assert misconception_of(mutant) in failed_misconceptions(student)


@pytest.mark.parametrize("mutant", BUGS, ids=lambda p: p.stem)
def test_mutant_feedback_explains_the_misconception_in_both_languages(graded, mutant):
    entry = FEEDBACK[misconception_of(mutant)]
    feedback = graded[mutant.stem]["feedback_md"].read_text(encoding="utf-8")
    assert entry["title"]["en"] in feedback and entry["title"]["ko"] in feedback
    assert entry["quiz"] in feedback
