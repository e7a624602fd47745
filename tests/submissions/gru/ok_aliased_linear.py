"""Correct: the tutorial style with nn.Linear modules x2h / h2h, the spec's names bound to the same
parameters (self.weight_ih is self.x2h.weight, ...), so torch's weights land in the modules used."""

import torch
from torch import nn


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.x2h = nn.Linear(input_size, 3 * hidden_size, bias=bias)
        self.h2h = nn.Linear(hidden_size, 3 * hidden_size, bias=bias)
        std = 1.0 / hidden_size ** 0.5
        for w in self.parameters():
            w.data.uniform_(-std, std)
        self.weight_ih, self.weight_hh = self.x2h.weight, self.h2h.weight      # the spec's names
        if bias:
            self.bias_ih, self.bias_hh = self.x2h.bias, self.h2h.bias
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def forward(self, x, hidden=None):
        if hidden is None:
            hidden = x.new_zeros(x.size(0), self.hidden_size)
        x_r, x_z, x_n = self.x2h(x).chunk(3, 1)
        h_r, h_z, h_n = self.h2h(hidden).chunk(3, 1)
        resetgate = torch.sigmoid(x_r + h_r)
        updategate = torch.sigmoid(x_z + h_z)
        newgate = torch.tanh(x_n + resetgate * h_n)
        return updategate * hidden + (1 - updategate) * newgate


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.cells = nn.ModuleList()
        self.cells.append(GRUCell(input_size, hidden_size, bias))
        for _ in range(1, num_layers):
            self.cells.append(GRUCell(hidden_size, hidden_size, bias))

    def forward(self, x, h0=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        hidden = list(h0) if h0 is not None else [None] * self.num_layers
        outs = []
        for t in range(x.size(0)):
            layer_input = x[t]
            for layer in range(self.num_layers):
                hidden[layer] = self.cells[layer](layer_input, hidden[layer])
                layer_input = hidden[layer]
            outs.append(layer_input.unsqueeze(0))
        output = torch.cat(outs, 0)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, torch.stack(hidden)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
