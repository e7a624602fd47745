"""Bug: GRU sizes its zero initial state from x.size(0), which is the batch only when batch_first=True."""

import torch
import torch.nn.functional as F
from torch import nn


class GRUCell(nn.Module):
    """One GRU step; blocks in torch's order: reset r, update z, new n."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = hidden_size ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size).uniform_(-bound, bound))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-bound, bound))
            self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-bound, bound))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def forward(self, x, h=None):
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        i_r, i_z, i_n = F.linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=1)   # input side
        h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, dim=1)   # hidden side, with b_h*
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)                 # r scales W_hn h + b_hn, bias included
        h_new = (1 - z) * n + z * h                   # z keeps the old state
        return h_new


class GRU(nn.Module):
    """num_layers GRUCells stacked; the time loop runs inside each layer."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        sizes = [input_size] + [hidden_size] * (num_layers - 1)       # layer k > 0 reads H features
        self.cells = nn.ModuleList(GRUCell(n_in, hidden_size, bias=bias) for n_in in sizes)

    def forward(self, x, h=None):
        if h is None:
            h = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)   # x.size(0): B only if batch_first
        if self.batch_first:
            x = x.transpose(0, 1)                                     # (B, L, I) -> (L, B, I)
        length = x.size(0)
        layer_input, last_states = x, []
        for k, cell in enumerate(self.cells):
            state, states = h[k], []                                  # h is (num_layers, B, H), always
            for t in range(length):
                state = cell(layer_input[t], state)
                states.append(state)
            layer_input = torch.stack(states)                         # (L, B, H): the next layer's input
            last_states.append(state)
        output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        h_n = torch.stack(last_states)                                # (num_layers, B, H) in both layouts
        return output, h_n


def count_parameters(module):
    """Number of trainable scalars of `module` (parameters that require a gradient)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
