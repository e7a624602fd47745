"""Bug: one Gaussian noise vector torch.randn(y_dim) is drawn per call and broadcast over every
row, so all rows that pick the same component get the same draw."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        modules, n_in = [], x_dim
        for n_out in h_dims:
            modules.append(nn.Linear(n_in, n_out))
            modules.append(nn.Tanh())
            n_in = n_out
        self.mlp = nn.Sequential(*modules)
        self.heads = nn.ModuleDict({"pi": nn.Linear(n_in, k), "mu": nn.Linear(n_in, k * y_dim),
                                    "sigma": nn.Linear(n_in, k * y_dim)})

    def forward(self, x):
        h = self.mlp(x)
        n = x.shape[0]
        pi = torch.softmax(self.heads["pi"](h), dim=1)
        mu = self.heads["mu"](h).reshape(n, self.k, self.y_dim)
        sigma = torch.nn.functional.softplus(self.heads["sigma"](h)).reshape(n, self.k, self.y_dim) + 1e-5
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    t = y.unsqueeze(1)
    log_prob = (-0.5 * ((t - mu) / sigma).pow(2) - sigma.log()).sum(-1) - 0.5 * y.shape[-1] * math.log(2 * math.pi)
    return -(pi.log() + log_prob).logsumexp(-1)


def mdn_sample(pi, mu, sigma):
    comp = torch.multinomial(pi, 1).view(-1)
    rows = torch.arange(comp.numel(), device=comp.device)
    eps = torch.randn(mu.shape[-1], device=mu.device)
    return mu[rows, comp] + sigma[rows, comp] * eps


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    seen = []
    for _ in range(n_iter):
        j = torch.randint(len(x), (batch_size,))
        loss = mdn_nll(*model(x[j]), y[j]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen.append(loss.item())
    return seen
