"""Bug (d2l-style fold done in one step): (B, n, d_feat) is reshaped straight to
(B * n_head, n, d_head) without moving the head axis in front of the positions first."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V must have as many rows as each other")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K must be equally wide")
        scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), -1e6)
        weights = nn.functional.softmax(scores, dim=-1)
        return weights @ V, weights


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be a multiple of n_head")
        self.num_heads = n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attention = ScaledDotProductAttention()
        self.dropout = nn.Dropout(dropout_p)

    def fold(self, X):
        return X.reshape(X.shape[0] * self.num_heads, X.shape[1], -1)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V must have as many rows as each other")
        B, n_q, n_k = Q.shape[0], Q.shape[1], K.shape[1]
        q, k, v = self.fold(self.lin_Q(Q)), self.fold(self.lin_K(K)), self.fold(self.lin_V(V))
        keep = None
        if mask is not None:
            keep = mask.bool().expand(B, n_q, n_k).repeat_interleave(self.num_heads, dim=0)
        _, weights = self.attention(q, k, v, keep)
        out = torch.bmm(self.dropout(weights), v)                       # (B * h, n_Q, d_head)
        out = out.reshape(B, self.num_heads, n_q, -1).permute(0, 2, 1, 3).reshape(B, n_q, -1)
        return self.lin_O(out), weights.reshape(B, self.num_heads, n_q, n_k)
