"""Correct: r and z from one matmul of [x, h] with the stacked [W_ir|W_hr; W_iz|W_hz] blocks, the
candidate apart; the time loop outside, every layer stepped once per time step (states in a list)."""

import torch
from torch import nn


class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        k = 1.0 / hidden_size ** 0.5
        self.weight_ih = nn.Parameter(torch.rand(3 * hidden_size, input_size) * 2 * k - k)
        self.weight_hh = nn.Parameter(torch.rand(3 * hidden_size, hidden_size) * 2 * k - k)
        self.bias_ih = nn.Parameter(torch.rand(3 * hidden_size) * 2 * k - k) if bias else None
        self.bias_hh = nn.Parameter(torch.rand(3 * hidden_size) * 2 * k - k) if bias else None

    def forward(self, x, h=None):
        H = self.hidden_size
        if h is None:
            h = torch.zeros(x.shape[0], H, dtype=x.dtype, device=x.device)
        w_rz = torch.cat([self.weight_ih[:2 * H], self.weight_hh[:2 * H]], dim=1)     # (2H, I + H)
        rz = torch.cat([x, h], dim=1) @ w_rz.t()
        hidden_n = h @ self.weight_hh[2 * H:].t()
        input_n = x @ self.weight_ih[2 * H:].t()
        if self.bias_ih is not None:
            rz = rz + self.bias_ih[:2 * H] + self.bias_hh[:2 * H]
            hidden_n = hidden_n + self.bias_hh[2 * H:]
            input_n = input_n + self.bias_ih[2 * H:]
        r, z = torch.sigmoid(rz).split(H, dim=1)
        n = torch.tanh(input_n + r * hidden_n)
        return (1 - z) * n + z * h


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        self.cells = nn.ModuleList()
        for k in range(num_layers):
            self.cells.append(GRUCell(input_size if k == 0 else hidden_size, hidden_size, bias))

    def forward(self, x, h=None):
        seq = x.permute(1, 0, 2) if self.batch_first else x
        states = [None] * self.num_layers if h is None else [h[k] for k in range(self.num_layers)]
        outputs = []
        for t in range(seq.shape[0]):
            inp = seq[t]
            for k, cell in enumerate(self.cells):
                states[k] = cell(inp, states[k])
                inp = states[k]
            outputs.append(inp)
        out = torch.stack(outputs, dim=0)
        if self.batch_first:
            out = out.permute(1, 0, 2)
        return out, torch.stack(states, dim=0)


def count_parameters(module):
    return sum(map(torch.numel, filter(lambda p: p.requires_grad, module.parameters())))
