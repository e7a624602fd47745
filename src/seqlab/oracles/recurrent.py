"""Weight transplant into a student's recurrent cell or stack (the gru and lstm graders share it).

torch's weights are copied into the parameters the spec names (`weight_ih`, `weight_hh`,
`bias_ih`, `bias_hh`, in `cells.{k}.` for a stack), each resolved on the student's module by
attribute path, so aliases and nested modules are fine. A parameter that is missing or has
another shape fails the item with the misconception it shows: only one bias vector, layers that
all read the raw input (layer k > 0 sized for input_size), or a layout that is not torch's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqlab.grading.expect import differs, fail

__all__ = ["CellLayout", "load_cell_weights"]


@dataclass(frozen=True)
class CellLayout:
    """What one assignment's cell is called, how many gate blocks it stacks, and the sentences
    its feedback uses for the two bugs a parameter's shape alone shows."""

    cell: str             # "GRUCell"
    blocks: int           # 3 for a GRU (r, z, n), 4 for an LSTM (i, f, g, o)
    gates: str            # "r, z, n" / "gates"
    why_bias_hh: str
    why_raw_input: str


def _one_bias_only(model, name: str, own: dict[str, torch.Tensor | None], rows: int) -> bool:
    """Both biases missing but one (blocks*H,) vector held under another name: a single-bias cell."""
    prefix = name.rsplit(".", 1)[0] + "." if "." in name else ""
    if own.get(prefix + "bias_ih") is not None or own.get(prefix + "bias_hh") is not None:
        return False
    found = model.parameters_by_name()
    return any(n.startswith(prefix) and "." not in n[len(prefix):] and tuple(v.shape) == (rows,)
               for n, v in found.items() if isinstance(v, torch.Tensor))


def _missing(model, name: str, value: torch.Tensor, own: dict[str, torch.Tensor | None], what: str,
             layout: CellLayout) -> None:
    if name.endswith("bias_hh") and own.get(name.replace("bias_hh", "bias_ih")) is not None:
        fail(f"{what} has no parameter bias_hh: " + layout.why_bias_hh, "bias-hh-ignored")
    if "bias" in name and _one_bias_only(model, name, own, value.size(0)):
        fail(f"{what} holds one bias vector instead of torch's two, bias_ih and bias_hh: " + layout.why_bias_hh,
             "bias-hh-ignored")
    if name.startswith("cells."):
        differs(f"{what} has no parameter `{name}`: keep the layers in self.cells (an nn.ModuleList of "
                f"{layout.cell}), each with weight_ih, weight_hh, bias_ih and bias_hh", "cells-layout")
    rows = f"{layout.blocks}H"
    fail(f"{what} has no parameter `{name}`: keep weight_ih ({rows}, input_size), weight_hh ({rows}, H), "
         f"bias_ih and bias_hh ({rows}) under these names (torch's gate layout, not one module per gate)",
         "cell-parameters")


def load_cell_weights(model, params: dict[str, torch.Tensor], what: str, layout: CellLayout) -> None:
    """Copy torch's weights in by name; a missing or misshapen parameter names its misconception."""
    own = model.parameters_at(list(params))
    for name, value in params.items():
        if own.get(name) is None:
            _missing(model, name, value, own, what, layout)
        shape = tuple(own[name].shape)
        if shape != tuple(value.shape):
            if name.startswith("cells.") and not name.startswith("cells.0.") and name.endswith("weight_ih"):
                fail(f"{what}: {name} has shape {shape}, expected {tuple(value.shape)}: "
                     + layout.why_raw_input + ", so its input size is hidden_size", "layers-fed-raw-input")
            message = (f"{what}: parameter {name} has shape {shape}, expected {tuple(value.shape)} "
                       f"({layout.gates} stacked as {layout.blocks} blocks of H rows)")
            if name.startswith("cells."):
                differs(message, "cells-layout")
            fail(message, "cell-parameters")
    model.load_parameters(params)
