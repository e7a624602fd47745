"""Correct: the component by inverting each row's cumulative pi with torch.searchsorted on one
torch.rand per row; sigma as exp of half a predicted log-variance."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        stack, width = [], x_dim
        for h in h_dims:
            stack += [nn.Linear(width, h), nn.LeakyReLU(0.1)]
            width = h
        self.stack = nn.Sequential(*stack)
        self.alpha = nn.Linear(width, k)
        self.loc = nn.Linear(width, k * y_dim)
        self.log_var = nn.Linear(width, k * y_dim)
        self.k, self.y_dim = k, y_dim

    def forward(self, x):
        h = self.stack(x)
        view = (h.shape[0], self.k, self.y_dim)
        pi = torch.softmax(self.alpha(h), dim=-1)
        sigma = torch.exp(0.5 * self.log_var(h).clamp(-20, 20)).view(view)
        return pi, self.loc(h).view(view), sigma


def mdn_nll(pi, mu, sigma, y):
    log_norm = torch.distributions.Normal(mu, sigma).log_prob(y[:, None, :]).sum(dim=2)
    return -(torch.log(pi) + log_norm).logsumexp(dim=1)


def mdn_sample(pi, mu, sigma):
    cdf = pi.cumsum(-1)
    u = torch.rand(pi.shape[0], 1, dtype=cdf.dtype, device=cdf.device) * cdf[:, -1:]
    comp = torch.searchsorted(cdf.contiguous(), u).clamp(max=pi.shape[1] - 1)      # (N, 1)
    idx = comp.unsqueeze(-1).expand(-1, 1, mu.shape[-1])
    return torch.normal(mu.gather(1, idx).squeeze(1), sigma.gather(1, idx).squeeze(1))


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(n_iter):
        i = torch.randint(0, len(x), (batch_size,))
        loss = mdn_nll(*model(x[i]), y[i]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out
