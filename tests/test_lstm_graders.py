"""The lstm graders discriminate (tests/grader_proofs.py: reference full, skeleton 0, every correct
style full, every mutant charged with exactly its own misconception, same code same grade under
other ids, all in ONE real `seqlab grade` run), plus what only lstm requires."""

from __future__ import annotations

from grader_proofs import GraderProof, ProofClass, misconception_of

PROOF = ProofClass("lstm")
REQUIRED_MUTANTS = ("gate-order", "cell-output-no-tanh", "forget-gate-on-candidate", "bias-hh-ignored",
                    "batch-first-ignored", "output-not-transposed", "state-batch-first", "layers-fed-raw-input",
                    "last-step-out-minus-one", "fixed-batch-state", "first-time-step")


class TestLstmGraderProof(GraderProof):
    assignment = "lstm"


def test_the_class_has_every_required_mutant_and_4_correct_styles():
    assert set(REQUIRED_MUTANTS) <= {misconception_of(path) for path in PROOF.bugs}
    assert len(PROOF.styles) >= 4
