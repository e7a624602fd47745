"""A typical first attempt: the NLL is the log of a sum (no log-sum-exp), sigma comes straight out
of a linear layer, and sampling always takes the most likely component."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        self.hidden = nn.Sequential(nn.Linear(x_dim, h_dims[0]), nn.Tanh(),
                                    nn.Linear(h_dims[0], h_dims[-1]), nn.Tanh())
        self.z_pi = nn.Linear(h_dims[-1], k)
        self.z_mu = nn.Linear(h_dims[-1], k * y_dim)
        self.z_sigma = nn.Linear(h_dims[-1], k * y_dim)

    def forward(self, x):
        h = self.hidden(x)
        pi = torch.softmax(self.z_pi(h), dim=1)
        mu = self.z_mu(h).view(-1, self.k, self.y_dim)
        sigma = self.z_sigma(h).view(-1, self.k, self.y_dim)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    y = y.unsqueeze(1)
    density = torch.exp(-0.5 * ((y - mu) / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    return -torch.log((pi * density.prod(-1)).sum(-1))


def mdn_sample(pi, mu, sigma):
    best = pi.argmax(dim=1)
    rows = torch.arange(len(best))
    return mu[rows, best] + sigma[rows, best] * torch.randn_like(mu[rows, best])


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        idx = torch.randint(0, len(x), (batch_size,))
        loss = mdn_nll(*model(x[idx]), y[idx]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
