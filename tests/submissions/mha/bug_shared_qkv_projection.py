"""Bug: a self-attention habit carried over to cross-attention: lin_Q projects Q, K and V alike
(lin_K and lin_V exist but are never used)."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V need the same number of rows")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K need the same width")
        scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), -1e9)
        attention = scores.softmax(-1)
        return attention @ V, attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("d_feat % n_head must be 0")
        self.n_head, self.d_head = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.sdpa = ScaledDotProductAttention()
        self.dropout = nn.Dropout(dropout_p)

    def split(self, x):
        return x.reshape(x.shape[0], x.shape[1], self.n_head, self.d_head).transpose(1, 2)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V need the same number of rows")
        q, k, v = (self.split(self.lin_Q(x)) for x in (Q, K, V))
        _, attention = self.sdpa(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = (self.dropout(attention) @ v).transpose(1, 2).reshape(Q.shape[0], Q.shape[1], -1)
        return self.lin_O(x), attention
