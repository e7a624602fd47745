"""Correct: torch.distributions for the likelihood and the sampling; zero_grad(set_to_none) after each step."""

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.y_dim, self.k = y_dim, k
        layers, width = [], x_dim
        for h_dim in h_dims:
            layers += [nn.Linear(width, h_dim), nn.Tanh()]
            width = h_dim
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(width, k)
        self.means = nn.Linear(width, k * y_dim)
        self.log_sigma = nn.Linear(width, k * y_dim)

    def forward(self, x):
        h = self.features(x)
        shape = (x.size(0), self.k, self.y_dim)
        return self.logits(h).softmax(-1), self.means(h).view(shape), self.log_sigma(h).exp().view(shape)


def _mixture(pi, mu, sigma):
    return MixtureSameFamily(Categorical(probs=pi), Independent(Normal(mu, sigma), 1))


def mdn_nll(pi, mu, sigma, y):
    return -_mixture(pi, mu, sigma).log_prob(y)


def mdn_sample(pi, mu, sigma):
    return _mixture(pi, mu, sigma).sample()


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        batch = torch.randint(len(x), (batch_size,))
        loss = mdn_nll(*model(x[batch]), y[batch]).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses
