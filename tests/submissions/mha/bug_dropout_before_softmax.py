"""Bug: nn.Dropout is applied to the raw scores and the softmax comes after it, so a dropped key
gets a score of 0 (not a weight of 0) and the weights returned are already changed by dropout."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def __init__(self, dropout_p=0.0):
        super().__init__()
        self.score_dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError(f"need as many values V as keys K, got {V.size(-2)} and {K.size(-2)}")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must share d_K")
        scores = Q.matmul(K.transpose(-2, -1)).div(math.sqrt(Q.size(-1)))
        scores = self.score_dropout(scores)
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), -1e9)
        attention = F.softmax(scores, dim=-1)
        return attention.matmul(V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("n_head does not divide d_feat")
        self.n_head = n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.sdpa = ScaledDotProductAttention(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V need the same number of rows")
        B = Q.size(0)
        split = lambda t: t.unflatten(-1, (self.n_head, -1)).transpose(1, 2)  # noqa: E731
        if mask is not None:
            mask = mask.bool().unsqueeze(1)
        out, attention = self.sdpa(split(self.lin_Q(Q)), split(self.lin_K(K)), split(self.lin_V(V)), mask)
        return self.lin_O(out.transpose(1, 2).reshape(B, Q.size(1), -1)), attention
