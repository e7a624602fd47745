"""Correct, d2l style: heads folded into the batch axis (B * n_head, n, d_head) by a transpose_qkv
helper, a masked softmax filling -1e6, and transpose_output to undo the fold."""

import math

import torch
from torch import nn


def masked_softmax(scores, keep):
    if keep is None:
        return nn.functional.softmax(scores, dim=-1)
    return nn.functional.softmax(scores.masked_fill(~keep, -1e6), dim=-1)


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError(f"K has {K.shape[-2]} keys but V has {V.shape[-2]} values")
        d = Q.shape[-1]
        if K.shape[-1] != d:
            raise ValueError("queries and keys must have the same width")
        scores = Q @ K.transpose(-2, -1) / math.sqrt(d)
        weights = masked_softmax(scores, None if mask is None else mask.bool())
        return weights @ V, weights


def transpose_qkv(X, num_heads):
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1)
    X = X.permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def transpose_output(X, num_heads):
    X = X.reshape(-1, num_heads, X.shape[1], X.shape[2])
    X = X.permute(0, 2, 1, 3)
    return X.reshape(X.shape[0], X.shape[1], -1)


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("num_hiddens must be a multiple of num_heads")
        self.num_heads = n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V must have the same length")
        B, n_q, n_k = Q.shape[0], Q.shape[1], K.shape[1]
        queries = transpose_qkv(self.lin_Q(Q), self.num_heads)
        keys = transpose_qkv(self.lin_K(K), self.num_heads)
        values = transpose_qkv(self.lin_V(V), self.num_heads)
        keep = None
        if mask is not None:  # (B, n_Q, n_K) per sequence -> one copy per head, heads inner
            keep = mask.bool().expand(B, n_q, n_k).repeat_interleave(self.num_heads, dim=0)
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(queries.shape[-1])
        weights = masked_softmax(scores, keep)
        out = torch.bmm(self.dropout(weights), values)
        return self.lin_O(transpose_output(out, self.num_heads)), weights.reshape(B, self.num_heads, n_q, n_k)
