"""Bug: the component of each row is chosen with np.random.choice(K, p=row) (the probabilities
renormalised in float64 so numpy accepts them); only the Gaussian draw uses torch. The choice of
components does not follow the caller's torch.manual_seed."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.n_gaussians, self.out_dim = k, y_dim
        hidden, width = nn.ModuleList(), x_dim
        for h in h_dims:
            hidden.append(nn.Linear(width, h))
            width = h
        self.hidden = hidden
        self.head = nn.Linear(width, k * (1 + 2 * y_dim))

    def forward(self, x):
        for layer in self.hidden:
            x = torch.relu(layer(x))
        out = self.head(x)
        k, d = self.n_gaussians, self.out_dim
        pi = F.softmax(out[:, :k], dim=1)
        mu = out[:, k:k + k * d].reshape(-1, k, d)
        sigma = F.softplus(out[:, k + k * d:]).reshape(-1, k, d) + 1e-6
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    z = (y[:, None, :] - mu) / sigma
    per_comp = -0.5 * (z * z).sum(2) - sigma.log().sum(2) - 0.5 * mu.size(2) * math.log(2 * math.pi)
    return -(per_comp + pi.log()).logsumexp(1)


def mdn_sample(pi, mu, sigma):
    weights = pi.detach().cpu().double().numpy()
    chosen = [np.random.choice(weights.shape[1], p=row / row.sum()) for row in weights]
    idx = torch.as_tensor(chosen, device=mu.device)
    rows = torch.arange(mu.size(0), device=mu.device)
    return torch.normal(mu[rows, idx], sigma[rows, idx])


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(n_iter):
        pick = torch.randint(0, len(x), (batch_size,))
        loss = mdn_nll(*model(x[pick]), y[pick]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    return history
