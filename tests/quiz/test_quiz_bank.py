"""Banks are data, validated on load; every error names `file:question-id`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from quiz_helpers import REPO, wrong_input

from seqlab.quiz.bank import QuizError, bank_dirs, count_questions, load_bank, load_banks
from seqlab.quiz.session import check_answer, plan

# Misconception ids the graders report; `quiz TOPIC --tag ID` must find at least one question.
MISCONCEPTIONS = {
    "mha": ["softmax-dim", "no-scaling", "scale-by-d-feat", "mask-polarity", "mask-after-softmax",
            "masked-row-nan", "split-heads-without-permute", "merge-heads-without-permute",
            "kv-length-from-query", "missing-output-projection", "dropout-in-eval",
            "kv-count-unchecked", "output-shape", "leading-axes", "bias-ignored",
            "view-needs-contiguous", "dropout-missing", "attention-after-dropout",
            "qk-width-unchecked", "head-divisibility-unchecked", "no-gradient", "sublayer-names"],
    "mdn": ["log-of-sum", "missing-2pi-constant", "sigma-as-variance", "pi-softmax-dim",
            "sigma-not-positive", "nll-averaged", "multid-normaliser", "sample-argmax-component",
            "sample-component-per-dim", "train-mse", "train-no-zero-grad"],
    "lstm": ["gate-order", "cell-output-no-tanh", "forget-gate-on-candidate", "bias-hh-ignored",
             "batch-first-ignored", "output-not-transposed", "state-batch-first",
             "layers-fed-raw-input", "last-step-out-minus-one", "fixed-batch-state",
             "first-time-step"],
}

GOOD = """
[[questions]]
id = "good-one"
kind = "single"
tags = ["demo"]
text.en = "Pick one"
text.ko = "하나 고르기"
choices = [{ en = "a", ko = "가" }, { en = "b", ko = "나" }]
answer = 2
explanation.en = "Because."
explanation.ko = "왜냐하면."
"""


def write_bank(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# --- the shipped banks ----------------------------------------------------------------------

def test_the_week_has_every_topic_and_enough_questions(banks):
    assert {"rnn", "lstm", "gru", "transformer", "mha", "mdn"} <= set(banks)
    assert sum(len(b.questions) for b in banks.values()) >= 70
    for topic in ("rnn", "lstm", "mha", "mdn"):
        assert len(banks[topic].questions) >= 10, topic


@pytest.mark.parametrize(("topic", "tag"), [(t, m) for t, ms in MISCONCEPTIONS.items() for m in ms])
def test_every_grader_misconception_has_a_question_to_drill_it(banks, topic, tag):
    assert tag in banks[topic].tags(), f"quiz {topic} --tag {tag} would find nothing"


def test_every_question_kind_is_used(banks):
    kinds = {q.kind for b in banks.values() for q in b.questions}
    assert kinds == {"single", "multi", "truefalse", "short"}


def test_every_short_answer_question_carries_a_torch_snippet(banks):
    missing = [q.id for b in banks.values() for q in b.questions
               if q.kind == "short" and not q.snippet]
    assert missing == []


def test_every_question_has_text_and_explanation_in_both_languages(banks):
    for bank in banks.values():
        for q in bank.questions:
            for lang in ("en", "ko"):
                assert q.text[lang] and q.explanation[lang], f"{q.source}:{q.id}"
            assert q.text["en"] != q.text["ko"], f"{q.source}:{q.id} ko text is untranslated"


def test_a_wrong_answer_is_judged_wrong_for_every_real_question(banks):
    for bank in banks.values():
        for planned in plan(bank.questions, seed=3):
            assert not check_answer(planned, wrong_input(planned)).correct, planned.question.id


def test_listing_counts_match_the_validated_banks(banks):
    for topic, bank in banks.items():
        assert count_questions(bank.path) == len(bank.questions), topic


def test_banks_are_found_in_the_repo_and_in_an_installed_wheel(monkeypatch):
    monkeypatch.delenv("SEQLAB_QUIZZES", raising=False)
    dirs = bank_dirs()
    assert dirs[0].parts[-3:] == ("seqlab", "_data", "quizzes")
    assert dirs[1] == REPO / "quizzes"


def test_seqlab_quizzes_overrides_the_bank_folder(tmp_path, monkeypatch):
    write_bank(tmp_path, "demo.toml", GOOD)
    monkeypatch.setenv("SEQLAB_QUIZZES", str(tmp_path))
    assert list(load_banks()) == ["demo"]


# --- validation ------------------------------------------------------------------------------

def test_a_good_bank_loads(tmp_path):
    bank = load_bank(write_bank(tmp_path, "demo.toml", GOOD))
    (q,) = bank.questions
    assert (bank.topic, q.id, q.answer, q.topic) == ("demo", "good-one", 2, "demo")


BROKEN = {
    "answer-out-of-range": ("answer = 2", "answer = 3", "between 1 and 2"),
    "missing-korean": ('text.ko = "하나 고르기"\n', "", "text.ko is missing"),
    "unknown-kind": ('kind = "single"', 'kind = "essay"', "kind must be one of"),
    "no-tags": ('tags = ["demo"]', "tags = []", "tags must be"),
    "multi-answer-not-a-list": ('kind = "single"', 'kind = "multi"', "list of distinct"),
    "choice-missing-language": ('{ en = "b", ko = "나" }', '{ en = "b" }', "choices[2].ko"),
    "typo-in-key": ("answer = 2", "answer = 2\nexplanaton = 1", "unknown key"),
    "truefalse-with-choices": ('kind = "single"', 'kind = "truefalse"', "no choices"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_question_is_reported_as_file_colon_id(tmp_path, case):
    old, new, reason = BROKEN[case]
    body = GOOD.replace(old, new)
    with pytest.raises(QuizError) as info:
        load_bank(write_bank(tmp_path, "broken.toml", body))
    assert info.value.message.startswith("broken.toml:good-one: "), info.value.message
    assert reason in info.value.message


def test_a_duplicate_id_in_one_file_is_reported(tmp_path):
    with pytest.raises(QuizError, match=r"^dup\.toml:good-one: duplicate id"):
        load_bank(write_bank(tmp_path, "dup.toml", GOOD + GOOD))


def test_a_duplicate_id_across_files_names_both_files(tmp_path):
    write_bank(tmp_path, "a.toml", GOOD)
    write_bank(tmp_path, "b.toml", GOOD)
    with pytest.raises(QuizError, match=r"^b\.toml:good-one: duplicate id, also in a\.toml"):
        load_banks(tmp_path)


def test_a_question_without_an_id_is_named_by_its_position(tmp_path):
    with pytest.raises(QuizError, match=r"^noid\.toml:#1: missing or malformed id"):
        load_bank(write_bank(tmp_path, "noid.toml", GOOD.replace('id = "good-one"\n', "")))


def test_invalid_toml_names_the_file(tmp_path):
    with pytest.raises(QuizError, match=r"^bad\.toml: invalid TOML"):
        load_bank(write_bank(tmp_path, "bad.toml", GOOD.replace("answer = 2", "answer = ")))


def test_an_empty_bank_is_an_error(tmp_path):
    with pytest.raises(QuizError, match=r"^empty\.toml: no \[\[questions\]\]"):
        load_bank(write_bank(tmp_path, "empty.toml", "# nothing yet\n"))


def test_a_missing_bank_folder_says_how_to_fix_it(tmp_path, monkeypatch):
    from seqlab.quiz.bank import find_bank_dir

    monkeypatch.setenv("SEQLAB_QUIZZES", str(tmp_path / "nowhere"))
    with pytest.raises(QuizError) as info:
        find_bank_dir()
    assert "SEQLAB_QUIZZES" in (info.value.hint or "")
