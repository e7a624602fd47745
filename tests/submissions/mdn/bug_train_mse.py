"""Bug: train_mdn minimises the squared error of the mixture mean instead of the NLL."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    """x (N, x_dim) -> pi (N, K), mu (N, K, y_dim), sigma (N, K, y_dim)."""

    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.y_dim, self.k = y_dim, k
        layers, width = [], x_dim
        for h_dim in h_dims:
            layers += [nn.Linear(width, h_dim), nn.Tanh()]
            width = h_dim
        self.body = nn.Sequential(*layers)
        self.pi_head = nn.Linear(width, k)
        self.mu_head = nn.Linear(width, k * y_dim)
        self.sigma_head = nn.Linear(width, k * y_dim)

    def forward(self, x):
        h = self.body(x)
        pi = torch.softmax(self.pi_head(h), dim=-1)                       # over the K components
        mu = self.mu_head(h).view(-1, self.k, self.y_dim)
        sigma = torch.exp(self.sigma_head(h)).view(-1, self.k, self.y_dim)  # positive
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    """Per-sample negative log-likelihood (N,) of y (N, y_dim) under the mixture."""
    y = y.unsqueeze(1)                                                    # (N, 1, y_dim)
    log_normal = (-0.5 * ((y - mu) / sigma) ** 2 - torch.log(sigma)
                  - 0.5 * math.log(2 * math.pi)).sum(-1)                  # (N, K)
    return -torch.logsumexp(torch.log(pi) + log_normal, dim=-1)


def mdn_sample(pi, mu, sigma):
    """One draw per row (N, y_dim): a component by pi, then its Gaussian."""
    component = torch.multinomial(pi, 1).squeeze(-1)                      # (N,)
    rows = torch.arange(pi.size(0), device=pi.device)
    mean, std = mu[rows, component], sigma[rows, component]               # (N, y_dim)
    return mean + std * torch.randn_like(mean)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    """Adam on the mean NLL of random mini-batches; returns the loss of each iteration."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        batch = torch.randint(0, x.size(0), (min(batch_size, x.size(0)),), device=x.device)
        pi, mu, sigma = model(x[batch])
        loss = ((pi.unsqueeze(-1) * mu).sum(1) - y[batch]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
