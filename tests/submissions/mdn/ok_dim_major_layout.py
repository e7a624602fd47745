"""Correct: output units laid out dimension-major (reshape (N, y_dim, K) then transpose): any consistent layout is fine."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.y_dim, self.k = y_dim, k
        sizes = [x_dim, *h_dims]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], k * (1 + 2 * y_dim))

    def forward(self, x):
        for layer in self.hidden:
            x = F.relu(layer(x))
        n = x.shape[0]
        logits, mu, s = self.out(x).split([self.k, self.k * self.y_dim, self.k * self.y_dim], dim=1)
        pi = F.softmax(logits, dim=1)
        sigma = F.softplus(s) + 1e-5
        return pi, mu.reshape(n, self.y_dim, self.k).transpose(1, 2), sigma.reshape(n, self.y_dim, self.k).transpose(1, 2)


def mdn_nll(pi, mu, sigma, y):
    d = y.shape[-1]
    z = (y[:, None, :] - mu) / sigma
    log_p = -0.5 * (z * z).sum(2) - sigma.log().sum(2) - d / 2 * math.log(2 * math.pi) + pi.log()
    top = log_p.max(dim=1, keepdim=True).values
    return -(top.squeeze(1) + (log_p - top).exp().sum(1).log())


def mdn_sample(pi, mu, sigma):
    u = torch.rand(pi.shape[0], 1, device=pi.device)
    component = (pi.cumsum(1) < u).sum(1).clamp(max=pi.shape[1] - 1)
    index = component[:, None, None].expand(-1, 1, mu.shape[2])
    mean = mu.gather(1, index)[:, 0]
    std = sigma.gather(1, index)[:, 0]
    return mean + std * torch.randn(mean.shape, device=mean.device)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(n_iter):
        idx = torch.randperm(len(x))[:batch_size]
        opt.zero_grad()
        loss = mdn_nll(*model(x[idx]), y[idx]).mean()
        loss.backward()
        opt.step()
        history.append(float(loss))
    return history
