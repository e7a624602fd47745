"""Correct: the component by the Gumbel-max trick on torch's RNG (argmax of log pi plus Gumbel
noise made from torch.rand), the draw as a one-hot weighted sum of the components."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        layers, width = [], x_dim
        for h in h_dims:
            layers += [nn.Linear(width, h), nn.Softplus()]
            width = h
        self.net = nn.Sequential(*layers)
        self.w_pi = nn.Linear(width, k)
        self.w_mu = nn.Linear(width, k * y_dim)
        self.w_sigma = nn.Linear(width, k * y_dim)

    def forward(self, x):
        h = self.net(x)
        pi = F.softmax(self.w_pi(h), dim=-1)
        mu = self.w_mu(h).view(len(x), self.k, self.y_dim)
        sigma = (F.softplus(self.w_sigma(h)) + 1e-4).view(len(x), self.k, self.y_dim)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    d = mu.size(-1)
    maha = (((y.unsqueeze(1) - mu) / sigma) ** 2).sum(-1)
    log_component = -0.5 * maha - sigma.log().sum(-1) - 0.5 * d * math.log(2 * math.pi)
    return -torch.logsumexp(log_component + pi.log(), dim=-1)


def mdn_sample(pi, mu, sigma):
    u = torch.rand_like(pi).clamp_(1e-12, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    one_hot = F.one_hot((pi.log() + gumbel).argmax(-1), pi.size(-1)).to(mu.dtype).unsqueeze(-1)
    mean, std = (one_hot * mu).sum(1), (one_hot * sigma).sum(1)
    return mean + std * torch.randn_like(mean)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        batch = torch.randint(x.size(0), (batch_size,), device=x.device)
        loss = mdn_nll(*model(x[batch]), y[batch]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
    return losses
