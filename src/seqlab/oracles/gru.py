"""Oracles for the gru assignment: torch's own GRU modules, weight transplant, and the *wrong*
GRUs the graders compare against to name a student's misconception.

Everything on the trusted side is float64. Random modules have float32-exact parameters (so the
student's float32 copy is the same numbers) and non-zero biases (so every bias block is tested).
Torch names layer k's weights `weight_ih_l{k}`; the course's GRU keeps them in `cells.{k}.weight_ih`.
torch's cell (the one the course teaches):
    r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tolerance import is_close

__all__ = [
    "CELL_SUSPECTS",
    "GRU_SUSPECTS",
    "CellVariant",
    "GruVariant",
    "cell_params",
    "diagnose_cell",
    "diagnose_gru",
    "gru_params",
    "manual_cell",
    "manual_gru",
    "parameter_count",
    "random_torch_cell",
    "random_torch_gru",
    "torch_cells_like",
    "torch_gru_reference",
    "unrolled_torch_gru",
]

_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _float32_exact(module: torch.nn.Module) -> torch.nn.Module:
    """Random weights in (-0.8, 0.8), biases N(0, 0.5), all exactly representable in float32."""
    module = module.double().eval()
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.startswith("weight"):
                param.uniform_(-0.8, 0.8)
            else:
                param.normal_(0.0, 0.5)
            param.copy_(param.float().double())
    return module


def random_torch_cell(input_size: int, hidden_size: int, bias: bool = True) -> torch.nn.GRUCell:
    return _float32_exact(torch.nn.GRUCell(input_size, hidden_size, bias=bias))


def random_torch_gru(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                     batch_first: bool = False) -> torch.nn.GRU:
    return _float32_exact(torch.nn.GRU(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first))


def cell_params(cell: torch.nn.GRUCell) -> dict[str, torch.Tensor]:
    """The course's GRUCell parameters (same names as torch's), float32."""
    return {n: p.detach().float().clone() for n, p in cell.named_parameters()}


def gru_params(gru: torch.nn.GRU) -> dict[str, torch.Tensor]:
    """torch's weight_ih_l{k} ... as the course's cells.{k}.weight_ih ..., float32."""
    return {f"cells.{k}.{name}": getattr(gru, f"{name}_l{k}").detach().float().clone()
            for k in range(gru.num_layers) for name in _PARAM_NAMES if getattr(gru, f"{name}_l{k}", None) is not None}


def parameter_count(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                    blocks: int = 3, bias_hh: bool = True) -> int:
    """Trainable scalars of a stacked GRU (blocks=3) or LSTM (blocks=4); bias_hh=False is the
    count that forgets the second bias vector."""
    total = 0
    for k in range(num_layers):
        fan_in = input_size if k == 0 else hidden_size
        total += blocks * hidden_size * (fan_in + hidden_size)
        if bias:
            total += blocks * hidden_size * (2 if bias_hh else 1)
    return total


def torch_gru_reference(gru: torch.nn.GRU, x: torch.Tensor, h: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return gru(x.double(), None if h is None else h.double())


def torch_cells_like(gru: torch.nn.GRU) -> list[torch.nn.GRUCell]:
    """One torch.nn.GRUCell per layer of `gru`, holding the same weights (float64).

    Gradients are taken through these rather than through nn.GRU itself: its first backward in a
    process costs seconds of one-off setup, a GRUCell's costs milliseconds, and the numbers agree."""
    cells = []
    for k in range(gru.num_layers):
        cell = torch.nn.GRUCell(gru.input_size if k == 0 else gru.hidden_size, gru.hidden_size,
                                bias=gru.bias).double()
        with torch.no_grad():
            for name, param in cell.named_parameters():
                param.copy_(getattr(gru, f"{name}_l{k}"))
        cells.append(cell)
    return cells


