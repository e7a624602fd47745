"""Bug: ScaledDotProductAttention transposes with permute(0, 1, 3, 2), so it only accepts exactly
4-D inputs (batch, head, n, d); MultiHeadedAttention (4-D inside) is fine."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V must have the same number of rows (n_K == n_V)")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must share d_K")
        scores = torch.matmul(Q, K.permute(0, 1, 3, 2)) / math.sqrt(Q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = torch.softmax(scores, dim=-1)
        return torch.matmul(attention, V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("n_head must divide d_feat")
        self.n_head, self.d_head = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.sdpa = ScaledDotProductAttention()
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        B = Q.size(0)
        q, k, v = (lin(x).view(B, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
                   for lin, x in ((self.lin_Q, Q), (self.lin_K, K), (self.lin_V, V)))
        _, attention = self.sdpa(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = torch.matmul(self.dropout(attention), v).permute(0, 2, 1, 3).reshape(B, Q.size(1), -1)
        return self.lin_O(x), attention
