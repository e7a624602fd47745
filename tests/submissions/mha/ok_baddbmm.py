"""Correct: batch and heads flattened, additive mask bias fused with torch.baddbmm, addmm projections."""

import math

import torch
from torch import nn


def _attend(q, k, v, mask):
    """q (..., n_q, d), k (..., n_k, d), v (..., n_k, d_v) -> flattened baddbmm attention."""
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k, d = q.shape[-2], k.shape[-2], q.shape[-1]
    q3 = q.expand(*lead, n_q, d).reshape(-1, n_q, d)
    k3 = k.expand(*lead, n_k, d).reshape(-1, n_k, d)
    bias = torch.zeros(*lead, n_q, n_k, dtype=q.dtype)
    if mask is not None:
        lead = torch.broadcast_shapes(lead, mask.shape[:-2])
        bias = bias.expand(*lead, n_q, n_k).masked_fill(~mask.bool(), -1e9)
        q3 = q.expand(*lead, n_q, d).reshape(-1, n_q, d)
        k3 = k.expand(*lead, n_k, d).reshape(-1, n_k, d)
    scores = torch.baddbmm(bias.reshape(-1, n_q, n_k), q3, k3.transpose(1, 2), alpha=1 / math.sqrt(d))
    return torch.softmax(scores, dim=-1).reshape(*lead, n_q, n_k)


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V: different number of rows")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K: different d_K")
        attention = _attend(Q, K, V, mask)
        return attention @ V, attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError(f"{d_feat} is not divisible by {n_head}")
        self.n_head = n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.dropout = nn.Dropout(dropout_p)

    @staticmethod
    def _project(lin, x):
        flat = x.reshape(-1, x.size(-1))
        y = torch.addmm(lin.bias, flat, lin.weight.t()) if lin.bias is not None else flat @ lin.weight.t()
        return y.view(*x.shape[:-1], -1)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must be equally long")
        B, n_q, d_feat = Q.shape
        h, d = self.n_head, d_feat // self.n_head
        q = self._project(self.lin_Q, Q).view(B, n_q, h, d).transpose(1, 2)
        k = self._project(self.lin_K, K).view(B, -1, h, d).transpose(1, 2)
        v = self._project(self.lin_V, V).view(B, -1, h, d).transpose(1, 2)
        attention = _attend(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = (self.dropout(attention) @ v).transpose(1, 2).reshape(B, n_q, d_feat)
        return self._project(self.lin_O, x), attention
