"""Correct (an ESPnet-like layout): masked scores are filled with the dtype's minimum before the
softmax and the masked weights are set to 0 again after it, so a query whose keys are all masked
gets an all-zero (finite) row; forward_qkv / forward_attention helpers."""

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError(f"K ({K.shape[-2]} rows) and V ({V.shape[-2]} rows) must have as many rows")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError(f"Q width {Q.shape[-1]} != K width {K.shape[-1]}")
        scores = torch.matmul(Q, K.transpose(-2, -1)) / (Q.shape[-1] ** 0.5)
        if mask is None:
            attn = torch.softmax(scores, dim=-1)
        else:
            hidden = mask.eq(0)
            attn = torch.softmax(scores.masked_fill(hidden, torch.finfo(scores.dtype).min), dim=-1)
            attn = attn.masked_fill(hidden, 0.0)
        return torch.matmul(attn, V), attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError(f"n_head={n_head} must divide d_feat={d_feat}")
        self.d_k, self.h = d_feat // n_head, n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.dropout = nn.Dropout(p=dropout_p)
        self.attn = None

    def forward_qkv(self, query, key, value):
        n_batch = query.size(0)
        q = self.lin_Q(query).view(n_batch, -1, self.h, self.d_k).transpose(1, 2)
        k = self.lin_K(key).view(n_batch, -1, self.h, self.d_k).transpose(1, 2)
        v = self.lin_V(value).view(n_batch, -1, self.h, self.d_k).transpose(1, 2)
        return q, k, v

    def forward_attention(self, value, scores, mask):
        n_batch = value.size(0)
        if mask is not None:
            hidden = mask.unsqueeze(1).eq(0)                 # (B, 1, n_Q or 1, n_K)
            min_value = torch.finfo(scores.dtype).min
            self.attn = torch.softmax(scores.masked_fill(hidden, min_value), dim=-1).masked_fill(hidden, 0.0)
        else:
            self.attn = torch.softmax(scores, dim=-1)
        x = torch.matmul(self.dropout(self.attn), value)
        x = x.transpose(1, 2).contiguous().view(n_batch, -1, self.h * self.d_k)
        return self.lin_O(x)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        q, k, v = self.forward_qkv(Q, K, V)
        scores = torch.matmul(q, k.transpose(-2, -1)) / self.d_k ** 0.5
        return self.forward_attention(v, scores, mask), self.attn
