"""Bug: never applies dropout (dropout_p is ignored)."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_K)) V over the last two axes; any leading axes broadcast."""

    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError(f"K and V must have the same number of rows (n_K == n_V), "
                             f"got K with {K.size(-2)} and V with {V.size(-2)}")
        if Q.size(-1) != K.size(-1):
            raise ValueError(f"Q and K must have the same width d_K, got {Q.size(-1)} and {K.size(-1)}")
        d_K = Q.size(-1)
        scores = Q @ K.transpose(-2, -1) / math.sqrt(d_K)          # (..., n_Q, n_K)
        if mask is not None:
            # course convention: 1/True = may attend. A large finite negative value (not -inf)
            # keeps a fully masked row finite: it becomes uniform instead of NaN.
            scores = scores.masked_fill(~mask.bool(), torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores, dim=-1)                  # each row sums to 1 over keys
        out = attention @ V                                        # (..., n_Q, d_V)
        return out, attention


class MultiHeadedAttention(nn.Module):
    """n_head attention heads of width d_feat // n_head, with Q/K/V/O projections."""

    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError(f"d_feat ({d_feat}) must be divisible by n_head ({n_head})")
        self.d_feat = d_feat
        self.n_head = n_head
        self.d_head = d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError(f"K and V must have the same number of rows (n_K == n_V), "
                             f"got K with {K.size(1)} and V with {V.size(1)}")
        B, n_Q, n_K = Q.size(0), Q.size(1), K.size(1)

        def split_heads(x, n):  # (B, n, d_feat) -> (B, n_head, n, d_head)
            return x.view(B, n, self.n_head, self.d_head).permute(0, 2, 1, 3)

        q = split_heads(self.lin_Q(Q), n_Q)
        k = split_heads(self.lin_K(K), n_K)                        # n_K, not n_Q
        v = split_heads(self.lin_V(V), n_K)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, n_head, n_Q, n_K)
        if mask is not None:
            # (B, n_Q, n_K) -> (B, 1, n_Q, n_K): the same mask for every head
            scores = scores.masked_fill(~mask.bool().unsqueeze(-3), torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores, dim=-1)
        x = attention @ v                            # (B, n_head, n_Q, d_head)
        x = x.permute(0, 2, 1, 3).reshape(B, n_Q, self.d_feat)     # heads back next to features
        x = self.lin_O(x)
        return x, attention
