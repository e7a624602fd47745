"""Bug ("reproducible plots"): mdn_sample calls torch.manual_seed(0) itself, so it overrides the
caller's seed and every call returns the very same draws."""

import math

import torch
from torch import nn
from torch.distributions import Categorical, Normal


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        blocks, d_in = [], x_dim
        for d_out in h_dims:
            blocks += [nn.Linear(d_in, d_out), nn.ELU()]
            d_in = d_out
        self.trunk = nn.Sequential(*blocks)
        self.logits = nn.Linear(d_in, k)
        self.means = nn.Linear(d_in, k * y_dim)
        self.log_stds = nn.Linear(d_in, k * y_dim)
        self.shape = (k, y_dim)

    def forward(self, x):
        h = self.trunk(x)
        pi = self.logits(h).softmax(-1)
        mu = self.means(h).unflatten(-1, self.shape)
        sigma = self.log_stds(h).clamp(-10.0, 10.0).exp().unflatten(-1, self.shape)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    log_p = Normal(mu, sigma).log_prob(y.unsqueeze(-2)).sum(-1)
    return -torch.logsumexp(log_p + pi.log(), dim=-1)


def mdn_sample(pi, mu, sigma):
    torch.manual_seed(0)
    which = Categorical(probs=pi).sample()
    index = which.view(-1, 1, 1).expand(-1, 1, mu.size(-1))
    return Normal(mu.gather(1, index).squeeze(1), sigma.gather(1, index).squeeze(1)).sample()


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    record = []
    for step in range(n_iter):
        b = torch.randint(x.shape[0], (batch_size,))
        nll = mdn_nll(*model(x[b]), y[b]).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
        record.append(nll.item())
    return record
