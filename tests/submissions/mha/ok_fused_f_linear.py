"""Correct: fused-projection habit with F.linear. The three input projections are concatenated
into one (3 d_feat, d_feat) weight at call time; each input takes its own third of the result."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("n_K != n_V: K and V must pair up row by row")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K need the same last dimension")
        logits = torch.matmul(Q, K.transpose(-1, -2)) / math.sqrt(K.size(-1))
        if mask is not None:
            logits = torch.where(mask.bool(), logits, torch.full_like(logits, -1e9))
        weights = torch.softmax(logits, dim=-1)
        return torch.matmul(weights, V), weights


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must split evenly into heads")
        self.d_feat, self.n_head = d_feat, n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attn_drop = nn.Dropout(dropout_p)

    def _in_proj(self):
        w = torch.cat([self.lin_Q.weight, self.lin_K.weight, self.lin_V.weight], dim=0)
        if self.lin_Q.bias is None:
            return w, None
        return w, torch.cat([self.lin_Q.bias, self.lin_K.bias, self.lin_V.bias], dim=0)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V lengths differ")
        w, b = self._in_proj()
        d, h = self.d_feat, self.n_head
        parts = []
        for i, x in enumerate((Q, K, V)):
            y = F.linear(x, w, b)[..., i * d:(i + 1) * d]
            parts.append(y.reshape(x.size(0), x.size(1), h, d // h).transpose(1, 2))
        q, k, v = parts
        logits = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if mask is not None:
            logits = logits.masked_fill(~mask.bool()[:, None], -1e9)
        weights = logits.softmax(-1)
        out = (self.attn_drop(weights) @ v).transpose(1, 2).reshape(Q.size(0), Q.size(1), d)
        return F.linear(out, self.lin_O.weight, self.lin_O.bias), weights
