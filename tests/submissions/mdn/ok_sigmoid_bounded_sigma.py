"""Correct: sigma squashed into [sig_min, sig_max] with a sigmoid (a course-notebook habit), a
shared trunk with a ReLU, Normal(mu, sigma).log_prob summed over dimensions + logsumexp, and
Categorical sampling gathered over the component axis."""

import torch
from torch import nn
from torch.distributions import Categorical, Normal


class MixtureDensityNetwork(nn.Module):
    def __init__(self, x_dim=1, y_dim=1, k=5, h_dims=(64, 64), sig_min=1e-3, sig_max=10.0):
        super().__init__()
        self.k, self.y_dim, self.sig_min, self.sig_max = k, y_dim, sig_min, sig_max
        layers, prev = [], x_dim
        for width in h_dims:
            layers.extend([nn.Linear(prev, width), nn.ReLU()])
            prev = width
        self.net = nn.Sequential(*layers)
        self.fc_pi = nn.Linear(prev, k)
        self.fc_mu = nn.Linear(prev, k * y_dim)
        self.fc_sigma = nn.Linear(prev, k * y_dim)

    def forward(self, x):
        feat = self.net(x)
        pi = self.fc_pi(feat).softmax(dim=1)
        mu = self.fc_mu(feat).view(-1, self.k, self.y_dim)
        sigma = self.sig_min + (self.sig_max - self.sig_min) * torch.sigmoid(self.fc_sigma(feat))
        return pi, mu, sigma.view(-1, self.k, self.y_dim)


def mdn_nll(pi, mu, sigma, y):
    log_prob = Normal(mu, sigma).log_prob(y.unsqueeze(1)).sum(dim=-1)           # (N, K)
    return -torch.logsumexp(torch.log(pi) + log_prob, dim=-1)


def mdn_sample(pi, mu, sigma):
    comp = Categorical(probs=pi).sample()                                         # (N,)
    index = comp[:, None, None].expand(-1, 1, mu.shape[-1])
    loc, scale = mu.gather(1, index)[:, 0], sigma.gather(1, index)[:, 0]
    return Normal(loc, scale).sample()


def train_mdn(model, x, y, n_iter=2000, lr=1e-3, batch_size=128):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(n_iter):
        pick = torch.randperm(x.shape[0])[:batch_size]
        optimizer.zero_grad()
        loss = mdn_nll(*model(x[pick]), y[pick]).mean()
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out
