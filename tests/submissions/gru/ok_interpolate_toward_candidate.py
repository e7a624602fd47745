"""Correct: two projections chunked with torch.mm, the update written as h' = n + z * (h - n); the
layers outside, each layer's states unbound from h and stacked back."""

import torch
import torch.nn as nn


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super(GRUCell, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.Tensor(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.Tensor(3 * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.Tensor(3 * hidden_size))
            self.bias_hh = nn.Parameter(torch.Tensor(3 * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        std = 1.0 / hidden_size ** 0.5
        for w in self.parameters():
            nn.init.uniform_(w, -std, std)

    def forward(self, x, h=None):
        if h is None:
            h = x.new_zeros((x.size(0), self.hidden_size))
        gi = torch.mm(x, self.weight_ih.t())
        gh = torch.mm(h, self.weight_hh.t())
        if self.bias_ih is not None:
            gi = gi + self.bias_ih
            gh = gh + self.bias_hh
        i_reset, i_update, i_new = gi.chunk(3, 1)
        h_reset, h_update, h_new = gh.chunk(3, 1)
        resetgate = torch.sigmoid(i_reset + h_reset)
        updategate = torch.sigmoid(i_update + h_update)
        newgate = torch.tanh(i_new + resetgate * h_new)
        return newgate + updategate * (h - newgate)


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super(GRU, self).__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.cells = nn.ModuleList(
            [GRUCell(input_size, hidden_size, bias)]
            + [GRUCell(hidden_size, hidden_size, bias) for _ in range(num_layers - 1)])

    def forward(self, x, h=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        if h is None:
            h = torch.zeros(self.num_layers, x.size(1), self.hidden_size, dtype=x.dtype, device=x.device)
        finals = []
        for cell, hk in zip(self.cells, h.unbind(0)):
            steps = []
            for xt in x.unbind(0):
                hk = cell(xt, hk)
                steps.append(hk)
            x = torch.stack(steps)
            finals.append(hk)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, torch.stack(finals)


def count_parameters(module):
    total = 0
    for p in module.parameters():
        if p.requires_grad:
            total += p.nelement()
    return total
