"""Bug: the dropout layer is built with a fixed p=0.1 (the usual Transformer value) instead of the
constructor's dropout_p."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def __init__(self, dropout=None):
        super().__init__()
        self.dropout = dropout

    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("the counts of K and V differ (n_K != n_V)")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K have different d_K")
        scores = torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(Q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        p_attn = torch.softmax(scores, dim=-1)
        used = p_attn if self.dropout is None else self.dropout(p_attn)
        return torch.matmul(used, V), p_attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be a multiple of n_head")
        self.d_k, self.h = d_feat // n_head, n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attention = ScaledDotProductAttention(nn.Dropout(p=0.1))

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V lengths differ")
        nbatches = Q.size(0)
        q, k, v = [lin(t).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
                   for lin, t in zip((self.lin_Q, self.lin_K, self.lin_V), (Q, K, V))]
        out, attn = self.attention(q, k, v, mask=None if mask is None else mask.unsqueeze(1))
        out = out.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        return self.lin_O(out), attn
