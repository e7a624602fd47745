"""Bug ("ready for matplotlib"): mdn_sample draws with torch but hands back a numpy array
(.detach().numpy()), not a tensor."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        dims = (x_dim, *h_dims)
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))
        self.pi = nn.Linear(dims[-1], k)
        self.mu = nn.Linear(dims[-1], k * y_dim)
        self.log_sigma = nn.Linear(dims[-1], k * y_dim)
        self.k, self.y_dim = k, y_dim

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        n = x.shape[0]
        return (torch.log_softmax(self.pi(x), -1).exp(), self.mu(x).view(n, self.k, self.y_dim),
                self.log_sigma(x).exp().view(n, self.k, self.y_dim))


def mdn_nll(pi, mu, sigma, y):
    diff = (y.unsqueeze(1) - mu) / sigma
    log_gauss = -(diff.pow(2) / 2 + sigma.log() + math.log(math.sqrt(2 * math.pi))).sum(-1)
    return -torch.logsumexp(pi.log() + log_gauss, -1)


def mdn_sample(pi, mu, sigma):
    comp = torch.multinomial(pi, 1).squeeze(1)
    rows = torch.arange(len(comp))
    draws = mu[rows, comp] + sigma[rows, comp] * torch.randn(len(comp), mu.shape[-1])
    return draws.detach().numpy()


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    adam = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        sel = torch.randint(len(x), (batch_size,))
        loss = mdn_nll(*model(x[sel]), y[sel]).mean()
        adam.zero_grad()
        loss.backward()
        adam.step()
        losses.append(loss.item())
    return losses
