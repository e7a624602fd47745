"""Correct: heads split with chunk + stack, merged with cat(unbind), F.dropout with self.training."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V need the same length")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K need the same d_K")
        scores = torch.matmul(Q, K.transpose(-1, -2)) / math.sqrt(K.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = scores.softmax(dim=-1)
        return torch.matmul(attention, V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("d_feat must be a multiple of n_head")
        self.n_head, self.d_k = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attn = ScaledDotProductAttention()
        self.drop = nn.Dropout(p=dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError(f"K has {K.size(1)} rows but V has {V.size(1)}")
        n_batch = Q.size(0)
        split = lambda t: torch.stack(t.chunk(self.n_head, dim=-1), dim=1)
        q, k, v = split(self.lin_Q(Q)), split(self.lin_K(K)), split(self.lin_V(V))
        if mask is not None:
            mask = mask.unsqueeze(1)
        _, attention = self.attn(q, k, v, mask)
        x = torch.nn.functional.dropout(attention, self.drop.p, self.training) @ v
        x = torch.cat(x.unbind(1), dim=-1)
        return self.lin_O(x), attention
