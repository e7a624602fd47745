"""Oracles for the lstm assignment: torch's own LSTM modules, weight transplant, and the *wrong*
LSTMs the graders compare against to name a student's misconception.

Everything on the trusted side is float64. Random modules have float32-exact parameters (so the
student's float32 copy is the same numbers) and non-zero biases (so both biases are tested).
Torch names layer k's weights `weight_ih_l{k}`; the course's LSTM keeps them in `cells.{k}.weight_ih`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "CELL_SUSPECTS",
    "LSTM_SUSPECTS",
    "CellVariant",
    "LstmVariant",
    "cell_params",
    "diagnose_cell",
    "diagnose_lstm",
    "lstm_params",
    "manual_cell",
    "manual_lstm",
    "random_torch_cell",
    "random_torch_lstm",
    "torch_lstm_reference",
]

_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _randomise(module: torch.nn.Module) -> torch.nn.Module:
    module = module.double().eval()
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.uniform_(-0.8, 0.8) if "weight" in name else param.normal_(0.0, 0.5)
            param.copy_(param.float().double())  # float32-exact
    return module


def random_torch_cell(input_size: int, hidden_size: int, bias: bool = True) -> torch.nn.LSTMCell:
    return _randomise(torch.nn.LSTMCell(input_size, hidden_size, bias=bias))


def random_torch_lstm(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                      batch_first: bool = False) -> torch.nn.LSTM:
    return _randomise(torch.nn.LSTM(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first))


def cell_params(cell: torch.nn.LSTMCell) -> dict[str, torch.Tensor]:
    """The course's LSTMCell parameters (same names as torch's), float32."""
    return {n: p.detach().float().clone() for n, p in cell.named_parameters()}


def lstm_params(lstm: torch.nn.LSTM) -> dict[str, torch.Tensor]:
    """torch's weight_ih_l{k} ... as the course's cells.{k}.weight_ih ..., float32."""
    params: dict[str, torch.Tensor] = {}
    for k in range(lstm.num_layers):
        for name in _PARAM_NAMES:
            value = getattr(lstm, f"{name}_l{k}", None)
            if value is not None:
                params[f"cells.{k}.{name}"] = value.detach().float().clone()
    return params


def torch_lstm_reference(lstm: torch.nn.LSTM, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                         ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    with torch.no_grad():
        hx = None if state is None else (state[0].double(), state[1].double())
        return lstm(x.double(), hx)


@dataclass(frozen=True)
class CellVariant:
    """One way of computing an LSTM step; the defaults are torch's."""

    gate_order: str = "ifgo"              # "ifog": the chunks read as input, forget, output, candidate
    tanh_on_cell: bool = True             # False: h = o * c
    forget_on_candidate: bool = False     # True: c = i * c_prev + f * g
    bias_hh: bool = True                  # False: bias_hh left out


def manual_cell(params: dict[str, torch.Tensor], x: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None,
                variant: CellVariant = CellVariant()) -> tuple[torch.Tensor, torch.Tensor]:
    p = {k: v.double() for k, v in params.items()}
    x = x.double()
    hidden = p["weight_hh"].size(1)
    if state is None:
        h = c = x.new_zeros(x.size(0), hidden)
    else:
        h, c = state[0].double(), state[1].double()
    gates = x @ p["weight_ih"].T + h @ p["weight_hh"].T
    if "bias_ih" in p:
        gates = gates + p["bias_ih"]
    if "bias_hh" in p and variant.bias_hh:
        gates = gates + p["bias_hh"]
    chunks = dict(zip(variant.gate_order, gates.chunk(4, dim=1)))
    i, f, o = torch.sigmoid(chunks["i"]), torch.sigmoid(chunks["f"]), torch.sigmoid(chunks["o"])
    g = torch.tanh(chunks["g"])
    c = i * c + f * g if variant.forget_on_candidate else f * c + i * g
    h = o * (torch.tanh(c) if variant.tanh_on_cell else c)
    return h, c


@dataclass(frozen=True)
class LstmVariant:
    cell: CellVariant = CellVariant()
    layout: str = "correct"       # "ignore-batch-first" | "output-not-transposed" | "state-batch-first"
    raw_input: bool = False       # every layer reads x instead of the layer below's output
    skip_first: bool = False      # the time loop starts at t = 1


