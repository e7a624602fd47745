"""Correct: one F.linear per gate on slices of the stacked parameters (the per-gate style with
torch's layout), a helper for the slices; the GRU keeps its layers in a plain list it also
registers as self.cells."""

import torch
import torch.nn.functional as F
from torch import nn

GATES = {"reset": 0, "update": 1, "new": 2}


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        scale = hidden_size ** -0.5
        self.weight_ih = nn.Parameter(scale * (2 * torch.rand(3 * hidden_size, input_size) - 1))
        self.weight_hh = nn.Parameter(scale * (2 * torch.rand(3 * hidden_size, hidden_size) - 1))
        if bias:
            self.bias_ih = nn.Parameter(scale * (2 * torch.rand(3 * hidden_size) - 1))
            self.bias_hh = nn.Parameter(scale * (2 * torch.rand(3 * hidden_size) - 1))
        else:
            self.bias_ih = self.bias_hh = None

    def _block(self, tensor, gate):
        if tensor is None:
            return None
        k = GATES[gate] * self.hidden_size
        return tensor[k:k + self.hidden_size]

    def _side(self, inp, weight, bias, gate):
        return F.linear(inp, self._block(weight, gate), self._block(bias, gate))

    def forward(self, x, h=None):
        if h is None:
            h = torch.zeros(len(x), self.hidden_size).to(x)
        r = torch.sigmoid(self._side(x, self.weight_ih, self.bias_ih, "reset")
                          + self._side(h, self.weight_hh, self.bias_hh, "reset"))
        z = torch.sigmoid(self._side(x, self.weight_ih, self.bias_ih, "update")
                          + self._side(h, self.weight_hh, self.bias_hh, "update"))
        n = torch.tanh(self._side(x, self.weight_ih, self.bias_ih, "new")
                       + r * self._side(h, self.weight_hh, self.bias_hh, "new"))
        return (1.0 - z) * n + z * h


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        layers = []
        for i in range(num_layers):
            layers.append(GRUCell(input_size if i == 0 else hidden_size, hidden_size, bias=bias))
        self.cells = nn.ModuleList(layers)

    def forward(self, x, h=None):
        if self.batch_first:
            x = x.transpose(0, 1).contiguous()
        seq_len, batch = x.size(0), x.size(1)
        if h is None:
            h = x.new_zeros(self.num_layers, batch, self.hidden_size)
        layer_in = x
        last = []
        for i in range(self.num_layers):
            h_i = h[i]
            outs = []
            for t in range(seq_len):
                h_i = self.cells[i](layer_in[t], h_i)
                outs += [h_i]
            layer_in = torch.stack(outs, 0)
            last += [h_i]
        output = layer_in.transpose(0, 1) if self.batch_first else layer_in
        return output, torch.stack(last, 0)


def count_parameters(module):
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
