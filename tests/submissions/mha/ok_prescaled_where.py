"""Correct: Q pre-scaled by d_K ** -0.5, K.mT, and torch.where with -1e4 for masking."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V need the same length")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K need the same d_K")
        scores = (Q * K.shape[-1] ** -0.5) @ K.mT
        if mask is not None:
            scores = torch.where(mask.bool(), scores, torch.tensor(-1e4))
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
        q = self.lin_Q(Q).view(n_batch, -1, self.n_head, self.d_k).transpose(1, 2)
        k = self.lin_K(K).view(n_batch, -1, self.n_head, self.d_k).transpose(1, 2)
        v = self.lin_V(V).view(n_batch, -1, self.n_head, self.d_k).transpose(1, 2)
        if mask is not None:
            mask = mask.unsqueeze(1)
        _, attention = self.attn(q, k, v, mask)
        x = torch.matmul(self.drop(attention), v)
        x = x.transpose(1, 2).contiguous().view(n_batch, -1, self.n_head * self.d_k)
        return self.lin_O(x), attention
