"""Correct: F.scaled_dot_product_attention for the output, attention weights computed separately."""

import torch
import torch.nn.functional as F
from torch import nn


def _weights(Q, K, bias):
    scores = Q @ K.transpose(-2, -1) / Q.size(-1) ** 0.5
    return torch.softmax(scores if bias is None else scores + bias, dim=-1)


def _bias(mask, dtype):
    """Additive float mask (0 = keep, -1e9 = hide): finite, so fully masked rows stay finite."""
    if mask is None:
        return None
    return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask.bool(), -1e9)


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V must have the same number of rows")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must have the same last dimension")
        bias = _bias(mask, Q.dtype)
        out = F.scaled_dot_product_attention(Q, K, V, attn_mask=bias)
        return out, _weights(Q, K, bias)


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be divisible by n_head")
        self.n_head, self.dropout_p = n_head, dropout_p
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        B, n_Q, d_feat = Q.shape

        def heads(x):
            return x.reshape(B, x.size(1), self.n_head, -1).transpose(1, 2)

        q, k, v = heads(self.lin_Q(Q)), heads(self.lin_K(K)), heads(self.lin_V(V))
        bias = _bias(None if mask is None else mask.unsqueeze(1), q.dtype)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                           dropout_p=self.dropout_p if self.training else 0.0)
        x = x.transpose(1, 2).reshape(B, n_Q, d_feat)
        return self.lin_O(x), _weights(q, k, bias)
