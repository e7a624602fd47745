"""Bug: h computed from the previous cell state (o * tanh(c_prev)) instead of the new one."""

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
        gates = torch.cat([x, h], dim=1) @ torch.cat([self.weight_ih, self.weight_hh], dim=1).T
        if self.bias_ih is not None:
            gates = gates + self.bias_ih + self.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)                            # each (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_new = f * c + i * g
        h = o * torch.tanh(c)
        c = c_new
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
        if self.batch_first:
            x = x.transpose(0, 1)                                     # (B, L, I) -> (L, B, I)
        L, B, _ = x.shape
        if state is None:
            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)
            state = (zeros, zeros)
        h_0, c_0 = state                                              # (num_layers, B, H), always
        h_n, c_n = list(h_0.unbind(0)), list(c_0.unbind(0))
        outputs = []
        for t in range(L):
            inp = x[t]
            for k, cell in enumerate(self.cells):
                h_n[k], c_n[k] = cell(inp, (h_n[k], c_n[k]))
                inp = h_n[k]
            outputs.append(inp)
        output = torch.stack(outputs)
        if self.batch_first:
            output = output.transpose(0, 1)                           # back to (B, L, H)
        return output, (torch.stack(h_n), torch.stack(c_n))


class SequenceClassifier(nn.Module):
    """nn.LSTM over the sequence, a linear layer on the top layer's last time step."""

    def __init__(self, x_dim=28, h_dim=256, y_dim=10, n_layer=2):
        super().__init__()
        self.x_dim, self.h_dim, self.y_dim, self.n_layer = x_dim, h_dim, y_dim, n_layer
        self.rnn = nn.LSTM(x_dim, h_dim, n_layer, batch_first=True)
        self.lin = nn.Linear(h_dim, y_dim)

    def forward(self, x):
        h_0 = x.new_zeros(self.n_layer, x.size(0), self.h_dim)       # sized from x: any N
        c_0 = x.new_zeros(self.n_layer, x.size(0), self.h_dim)
        out, _ = self.rnn(x, (h_0, c_0))                              # out: (N, L, h_dim)
        return self.lin(out[:, -1])                                   # last time step -> (N, y_dim)
