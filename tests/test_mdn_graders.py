"""The mdn graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only mdn requires."""

from __future__ import annotations

from grader_proofs import GraderProof, ProofClass

PROOF = ProofClass("mdn")


class TestMdnGraderProof(GraderProof):
    assignment = "mdn"


def test_the_class_has_at_least_11_mutants_and_4_correct_styles():
    assert len(PROOF.bugs) >= 11 and len(PROOF.styles) >= 4
