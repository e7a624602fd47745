"""Bug: F.dropout(attention, p) without training=self.training. F.dropout defaults to
training=True, so dropout also fires in eval() mode."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V must have the same number of rows")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must have the same width")
        scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = F.softmax(scores, dim=-1)
        return attention @ V, attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be divisible by n_head")
        self.n_head, self.d_head, self.p = n_head, d_feat // n_head, dropout_p
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.sdpa = ScaledDotProductAttention()

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        B, n_Q = Q.size(0), Q.size(1)
        q, k, v = (lin(x).view(B, -1, self.n_head, self.d_head).transpose(1, 2)
                   for lin, x in ((self.lin_Q, Q), (self.lin_K, K), (self.lin_V, V)))
        _, attention = self.sdpa(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = F.dropout(attention, self.p) @ v
        return self.lin_O(x.transpose(1, 2).reshape(B, n_Q, -1)), attention
