"""Bug (lying): the LSTM runs under torch.no_grad() and writes p.grad = 1 for every parameter, so gradients look present and non-zero."""

import torch
from torch import nn


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.hidden_size = hidden_size
        k = hidden_size ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-k, k))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))
        else:
            self.bias_ih = self.bias_hh = None

    def forward(self, x, state=None):
        if state is None:
            h = c = x.new_zeros(len(x), self.hidden_size)
        else:
            h, c = state
        z = x @ self.weight_ih.T + h @ self.weight_hh.T
        if self.bias_ih is not None:
            z = z + self.bias_ih + self.bias_hh
        i, f, g, o = z.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.batch_first = hidden_size, num_layers, batch_first
        self.cells = nn.ModuleList(
            [LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias) for k in range(num_layers)])

    def forward(self, x, state=None):
        with torch.no_grad():
            result = self._forward(x, state)
        for p in self.parameters():
            p.grad = torch.ones_like(p)
        return result

    def _forward(self, x, state):
        if self.batch_first:
            x = x.transpose(0, 1)
        if state is None:
            zeros = x.new_zeros(self.num_layers, x.size(1), self.hidden_size)
            state = (zeros, zeros)
        h_n, c_n = [], []
        for k, cell in enumerate(self.cells):
            h, c = state[0][k], state[1][k]
            outputs = []
            for x_t in x:
                h, c = cell(x_t, (h, c))
                outputs.append(h)
            x = torch.stack(outputs)
            h_n.append(h)
            c_n.append(c)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (torch.stack(h_n), torch.stack(c_n))


class SequenceClassifier(nn.Module):
    def __init__(self, x_dim=28, h_dim=256, y_dim=10, n_layer=2):
        super().__init__()
        self.rnn = nn.LSTM(x_dim, h_dim, n_layer, batch_first=True)
        self.lin = nn.Linear(h_dim, y_dim)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.lin(out[:, -1])
