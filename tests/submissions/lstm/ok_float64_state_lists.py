"""Correct: the cell computes in float64 and casts back; the LSTM keeps h and c as python lists
(one entry per layer), time-outer loop; the classifier reads h_n[-1]."""

import torch
from torch import nn
from torch.nn import functional as F


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.hidden_size = hidden_size
        scale = 1.0 / hidden_size ** 0.5
        self.weight_ih = nn.Parameter(scale * (2 * torch.rand(4 * hidden_size, input_size) - 1))
        self.weight_hh = nn.Parameter(scale * (2 * torch.rand(4 * hidden_size, hidden_size) - 1))
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.zeros(4 * hidden_size)) if bias else None

    def forward(self, x, state=None):
        dtype = x.dtype
        if state is None:
            state = [x.new_zeros(x.shape[0], self.hidden_size)] * 2
        h_prev, c_prev = (s.double() for s in state)
        b_ih = None if self.bias_ih is None else self.bias_ih.double()
        b_hh = None if self.bias_hh is None else self.bias_hh.double()
        z = F.linear(x.double(), self.weight_ih.double(), b_ih) + F.linear(h_prev, self.weight_hh.double(), b_hh)
        n = self.hidden_size
        in_gate, forget_gate = torch.sigmoid(z[:, :n]), torch.sigmoid(z[:, n:2 * n])
        candidate, out_gate = torch.tanh(z[:, 2 * n:3 * n]), torch.sigmoid(z[:, 3 * n:])
        c_new = forget_gate * c_prev + in_gate * candidate
        h_new = out_gate * torch.tanh(c_new)
        return h_new.to(dtype), c_new.to(dtype)


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.batch_first = hidden_size, num_layers, batch_first
        self.cells = nn.ModuleList([LSTMCell(input_size, hidden_size, bias)]
                                   + [LSTMCell(hidden_size, hidden_size, bias) for _ in range(num_layers - 1)])

    def forward(self, x, state=None):
        steps = x.unbind(1) if self.batch_first else x.unbind(0)
        batch = steps[0].shape[0]
        if state is None:
            hs = [steps[0].new_zeros(batch, self.hidden_size) for _ in range(self.num_layers)]
            cs = [steps[0].new_zeros(batch, self.hidden_size) for _ in range(self.num_layers)]
        else:
            hs, cs = list(state[0].unbind(0)), list(state[1].unbind(0))
        outputs = []
        for x_t in steps:
            below = x_t
            for layer, cell in enumerate(self.cells):
                hs[layer], cs[layer] = cell(below, [hs[layer], cs[layer]])
                below = hs[layer]
            outputs.append(below)
        output = torch.stack(outputs, dim=1 if self.batch_first else 0)
        return output, (torch.stack(hs), torch.stack(cs))


class SequenceClassifier(nn.Module):
    def __init__(self, x_dim=28, h_dim=256, y_dim=10, n_layer=2):
        super().__init__()
        self.rnn = nn.LSTM(x_dim, h_dim, n_layer, batch_first=True)
        self.lin = nn.Linear(h_dim, y_dim)

    def forward(self, x):
        _, (h_n, _) = self.rnn(x)
        return self.lin(h_n[-1])
