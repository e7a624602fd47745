"""Correct: the four projections live in one nn.ModuleList (annotated-transformer habit) and are
ALSO bound as lin_Q .. lin_O, the same modules under two names; zip over the list in forward."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError(f"K ({K.size(-2)} rows) and V ({V.size(-2)} rows) differ in length")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must share d_K")
        scores = torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(Q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        p_attn = scores.softmax(dim=-1)
        return torch.matmul(p_attn, V), p_attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError(f"n_head={n_head} does not divide d_feat={d_feat}")
        self.h, self.d_k = n_head, d_feat // n_head
        self.linears = nn.ModuleList(nn.Linear(d_feat, d_feat, bias=bias) for _ in range(4))
        self.lin_Q, self.lin_K, self.lin_V, self.lin_O = self.linears
        self.attn = ScaledDotProductAttention()
        self.dropout = nn.Dropout(p=dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        if mask is not None:
            mask = mask.unsqueeze(1)          # same mask for all heads
        nbatches = Q.size(0)
        query, key, value = [
            lin(x).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
            for lin, x in zip(self.linears, (Q, K, V))
        ]
        _, p_attn = self.attn(query, key, value, mask=mask)
        x = torch.matmul(self.dropout(p_attn), value)
        x = x.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        return self.linears[-1](x), p_attn
