"""Bug (a common tutorial habit): one nn.Linear per gate and side, update gate first, and no
weight_ih / weight_hh / bias_ih / bias_hh, so torch's weights have nowhere to go. The equations
themselves are torch's."""

import torch
from torch import nn


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.x2z = nn.Linear(input_size, hidden_size, bias=bias)
        self.h2z = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.x2r = nn.Linear(input_size, hidden_size, bias=bias)
        self.h2r = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.x2n = nn.Linear(input_size, hidden_size, bias=bias)
        self.h2n = nn.Linear(hidden_size, hidden_size, bias=bias)

    def forward(self, x, h=None):
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        z = torch.sigmoid(self.x2z(x) + self.h2z(h))
        r = torch.sigmoid(self.x2r(x) + self.h2r(h))
        n = torch.tanh(self.x2n(x) + r * self.h2n(h))
        return z * h + (1 - z) * n


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.cells = nn.ModuleList(GRUCell(input_size if k == 0 else hidden_size, hidden_size, bias)
                                   for k in range(num_layers))

    def forward(self, x, h=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        if h is None:
            h = x.new_zeros(self.num_layers, x.size(1), self.hidden_size)
        finals = []
        for k, cell in enumerate(self.cells):
            state, steps = h[k], []
            for t in range(x.size(0)):
                state = cell(x[t], state)
                steps.append(state)
            x = torch.stack(steps)
            finals.append(state)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, torch.stack(finals)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
