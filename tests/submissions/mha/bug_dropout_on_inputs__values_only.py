"""Bug ("dropout on what gets averaged"): nn.Dropout is applied to the per-head values v after
lin_V and the head split; the attention weights are left whole, so the attention returned is
right in train() mode and only x shows the dropout."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError(f"K has {K.size(-2)} rows but V has {V.size(-2)}: K and V must match")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K need the same width d_K")
        score = torch.matmul(Q, K.transpose(-1, -2)) / math.sqrt(K.size(-1))
        if mask is not None:
            score = score.masked_fill(mask == 0, -1e9)
        weight = torch.softmax(score, dim=-1)
        return torch.matmul(weight, V), weight


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("n_head must divide d_feat")
        self.h, self.d_k = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attention = ScaledDotProductAttention()
        self.drop = nn.Dropout(p=dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must hold the same number of rows")
        nb = Q.size(0)
        q = self.lin_Q(Q).view(nb, -1, self.h, self.d_k).transpose(1, 2)
        k = self.lin_K(K).view(nb, -1, self.h, self.d_k).transpose(1, 2)
        v = self.drop(self.lin_V(V).view(nb, -1, self.h, self.d_k).transpose(1, 2))
        if mask is not None:
            mask = mask.unsqueeze(1)
        heads, attn = self.attention(q, k, v, mask)
        concat = heads.transpose(1, 2).contiguous().view(nb, -1, self.h * self.d_k)
        return self.lin_O(concat), attn
