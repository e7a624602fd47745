"""Bug (a numpy sampling helper carried over from a blog notebook): the component is picked with
the Gumbel-max trick on numpy's RNG and the Gaussian noise is numpy's too, so the caller's
torch.manual_seed does not make the draws reproducible. The result is converted back to float32."""

import math

import numpy as np
import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        sizes = [x_dim, *h_dims]
        self.z_h = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.Tanh())])
        self.z_pi = nn.Linear(sizes[-1], k)
        self.z_sigma = nn.Linear(sizes[-1], k * y_dim)
        self.z_mu = nn.Linear(sizes[-1], k * y_dim)

    def forward(self, x):
        h = self.z_h(x)
        pi = nn.functional.softmax(self.z_pi(h), -1)
        sigma = torch.exp(self.z_sigma(h)).view(-1, self.k, self.y_dim)
        mu = self.z_mu(h).view(-1, self.k, self.y_dim)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    y = y.unsqueeze(1).expand_as(mu)
    log_n = -0.5 * ((y - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)
    return -torch.logsumexp(torch.log(pi) + log_n.sum(-1), dim=1)


def _gumbel_sample(p, axis=1):
    z = np.random.gumbel(loc=0, scale=1, size=p.shape)
    return (np.log(p) + z).argmax(axis=axis)


def mdn_sample(pi, mu, sigma):
    pi_data, mu_data, sigma_data = (t.detach().cpu().numpy() for t in (pi, mu, sigma))
    k = _gumbel_sample(pi_data)
    rows = np.arange(len(k))
    noise = np.random.randn(len(k), mu_data.shape[-1])
    draws = mu_data[rows, k] + sigma_data[rows, k] * noise
    return torch.from_numpy(draws).float()


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        idx = torch.randperm(x.size(0))[:batch_size]
        loss = mdn_nll(*model(x[idx]), y[idx]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
