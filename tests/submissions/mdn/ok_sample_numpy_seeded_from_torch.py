"""Correct: sampling in numpy, with a numpy Generator whose seed is drawn from torch's global RNG
on every call (so torch.manual_seed makes the draws reproducible and each call is fresh); the
draws come back as a tensor of mu's dtype and device."""

import math

import numpy as np
import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        widths = [x_dim, *h_dims]
        body = []
        for a, b in zip(widths, widths[1:]):
            body += [nn.Linear(a, b), nn.Tanh()]
        self.body = nn.Sequential(*body)
        self.k, self.y_dim = k, y_dim
        self.out = nn.Linear(widths[-1], k + 2 * k * y_dim)

    def forward(self, x):
        raw = self.out(self.body(x))
        kd = self.k * self.y_dim
        logits, mu, s = raw.split([self.k, kd, kd], dim=-1)
        shape = (-1, self.k, self.y_dim)
        return torch.softmax(logits, -1), mu.reshape(shape), torch.exp(s).reshape(shape)


def mdn_nll(pi, mu, sigma, y):
    var = sigma ** 2
    log_pdf = -0.5 * (((y[:, None] - mu) ** 2) / var + torch.log(2 * math.pi * var)).sum(-1)
    return -torch.logsumexp(log_pdf + torch.log(pi), dim=-1)


def mdn_sample(pi, mu, sigma):
    rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
    p = pi.detach().cpu().double().numpy()
    u = rng.random((p.shape[0], 1))
    comp = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
    rows = np.arange(p.shape[0])
    m = mu.detach().cpu().numpy()[rows, comp]
    s = sigma.detach().cpu().numpy()[rows, comp]
    return torch.from_numpy(m + s * rng.standard_normal(m.shape)).to(dtype=mu.dtype, device=mu.device)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optim = torch.optim.Adam(model.parameters(), lr=lr)
    trace = []
    for _ in range(n_iter):
        b = torch.randint(len(x), (batch_size,))
        loss = mdn_nll(*model(x[b]), y[b]).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        trace.append(loss.item())
    return trace
