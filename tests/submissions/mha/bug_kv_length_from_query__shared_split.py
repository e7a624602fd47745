"""Bug: one split helper closes over n_Q, so K and V are reshaped with the queries' length
(works only when n_K == n_Q)."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V must have the same number of rows")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K must have the same width")
        scores = torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(Q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = torch.softmax(scores, dim=-1)
        return torch.matmul(attention, V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("d_feat must be a multiple of n_head")
        self.d_feat, self.n_head, self.d_head = d_feat, n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attend = ScaledDotProductAttention()
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V must have the same number of rows")
        batch, length = Q.shape[0], Q.shape[1]

        def split(x):
            return x.reshape(batch, length, self.n_head, self.d_head).transpose(1, 2)

        q, k, v = split(self.lin_Q(Q)), split(self.lin_K(K)), split(self.lin_V(V))
        _, attention = self.attend(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = torch.matmul(self.dropout(attention), v).transpose(1, 2).reshape(batch, length, self.d_feat)
        return self.lin_O(x), attention
