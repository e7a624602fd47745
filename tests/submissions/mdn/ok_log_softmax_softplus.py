"""Correct: raw parameters with x.mm(W), log_softmax for pi, softplus for sigma, log-pi kept from the network."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.y_dim, self.k = y_dim, k
        sizes = [x_dim, *h_dims]
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(a, b) / math.sqrt(a))
                                        for a, b in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in sizes[1:])
        width = sizes[-1]
        self.W_pi = nn.Parameter(torch.randn(width, k) / math.sqrt(width))
        self.W_mu = nn.Parameter(torch.randn(width, k * y_dim) / math.sqrt(width))
        self.W_sigma = nn.Parameter(torch.randn(width, k * y_dim) / math.sqrt(width))
        self.b_mu = nn.Parameter(torch.zeros(k * y_dim))

    def forward(self, x):
        for W, b in zip(self.weights, self.biases):
            x = torch.tanh(x.mm(W) + b)
        log_pi = F.log_softmax(x.mm(self.W_pi), dim=-1)
        mu = (x.mm(self.W_mu) + self.b_mu).view(-1, self.k, self.y_dim)
        sigma = F.softplus(x.mm(self.W_sigma)).view(-1, self.k, self.y_dim) + 1e-4
        return log_pi.exp(), mu, sigma


def mdn_nll(pi, mu, sigma, y):
    normal = torch.distributions.Normal(mu, sigma)
    log_p = normal.log_prob(y.unsqueeze(-2)).sum(-1)
    return -torch.logsumexp(torch.log(pi) + log_p, dim=-1)


def mdn_sample(pi, mu, sigma):
    which = torch.distributions.Categorical(probs=pi).sample()
    chosen_mu = mu[torch.arange(len(which)), which]
    chosen_sigma = sigma[torch.arange(len(which)), which]
    return torch.normal(chosen_mu, chosen_sigma)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(n_iter):
        i = torch.randint(0, x.shape[0], (batch_size,))
        model.zero_grad()
        pi, mu, sigma = model(x[i])
        loss = torch.mean(mdn_nll(pi, mu, sigma, y[i]))
        loss.backward()
        opt.step()
        out.append(loss.detach().item())
    return out
