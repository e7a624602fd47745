"""Correct: einsum for every product, torch.where for the mask, heads as an explicit axis."""

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("number of keys (K) and values (V) differ")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must share d_K")
        scores = torch.einsum("...qd,...kd->...qk", Q, K) * Q.size(-1) ** -0.5
        if mask is not None:
            scores = torch.where(mask.bool(), scores, torch.full_like(scores, -1e30))
        attention = F.softmax(scores, dim=-1)
        return torch.einsum("...qk,...kd->...qd", attention, V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("n_head must divide d_feat")
        self.h = n_head
        self.lin_Q, self.lin_K, self.lin_V, self.lin_O = (nn.Linear(d_feat, d_feat, bias=bias) for _ in range(4))
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V lengths differ")
        b, n_q, d = Q.shape
        q = self.lin_Q(Q).unflatten(-1, (self.h, d // self.h))   # (b, n_q, h, d_head)
        k = self.lin_K(K).unflatten(-1, (self.h, d // self.h))
        v = self.lin_V(V).unflatten(-1, (self.h, d // self.h))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / (d // self.h) ** 0.5
        if mask is not None:
            scores = torch.where(mask.bool()[:, None], scores, torch.full_like(scores, -1e30))
        attention = scores.softmax(-1)
        x = torch.einsum("bhqk,bkhd->bqhd", self.dropout(attention), v).flatten(2)
        return self.lin_O(x), attention
