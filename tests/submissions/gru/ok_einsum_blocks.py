"""Correct: weights viewed as (3, H, in) blocks and contracted with einsum; torch.where-free, the
candidate's hidden part kept apart; time loop inside each layer, output filled into a preallocated
tensor that nothing reads back during the loop."""

import math

import torch
from torch import nn


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x, h=None):
        H = self.hidden_size
        if h is None:
            h = x.new_zeros(x.shape[0], H)
        gi = torch.einsum("bi,ghi->gbh", x, self.weight_ih.view(3, H, -1))     # (3, B, H)
        gh = torch.einsum("bj,ghj->gbh", h, self.weight_hh.view(3, H, H))
        if self.bias_ih is not None:
            gi = gi + self.bias_ih.view(3, 1, H)
            gh = gh + self.bias_hh.view(3, 1, H)
        r = torch.sigmoid(gi[0] + gh[0])
        z = torch.sigmoid(gi[1] + gh[1])
        n = torch.tanh(gi[2] + r * gh[2])
        return torch.lerp(n, h, z)                     # n + z * (h - n) = (1 - z) n + z h


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.cells = nn.ModuleList([GRUCell(hidden_size if i else input_size, hidden_size, bias)
                                    for i in range(num_layers)])

    def forward(self, x, h=None):
        x = torch.einsum("bli->lbi", x) if self.batch_first else x
        L, B, _ = x.shape
        h_n = []
        for k, cell in enumerate(self.cells):
            state = None if h is None else h[k]
            out = x.new_empty(L, B, self.hidden_size)
            for t in range(L):
                state = cell(x[t], state)
                out[t] = state
            x = out
            h_n.append(state)
        if self.batch_first:
            x = torch.einsum("lbh->blh", x)
        return x, torch.stack(h_n)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
