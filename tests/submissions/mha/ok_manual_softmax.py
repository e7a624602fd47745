"""Correct: hand-written stable softmax (subtract the row max), masked scores filled with finfo.min."""

import math

import torch
from torch import nn


def softmax_last(scores):
    scores = scores - scores.amax(dim=-1, keepdim=True)
    e = scores.exp()
    return e / e.sum(dim=-1, keepdim=True)


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        d_K = Q.shape[-1]
        if K.shape[-1] != d_K:
            raise ValueError("d_K mismatch between Q and K")
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("n_K != n_V: K and V must pair up")
        scores = Q.matmul(K.transpose(-2, -1)).div(math.sqrt(d_K))
        if mask is not None:
            scores = scores.masked_fill(~mask.to(torch.bool), torch.finfo(scores.dtype).min)
        attention = softmax_last(scores)
        return attention.matmul(V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("bad n_head")
        self.d_feat, self.n_head = d_feat, n_head
        for name in ("lin_Q", "lin_K", "lin_V", "lin_O"):
            setattr(self, name, nn.Linear(d_feat, d_feat, bias=bias))
        self.dropout = nn.Dropout(dropout_p)
        self.attention = ScaledDotProductAttention()

    def _split(self, x):
        B, n, _ = x.shape
        return x.reshape(B, n, self.n_head, self.d_feat // self.n_head).permute(0, 2, 1, 3)

    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V lengths differ")
        q, k, v = self._split(self.lin_Q(Q)), self._split(self.lin_K(K)), self._split(self.lin_V(V))
        d_head = q.shape[-1]
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
        if mask is not None:
            scores = scores.masked_fill(~mask.to(torch.bool)[:, None, :, :], torch.finfo(scores.dtype).min)
        attention = softmax_last(scores)
        x = (self.dropout(attention) @ v).permute(0, 2, 1, 3).flatten(2)
        return self.lin_O(x), attention
