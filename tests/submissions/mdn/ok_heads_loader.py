"""Correct: separate pi/mu/sigma heads, clamped exp sigma, Normal.log_prob + logsumexp, multinomial sampling, DataLoader epochs."""
import math
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64)):
        super().__init__()
        layers, last = [], x_dim
        for h in h_dims:
            layers += [nn.Linear(last, h), nn.Tanh()]
            last = h
        self.body = nn.Sequential(*layers)
        self.k, self.y_dim = k, y_dim
        self.pi_head = nn.Linear(last, k)
        self.mu_head = nn.Linear(last, k * y_dim)
        self.sigma_head = nn.Linear(last, k * y_dim)

    def forward(self, x):
        h = self.body(x)
        pi = torch.softmax(self.pi_head(h), dim=-1)
        mu = self.mu_head(h).view(-1, self.k, self.y_dim)
        sigma = torch.exp(self.sigma_head(h).clamp(-7, 7)).view(-1, self.k, self.y_dim)
        return pi, mu, sigma


def mdn_nll(pi, mu, sigma, y):
    comp = torch.distributions.Normal(mu, sigma).log_prob(y.unsqueeze(1)).sum(-1)
    return -torch.logsumexp(comp + torch.log(pi), dim=-1)


def mdn_sample(pi, mu, sigma):
    idx = torch.multinomial(pi, 1).squeeze(-1)
    rows = torch.arange(pi.shape[0])
    return torch.normal(mu[rows, idx], sigma[rows, idx])


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    while len(losses) < n_iter:
        for xb, yb in loader:
            loss = mdn_nll(*model(xb), yb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == n_iter:
                break
    return losses
