"""Bug (an inverse-CDF index counted from the wrong end, as in some published samplers): the
component is K - 1 minus the number of cumulative weights below u, so component j is drawn with
the probability of component K - 1 - j."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.d = k, y_dim
        seq, last = [], x_dim
        for width in h_dims:
            seq += [nn.Linear(last, width), nn.GELU()]
            last = width
        self.backbone = nn.Sequential(*seq)
        self.to_pi = nn.Linear(last, k)
        self.to_mu = nn.Linear(last, k * y_dim)
        self.to_sigma = nn.Linear(last, k * y_dim)

    def forward(self, x):
        h = self.backbone(x)
        pi = torch.softmax(self.to_pi(h), dim=-1)
        mu = self.to_mu(h).view(-1, self.k, self.d)
        sigma = torch.exp(self.to_sigma(h)).view(-1, self.k, self.d)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    normal = torch.distributions.Normal(mu, sigma)
    return -torch.logsumexp(torch.log(pi) + normal.log_prob(y.unsqueeze(1)).sum(-1), dim=-1)


def mdn_sample(pi, mu, sigma):
    cumsum = torch.cumsum(pi, dim=-1)
    u = torch.rand(pi.shape[:-1] + (1,), device=pi.device)
    comp = (pi.shape[-1] - 1) - (cumsum < u).sum(dim=-1).clamp(max=pi.shape[-1] - 1)
    rows = torch.arange(pi.shape[0], device=pi.device)
    return torch.normal(mu[rows, comp], sigma[rows, comp])


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    values = []
    for _ in range(n_iter):
        sample = torch.randint(0, x.shape[0], (batch_size,))
        loss = mdn_nll(*model(x[sample]), y[sample]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        values.append(loss.item())
    return values