def manual_lstm(params: dict[str, torch.Tensor], num_layers: int, x: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None, batch_first: bool = False,
                variant: LstmVariant = LstmVariant()
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The course's LSTM by hand from cells.{k}.* parameters (float64), optionally with one bug."""
    seq = x.double()
    if batch_first and variant.layout != "ignore-batch-first":
        seq = seq.transpose(0, 1)
    raw, h_n, c_n = seq, [], []
    for k in range(num_layers):
        cell = {n: params[f"cells.{k}.{n}"] for n in _PARAM_NAMES if f"cells.{k}.{n}" in params}
        layer_state = None if state is None else (state[0][k], state[1][k])
        h, c = (layer_state if layer_state is not None
                else (seq.new_zeros(seq.size(1), cell["weight_hh"].size(1)),) * 2)
        outputs = []
        for t in range(1 if variant.skip_first else 0, seq.size(0)):
            h, c = manual_cell(cell, (raw if variant.raw_input else seq)[t], (h, c), variant.cell)
            outputs.append(h)
        seq = torch.stack(outputs)
        h_n.append(h)
        c_n.append(c)
    hs, cs = torch.stack(h_n), torch.stack(c_n)
    if batch_first and variant.layout in ("correct", "state-batch-first"):
        seq = seq.transpose(0, 1)
    if batch_first and variant.layout == "state-batch-first":
        hs, cs = hs.transpose(0, 1), cs.transpose(0, 1)
    return seq, (hs, cs)


CELL_SUSPECTS: tuple[tuple[str, CellVariant], ...] = (
    ("gate-order", CellVariant(gate_order="ifog")),
    ("cell-output-no-tanh", CellVariant(tanh_on_cell=False)),
    ("forget-gate-on-candidate", CellVariant(forget_on_candidate=True)),
    ("bias-hh-ignored", CellVariant(bias_hh=False)),
)

LSTM_SUSPECTS: tuple[tuple[str, LstmVariant], ...] = (
    *((name, LstmVariant(cell=v)) for name, v in CELL_SUSPECTS),
    ("batch-first-ignored", LstmVariant(layout="ignore-batch-first")),
    ("output-not-transposed", LstmVariant(layout="output-not-transposed")),
    ("state-batch-first", LstmVariant(layout="state-batch-first")),
    ("layers-fed-raw-input", LstmVariant(raw_input=True)),
    ("first-time-step", LstmVariant(skip_first=True)),
)


def _close(actual: object, expected: torch.Tensor) -> bool:
    from .tolerance import is_close

    return isinstance(actual, torch.Tensor) and is_close(actual, expected)


def _wrong(compute, *args) -> tuple | None:
    """A wrong oracle's result, or None when that bug cannot even run on these shapes."""
    try:
        return compute(*args)
    except RuntimeError:
        return None


def diagnose_cell(h: object, c: object, params: dict[str, torch.Tensor], x: torch.Tensor,
                  state: tuple[torch.Tensor, torch.Tensor] | None = None) -> str | None:
    """The misconception whose wrong cell reproduces the student's h (or c), if any. A bug that
    gives the right answer on these inputs (bias_hh ignored when there is none) is never named."""
    right_h, right_c = manual_cell(params, x, state)
    for name, variant in CELL_SUSPECTS:
        wrong_h, wrong_c = manual_cell(params, x, state, variant)
        if _close(h, wrong_h) and not _close(right_h, wrong_h):
            return name
        if variant.tanh_on_cell and _close(c, wrong_c) and not _close(right_c, wrong_c):
            return name
    return None


def diagnose_lstm(output: object, h_n: object, params: dict[str, torch.Tensor], num_layers: int,
                  x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                  batch_first: bool = False) -> str | None:
    """The misconception whose wrong LSTM reproduces the student's output (or h_n, for the bug that
    only changes h_n), if any. A bug that gives the right answer on these inputs is never named."""
    right_out, (right_h, _) = manual_lstm(params, num_layers, x, state, batch_first)
    for name, variant in LSTM_SUSPECTS:
        if variant.raw_input and x.size(-1) != params["cells.0.weight_hh"].size(1):
            continue
        wrong = _wrong(manual_lstm, params, num_layers, x, state, batch_first, variant)
        if wrong is None:
            continue
        wrong_out, (wrong_h, _) = wrong
        if variant.layout == "state-batch-first":  # its output is right: only h_n tells
            if _close(h_n, wrong_h) and not _close(right_h, wrong_h):
                return name
        elif _close(output, wrong_out) and not _close(right_out, wrong_out):
            return name
    return None
