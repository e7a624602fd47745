"""Correct: a Python loop over heads on slices of the projected features, then cat/stack."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        n_k, n_v = K.shape[-2], V.shape[-2]
        if n_k != n_v:
            raise ValueError(f"K has {n_k} rows, V has {n_v}")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K widths differ")
        scores = Q @ K.transpose(-2, -1)
        scores = scores / math.sqrt(Q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), -1e9)
        attention = torch.softmax(scores, -1)
        return attention @ V, attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat % n_head != 0")
        self.n_head = n_head
        self.d_head = d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias)
        self.dropout = nn.Dropout(dropout_p)
        self.sdpa = ScaledDotProductAttention()

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V must have the same length")
        q, k, v = self.lin_Q(Q), self.lin_K(K), self.lin_V(V)
        outputs, weights = [], []
        for h in range(self.n_head):
            part = slice(h * self.d_head, (h + 1) * self.d_head)
            _, w = self.sdpa(q[..., part], k[..., part], v[..., part], mask)
            outputs.append(self.dropout(w) @ v[..., part])
            weights.append(w)
        x = torch.cat(outputs, dim=-1)
        return self.lin_O(x), torch.stack(weights, dim=1)
