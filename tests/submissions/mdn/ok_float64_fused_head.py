"""Correct: one fused output layer split into pi/mu/sigma, softplus sigma, the NLL computed in
float64 with the log-sum-exp written out by hand, inverse-CDF sampling with a correct gather over
the component axis, a shuffled-epoch training loop."""

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        sizes = (x_dim, *h_dims)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(sizes[-1], k + 2 * k * y_dim)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.tanh(layer(x))
        raw = self.out(x)
        k, d = self.k, self.y_dim
        pi = F.softmax(raw[:, :k], dim=-1)
        mu = raw[:, k:k + k * d].unflatten(1, (k, d))
        sigma = F.softplus(raw[:, k + k * d:]).unflatten(1, (k, d)) + 1e-5
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    p, m, s, t = pi.double(), mu.double(), sigma.double(), y.double().unsqueeze(1)
    per_dim = -0.5 * ((t - m) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
    a = torch.log(p) + per_dim.sum(-1)                       # (N, K)
    top = a.max(dim=-1, keepdim=True).values.detach()
    log_lik = top.squeeze(-1) + torch.log(torch.exp(a - top).sum(-1))
    return (-log_lik).to(pi.dtype)


def mdn_sample(pi, mu, sigma):
    u = torch.rand(pi.size(0), 1, dtype=pi.dtype, device=pi.device)
    j = (pi.cumsum(-1) < u).sum(-1).clamp(max=pi.size(1) - 1)            # inverse CDF per row
    index = j.view(-1, 1, 1).expand(-1, 1, mu.size(-1))
    mean = mu.gather(1, index).squeeze(1)
    std = sigma.gather(1, index).squeeze(1)
    return mean + std * torch.randn_like(mean)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, order, at = [], torch.randperm(len(x)), 0
    for _ in range(n_iter):
        if at >= len(x):
            order, at = torch.randperm(len(x)), 0
        batch = order[at:at + batch_size]
        at += batch_size
        optimizer.zero_grad()
        loss = mdn_nll(*model(x[batch]), y[batch]).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses
