"""Bug (tutorial habit): masked scores are filled with float('-inf'), so a query whose keys are
all masked computes 0/0 = NaN."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V lengths must agree (n_K == n_V)")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K widths must agree")
        scores = Q @ K.transpose(-2, -1) / math.sqrt(K.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), float("-inf"))
        attention = F.softmax(scores, dim=-1)
        return attention @ V, attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be divisible by n_head")
        self.n_head, self.d_head = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attention = ScaledDotProductAttention()
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V lengths must agree")
        B = Q.size(0)
        q = self.lin_Q(Q).view(B, -1, self.n_head, self.d_head).transpose(1, 2)
        k = self.lin_K(K).view(B, -1, self.n_head, self.d_head).transpose(1, 2)
        v = self.lin_V(V).view(B, -1, self.n_head, self.d_head).transpose(1, 2)
        _, weights = self.attention(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = (self.dropout(weights) @ v).transpose(1, 2).contiguous().view(B, Q.size(1), -1)
        return self.lin_O(x), weights
