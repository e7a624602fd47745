"""Correct, with the structure the spec names reached through aliases: each cell registers its
weights under its own names first (W_x, W_h, b_x, b_h) and binds weight_ih ... to the same
Parameters; the LSTM builds self.layers and binds self.cells to that same ModuleList, and keeps a
helper submodule and a step-counter buffer; the classifier binds rnn/lin to encoder/head."""

import torch
from torch import nn


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.hidden_size = hidden_size
        bound = hidden_size ** -0.5
        self.W_x = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.W_h = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.weight_ih, self.weight_hh = self.W_x, self.W_h
        if bias:
            self.b_x = nn.Parameter(torch.zeros(4 * hidden_size))
            self.b_h = nn.Parameter(torch.zeros(4 * hidden_size))
            self.bias_ih, self.bias_hh = self.b_x, self.b_h
        else:
            self.b_x = self.b_h = None

    def forward(self, x, state=None):
        if state is None:
            zeros = torch.zeros(x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
            state = (zeros, zeros)
        h, c = state
        pre = torch.addmm(h @ self.W_h.t(), x, self.W_x.t())
        if self.b_x is not None:
            pre = pre + (self.b_x + self.b_h)
        i, f, g, o = pre.view(x.size(0), 4, self.hidden_size).unbind(1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class Between(nn.Module):
    """A helper between layers (identity here: no dropout in this assignment)."""

    def forward(self, h):
        return h


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.hidden_size, self.batch_first = hidden_size, batch_first
        self.layers = nn.ModuleList(LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias)
                                    for k in range(num_layers))
        self.cells = self.layers
        self.between = Between()
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x, state=None):
        self.calls += 1
        seq = x.transpose(0, 1) if self.batch_first else x
        n = len(self.layers)
        if state is None:
            state = (seq.new_zeros(n, seq.size(1), self.hidden_size),) * 2
        finals_h, finals_c = [], []
        for k, layer in enumerate(self.layers):
            h, c = state[0][k], state[1][k]
            outs = []
            for x_t in seq:
                h, c = layer(x_t, (h, c))
                outs.append(h)
            seq = self.between(torch.stack(outs))
            finals_h.append(h)
            finals_c.append(c)
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, (torch.stack(finals_h), torch.stack(finals_c))


class SequenceClassifier(nn.Module):
    def __init__(self, x_dim=28, h_dim=256, y_dim=10, n_layer=2):
        super().__init__()
        self.encoder = nn.LSTM(x_dim, h_dim, n_layer, batch_first=True)
        self.head = nn.Linear(h_dim, y_dim)
        self.rnn, self.lin = self.encoder, self.head

    def forward(self, x):
        out, _ = self.encoder(x)
        return self.head(out[:, -1, :])
