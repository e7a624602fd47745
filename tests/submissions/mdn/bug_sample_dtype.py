"""Bug: the sampler works in float64 for accuracy (as the NLL does) and returns the float64
draws as they are: float32 inputs give float64 samples, which a float32 model then rejects."""

import math

import torch
from torch import nn


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        self.k, self.y_dim = k, y_dim
        layers, width = [], x_dim
        for h in h_dims:
            layers.extend([nn.Linear(width, h), nn.SiLU()])
            width = h
        self.features = nn.Sequential(*layers)
        self.pi_layer = nn.Linear(width, k)
        self.mu_layer = nn.Linear(width, k * y_dim)
        self.sigma_layer = nn.Linear(width, k * y_dim)

    def forward(self, x):
        f = self.features(x)
        pi = torch.softmax(self.pi_layer(f), dim=1)
        mu = self.mu_layer(f).reshape(x.shape[0], self.k, self.y_dim)
        sigma = nn.functional.elu(self.sigma_layer(f)).add(1.0 + 1e-6).reshape(x.shape[0], self.k, self.y_dim)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    pi, mu, sigma, y = pi.double(), mu.double(), sigma.double(), y.double()
    sq = (((y.unsqueeze(1) - mu) / sigma) ** 2).sum(-1)
    log_comp = -0.5 * sq - torch.log(sigma).sum(-1) - 0.5 * mu.shape[-1] * math.log(2 * math.pi)
    return (-torch.logsumexp(torch.log(pi) + log_comp, dim=1)).float()


def mdn_sample(pi, mu, sigma):
    pi, mu, sigma = pi.double(), mu.double(), sigma.double()
    comp = torch.multinomial(pi, 1)[:, 0]
    pick = torch.arange(pi.shape[0], device=pi.device)
    mean, std = mu[pick, comp], sigma[pick, comp]
    return mean + std * torch.randn_like(std)


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_iter):
        rows = torch.randint(0, x.shape[0], (batch_size,))
        loss = mdn_nll(*model(x[rows]), y[rows]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