def unrolled_torch_gru(cells: list[torch.nn.GRUCell], x: torch.Tensor, h_0: torch.Tensor | None = None,
                       batch_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """torch's GRUCells unrolled over layers and time, with autograd (what nn.GRU computes)."""
    seq = x.transpose(0, 1) if batch_first else x
    finals = []
    for k, cell in enumerate(cells):
        h = None if h_0 is None else h_0[k]
        steps = []
        for t in range(seq.size(0)):
            h = cell(seq[t], h)
            steps.append(h)
        seq = torch.stack(steps)
        finals.append(h)
    return (seq.transpose(0, 1) if batch_first else seq), torch.stack(finals)


@dataclass(frozen=True)
class CellVariant:
    """One way of computing a GRU step; the defaults are torch's."""

    gate_order: str = "rzn"                # "zrn": the chunks read as update, reset, new
    reset: str = "hidden-projection"       # "before-projection": W_hn (r ⊙ h); "outside-bias": r ⊙ (W_hn h) + b_hn
    candidate: str = "tanh"                # "sigmoid"
    interpolation: str = "torch"           # "reversed": h' = z ⊙ n + (1 − z) ⊙ h
    bias_hh: bool = True                   # False: bias_hh kept but never added


def manual_cell(params: dict[str, torch.Tensor], x: torch.Tensor, h: torch.Tensor | None = None,
                variant: CellVariant = CellVariant()) -> torch.Tensor:
    p = {k: v.double() for k, v in params.items()}
    x = x.double()
    hidden = p["weight_hh"].size(1)
    h = x.new_zeros(x.size(0), hidden) if h is None else h.double()
    b_ih = p.get("bias_ih", x.new_zeros(3 * hidden))
    b_hh = p.get("bias_hh", x.new_zeros(3 * hidden)) if variant.bias_hh else x.new_zeros(3 * hidden)
    order = variant.gate_order
    w_i = dict(zip(order, p["weight_ih"].chunk(3))), dict(zip(order, b_ih.chunk(3)))
    w_h = dict(zip(order, p["weight_hh"].chunk(3))), dict(zip(order, b_hh.chunk(3)))

    def gate(g: str) -> torch.Tensor:
        return torch.sigmoid(x @ w_i[0][g].T + w_i[1][g] + h @ w_h[0][g].T + w_h[1][g])

    r, z = gate("r"), gate("z")
    if variant.reset == "before-projection":
        hidden_part = (r * h) @ w_h[0]["n"].T + w_h[1]["n"]
    elif variant.reset == "outside-bias":
        hidden_part = r * (h @ w_h[0]["n"].T) + w_h[1]["n"]
    else:
        hidden_part = r * (h @ w_h[0]["n"].T + w_h[1]["n"])
    pre = x @ w_i[0]["n"].T + w_i[1]["n"] + hidden_part
    n = torch.sigmoid(pre) if variant.candidate == "sigmoid" else torch.tanh(pre)
    return z * n + (1 - z) * h if variant.interpolation == "reversed" else (1 - z) * n + z * h


@dataclass(frozen=True)
class GruVariant:
    cell: CellVariant = CellVariant()
    layout: str = "correct"       # "ignore-batch-first" | "output-not-transposed" | "state-batch-first"
    raw_input: bool = False       # every layer reads x instead of the layer below's output


def manual_gru(params: dict[str, torch.Tensor], num_layers: int, x: torch.Tensor, h_0: torch.Tensor | None = None,
               batch_first: bool = False, variant: GruVariant = GruVariant()) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's GRU by hand from cells.{k}.* parameters (float64), optionally with one bug."""
    seq = x.double()
    if batch_first and variant.layout != "ignore-batch-first":
        seq = seq.transpose(0, 1)
    raw, finals = seq, []
    for k in range(num_layers):
        cell = {n: params[f"cells.{k}.{n}"] for n in _PARAM_NAMES if f"cells.{k}.{n}" in params}
        h = None if h_0 is None else h_0[k]
        outputs = []
        for t in range(seq.size(0)):
            h = manual_cell(cell, (raw if variant.raw_input else seq)[t], h, variant.cell)
            outputs.append(h)
        seq = torch.stack(outputs)
        finals.append(h)
    h_n = torch.stack(finals)
    if batch_first and variant.layout in ("correct", "state-batch-first"):
        seq = seq.transpose(0, 1)
    if batch_first and variant.layout == "state-batch-first":
        h_n = h_n.transpose(0, 1)
    return seq, h_n


CELL_SUSPECTS: tuple[tuple[str, CellVariant], ...] = (
    ("gate-order", CellVariant(gate_order="zrn")),
    ("reset-before-projection", CellVariant(reset="before-projection")),
    ("reset-outside-bias", CellVariant(reset="outside-bias")),
    ("update-reversed", CellVariant(interpolation="reversed")),
    ("sigmoid-candidate", CellVariant(candidate="sigmoid")),
    ("bias-hh-ignored", CellVariant(bias_hh=False)),
)

GRU_SUSPECTS: tuple[tuple[str, GruVariant], ...] = (
    *((name, GruVariant(cell=v)) for name, v in CELL_SUSPECTS),
    ("batch-first-ignored", GruVariant(layout="ignore-batch-first")),
    ("output-not-transposed", GruVariant(layout="output-not-transposed")),
    ("state-batch-first", GruVariant(layout="state-batch-first")),
    ("layers-fed-raw-input", GruVariant(raw_input=True)),
)


def _close(actual: object, expected: torch.Tensor) -> bool:
    return isinstance(actual, torch.Tensor) and is_close(actual, expected)


def diagnose_cell(h_new: object, params: dict[str, torch.Tensor], x: torch.Tensor,
                  h: torch.Tensor | None = None) -> str | None:
    """The misconception whose wrong cell reproduces the student's h', if exactly one does. A bug
    that gives the right answer on these inputs (reset outside b_hn when there is no bias) is never
    named, nor are two bugs these inputs cannot tell apart (both reset variants when h = 0)."""
    right = manual_cell(params, x, h)
    found = [name for name, variant in CELL_SUSPECTS
             if _close(h_new, wrong := manual_cell(params, x, h, variant)) and not _close(right, wrong)]
    return found[0] if len(found) == 1 else None


def diagnose_gru(output: object, h_n: object, params: dict[str, torch.Tensor], num_layers: int, x: torch.Tensor,
                 h_0: torch.Tensor | None = None, batch_first: bool = False) -> str | None:
    """The misconception whose wrong GRU reproduces the student's output (or h_n, for the bug that
    only changes h_n), if exactly one does. A bug that gives the right answer on these inputs, or
    that these inputs cannot tell from another, is never named."""
    right_out, right_h = manual_gru(params, num_layers, x, h_0, batch_first)
    found = []
    for name, variant in GRU_SUSPECTS:
        if variant.raw_input and x.size(-1) != params["cells.0.weight_hh"].size(1):
            continue  # every layer reading x cannot even run unless input_size == H
        try:
            wrong_out, wrong_h = manual_gru(params, num_layers, x, h_0, batch_first, variant)
        except RuntimeError:
            continue
        if variant.layout == "state-batch-first":  # its output is right: only h_n tells
            if _close(h_n, wrong_h) and not _close(right_h, wrong_h):
                found.append(name)
        elif _close(output, wrong_out) and not _close(right_out, wrong_out):
            found.append(name)
    return found[0] if len(found) == 1 else None
