"""Bug: projections built as an annotated-transformer list of clones (also bound as lin_Q ..
lin_O), but forward zips the list with the three inputs only and never applies the last one."""

import copy
import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V must have the same number of rows")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must have the same width")
        scores = torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(Q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        p_attn = scores.softmax(dim=-1)
        return torch.matmul(p_attn, V), p_attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be divisible by n_head")
        self.h, self.d_k = n_head, d_feat // n_head
        layer = nn.Linear(d_feat, d_feat, bias=bias)
        self.linears = nn.ModuleList(copy.deepcopy(layer) for _ in range(4))
        self.lin_Q, self.lin_K, self.lin_V, self.lin_O = self.linears
        self.attn = ScaledDotProductAttention()
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        B = Q.size(0)
        q, k, v = [lin(x).view(B, -1, self.h, self.d_k).transpose(1, 2)
                   for lin, x in zip(self.linears, (Q, K, V))]
        _, p_attn = self.attn(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = torch.matmul(self.dropout(p_attn), v)
        return x.transpose(1, 2).contiguous().view(B, -1, self.h * self.d_k), p_attn
