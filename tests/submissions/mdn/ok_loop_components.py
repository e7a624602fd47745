"""Correct: one Gaussian per component in a Python loop, for the likelihood and for the sampling."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        layers = []
        for i, h in enumerate(h_dims):
            layers.append(nn.Linear(x_dim if i == 0 else h_dims[i - 1], h))
            layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)
        last = h_dims[-1]
        self.pi = nn.Linear(last, k)
        self.mu = nn.ModuleList(nn.Linear(last, y_dim) for _ in range(k))
        self.log_sigma = nn.ModuleList(nn.Linear(last, y_dim) for _ in range(k))

    def forward(self, x):
        h = self.body(x)
        pi = torch.softmax(self.pi(h), dim=1)
        mu = torch.stack([layer(h) for layer in self.mu], dim=1)
        sigma = torch.stack([torch.exp(layer(h)) for layer in self.log_sigma], dim=1)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    terms = []
    for j in range(pi.shape[1]):
        var = sigma[:, j] ** 2
        log_n = -0.5 * (((y - mu[:, j]) ** 2) / var + torch.log(2 * math.pi * var)).sum(dim=1)
        terms.append(torch.log(pi[:, j]) + log_n)
    return -torch.logsumexp(torch.stack(terms, dim=1), dim=1)


def mdn_sample(pi, mu, sigma):
    component = torch.multinomial(pi, num_samples=1)[:, 0]
    draws = torch.empty(mu.shape[0], mu.shape[2])
    for j in range(pi.shape[1]):
        rows = component == j
        noise = torch.randn(int(rows.sum()), mu.shape[2])
        draws[rows] = mu[rows, j] + sigma[rows, j] * noise
    return draws


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for it in range(n_iter):
        start = (it * batch_size) % len(x)
        if start == 0:
            order = torch.randperm(len(x))
        batch = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = mdn_nll(*model(x[batch]), y[batch]).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
