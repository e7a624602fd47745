"""Hidden grader for gru: a GRU from scratch (two gates, no cell state), `batch_first` done right.

One test per rubric item; the checks they call live with the oracles (seqlab.oracles.gru_checks:
calling the student's GRUCell / GRU and comparing with torch.nn.GRUCell / torch.nn.GRU, weights
copied by name, failures diagnosed against *wrong* GRUs; seqlab.oracles.gru_training: gradients
compared with torch's for the same inputs and upstream gradient, and the training run, which
happens here on the trusted side). Every hidden call uses the same sizes for every student, each
axis different from every other and from the number of layers, so no axis mix-up passes by
chance. Parameters are resolved on the student's module by attribute path (aliases are fine); an
item that fails only because an item it `depends_on` already failed says "same cause as ...".
"""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.grading.expect import fail
from seqlab.oracles.gru import cell_params, gru_params, random_torch_cell, random_torch_gru
from seqlab.oracles.gru_checks import (
    HIDDEN_SIZE,
    INPUT_SIZE,
    N_BATCH,
    SEQ_LEN,
    expect_cell_like_torch,
    expect_gru_like_torch,
    load,
)
from seqlab.oracles.gru_training import STEPS, gradient_pass, trained_accuracy, why_not_learning

STUDENT_API = ("GRUCell", "GRU", "count_parameters")


# -- GRUCell ----------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="cell-parameters")
def test_cell_parameters_have_torch_names_and_shapes(submission):
    cell = submission.get("GRUCell")(INPUT_SIZE, HIDDEN_SIZE)
    load(cell, cell_params(random_torch_cell(INPUT_SIZE, HIDDEN_SIZE)), "GRUCell")


@pytest.mark.rubric(points=3, misconception="cell-equations")
def test_cell_matches_torch_gru_cell(submission):
    expect_cell_like_torch(submission, bias=True, with_state=True, misconception="cell-equations")


@pytest.mark.rubric(points=1, misconception="zero-initial-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_cell_starts_from_zero_state_when_none(submission):
    expect_cell_like_torch(submission, bias=True, with_state=False, misconception="zero-initial-state")


@pytest.mark.rubric(points=1, misconception="bias-flag-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_cell_without_bias_matches_torch_gru_cell(submission):
    expect_cell_like_torch(submission, bias=False, with_state=True, misconception="bias-flag-ignored")


# -- GRU --------------------------------------------------------------------------------------

@pytest.mark.rubric(points=1, misconception="cells-layout",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_gru_keeps_its_layers_in_cells(submission):
    model = submission.get("GRU")(INPUT_SIZE, HIDDEN_SIZE, num_layers=3)
    load(model, gru_params(random_torch_gru(INPUT_SIZE, HIDDEN_SIZE, 3)), "GRU(num_layers=3)")


@pytest.mark.rubric(points=3, misconception="gru-equations",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell"))
def test_gru_matches_torch_gru_for_one_to_three_layers(submission):
    for num_layers in (1, 2, 3):
        expect_gru_like_torch(submission, num_layers, batch_first=False)
    expect_gru_like_torch(submission, 2, batch_first=False, input_size=HIDDEN_SIZE)  # catches raw input


@pytest.mark.rubric(points=2, misconception="batch-first-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gru_batch_first_matches_torch_gru(submission):
    for num_layers in (1, 3):
        expect_gru_like_torch(submission, num_layers, batch_first=True)


@pytest.mark.rubric(points=2, misconception="state-batch-first",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_final_state_is_layer_first_in_both_layouts(submission):
    for batch_first in (True, False):
        expect_gru_like_torch(submission, 2, batch_first)


@pytest.mark.rubric(points=2, misconception="initial-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_given_initial_state_is_used_and_left_unchanged(submission):
    for batch_first, num_layers in ((False, 2), (True, 3), (True, 1)):
        expect_gru_like_torch(submission, num_layers, batch_first, with_state=True)


@pytest.mark.rubric(points=1, misconception="bias-flag-ignored",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gru_without_bias_matches_torch_gru(submission):
    expect_gru_like_torch(submission, 2, batch_first=True, bias=False, with_state=True)


@pytest.mark.rubric(points=1, misconception="size-one-axes",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_batch_of_one_and_sequence_of_length_one(submission):
    for batch_first in (True, False):
        for batch, length in ((1, SEQ_LEN), (N_BATCH, 1), (1, 1)):
            expect_gru_like_torch(submission, 2, batch_first, batch, length, shape_misconception="size-one-axes")


@pytest.mark.rubric(points=2, misconception="detached-state",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gradients_match_torch_gru(submission):
    gradient_pass(submission, batch_first=True, with_state=True, upstream_on="output")
    gradient_pass(submission, batch_first=False, with_state=False, upstream_on="h_n")


# -- count_parameters -------------------------------------------------------------------------

def _as_count(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())
    return None


@pytest.mark.rubric(points=2, misconception="param-count")
def test_count_parameters_counts_trainable_scalars(submission):
    count_parameters = submission.get("count_parameters")
    cases = [("GRUCell", (INPUT_SIZE, HIDDEN_SIZE), {}), ("GRU", (INPUT_SIZE, HIDDEN_SIZE), {"num_layers": 3}),
             ("GRU", (HIDDEN_SIZE, INPUT_SIZE), {"num_layers": 2, "bias": False})]
    for name, args, kwargs in cases:
        module = submission.get(name)(*args, **kwargs)
        params = module.parameters_by_name()
        expected = sum(p.numel() for p in params.values())
        what = f"count_parameters({name}({', '.join(map(str, args))}{''.join(f', {k}={v}' for k, v in kwargs.items())}))"
        value = count_parameters(module)
        counted = _as_count(value)
        if counted is None:
            fail(f"{what} should return an int (the number of trainable scalars), got {type(value).__name__}",
                 "param-count")
        if counted == expected:
            continue
        without_hh = expected - sum(p.numel() for n, p in params.items() if n.endswith("bias_hh"))
        if counted == without_hh and without_hh != expected:
            fail(f"{what} = {counted}, expected {expected}: the count leaves out bias_hh; torch's GRU has two "
                 "bias vectors of 3H per layer, bias_ih and bias_hh", "count-forgets-bias-hh")
        if counted == len(params):
            fail(f"{what} = {counted}, the number of parameter tensors: count their scalars (p.numel()), "
                 f"expected {expected}", "count-tensors-not-scalars")
        fail(f"{what} = {counted}, expected {expected} (every element of every trainable parameter)", "param-count")


# -- training, on the trusted side ------------------------------------------------------------

@pytest.mark.rubric(points=2, misconception="gru-not-learning",
                    depends_on=("cell_parameters_have_torch_names_and_shapes", "cell_matches_torch_gru_cell",
                                "gru_keeps_its_layers_in_cells", "gru_matches_torch_gru_for_one_to_three_layers"))
def test_gru_learns_to_tell_rising_from_falling(submission):
    generator = torch.Generator().manual_seed(random.randint(0, 2**31 - 1))
    submission.seed(random.randint(0, 2**31 - 1))
    accuracy = trained_accuracy(submission, generator)
    if accuracy < 0.65:
        why_not_learning(submission)
        fail(f"after {STEPS} Adam steps on telling rising from falling noisy lines (a linear head on the last "
             f"step) your GRU reached {accuracy:.0%} accuracy (chance 50%, a correct GRU > 75%)", "gru-not-learning")
