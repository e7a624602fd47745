"""Correct: computes in float64 and returns the input's dtype, einsum for both products, -inf
masks with fully masked rows set to zero weight (finite), projections reached through a
ModuleDict and exposed as lin_Q .. lin_O properties (nested, not registered under those names)."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V disagree on the number of keys")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K disagree on d_K")
        q, k, v = Q.double(), K.double(), V.double()
        scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), float("-inf"))
        attention = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        out = torch.einsum("...qk,...kd->...qd", attention, v)
        return out.to(Q.dtype), attention.to(Q.dtype)


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError(f"{d_feat} features cannot be split into {n_head} heads")
        self.n_head = n_head
        self.proj = nn.ModuleDict({k: nn.Linear(d_feat, d_feat, bias=bias) for k in "qkvo"})
        self.core = ScaledDotProductAttention()
        self.drop = nn.Dropout(dropout_p)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    lin_Q = property(lambda self: self.proj["q"])
    lin_K = property(lambda self: self.proj["k"])
    lin_V = property(lambda self: self.proj["v"])
    lin_O = property(lambda self: self.proj["o"])

    def _heads(self, x):
        b, n, _ = x.shape
        return x.reshape(b, n, self.n_head, -1).transpose(1, 2)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V need the same length")
        self.calls += 1
        q, k, v = self._heads(self.lin_Q(Q)), self._heads(self.lin_K(K)), self._heads(self.lin_V(V))
        head_mask = None if mask is None else mask.unsqueeze(-3)
        _, attention = self.core(q, k, v, head_mask)
        x = torch.einsum("bhqk,bhkd->bqhd", self.drop(attention), v).flatten(2)
        return self.lin_O(x), attention
