"""Bug: the network returns sigma of shape (N, K), one scale per component without the y_dim axis (1-D tutorial habit)."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.y_dim, self.k = y_dim, k
        blocks, width = [], x_dim
        for h in h_dims:
            blocks += [nn.Linear(width, h), nn.Tanh()]
            width = h
        self.trunk = nn.Sequential(*blocks)
        self.logits = nn.Linear(width, k)
        self.means = nn.Linear(width, k * y_dim)
        self.log_scales = nn.Linear(width, k)

    def forward(self, x):
        h = self.trunk(x)
        pi = torch.softmax(self.logits(h), dim=1)
        mu = self.means(h).reshape(len(x), self.k, self.y_dim)
        sigma = self.log_scales(h).exp()
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    z = (y[:, None, :] - mu) / sigma
    log_comp = -(0.5 * z ** 2 + sigma.log() + 0.5 * math.log(2 * math.pi)).sum(dim=2)
    return -torch.logsumexp(pi.log() + log_comp, dim=1)


def mdn_sample(pi, mu, sigma):
    j = torch.multinomial(pi, 1)[:, 0]
    rows = torch.arange(len(pi))
    return mu[rows, j] + sigma[rows, j] * torch.randn(len(pi), mu.size(2))


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(n_iter):
        idx = torch.randint(len(x), (min(batch_size, len(x)),))
        loss = mdn_nll(*model(x[idx]), y[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    return history
