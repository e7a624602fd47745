"""Correct: F.linear + split gates; layer-outer loop over x.unbind(time axis), no transposes; classifier calls rnn(x) without a state."""

import torch
from torch import nn


class LSTMCell(nn.Module):
    """One LSTM step; gates in torch's order: input, forget, cell candidate (g), output."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = hidden_size ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def forward(self, x, state=None):
        if state is None:
            h = c = x.new_zeros(x.size(0), self.hidden_size)
        else:
            h, c = state
        gates = nn.functional.linear(x, self.weight_ih, self.bias_ih) + nn.functional.linear(h, self.weight_hh, self.bias_hh)
        i, f, g, o = gates.split(self.hidden_size, dim=-1)                            # each (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g                                             # the additive cell path
        h = o * torch.tanh(c)
        return h, c


class LSTM(nn.Module):
    """num_layers LSTMCells stacked; the time loop runs inside each layer."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.cells = nn.ModuleList(
            LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias=bias)
            for k in range(num_layers))

    def forward(self, x, state=None):
        t_axis = 1 if self.batch_first else 0
        B = x.size(1 - t_axis)
        steps = list(x.unbind(t_axis))
        hs, cs = [], []
        for k, cell in enumerate(self.cells):
            if state is None:
                h = c = x.new_zeros(B, self.hidden_size)
            else:
                h, c = state[0][k], state[1][k]
            outs = []
            for step in steps:
                h, c = cell(step, (h, c))
                outs.append(h)
            steps = outs
            hs.append(h)
            cs.append(c)
        return torch.stack(steps, dim=t_axis), (torch.stack(hs), torch.stack(cs))


class SequenceClassifier(nn.Module):
    """nn.LSTM over the sequence, a linear layer on the top layer's last time step."""

    def __init__(self, x_dim=28, h_dim=256, y_dim=10, n_layer=2):
        super().__init__()
        self.x_dim, self.h_dim, self.y_dim, self.n_layer = x_dim, h_dim, y_dim, n_layer
        self.rnn = nn.LSTM(x_dim, h_dim, n_layer, batch_first=True)
        self.lin = nn.Linear(h_dim, y_dim)

    def forward(self, x):
        out, (h_n, c_n) = self.rnn(x)                              # out: (N, L, h_dim)
        return self.lin(out[:, -1])                                   # last time step -> (N, y_dim)
