"""Bug (a ViT/timm "proj_drop" habit in place of attention dropout): the attention weights are
used undropped and nn.Dropout is applied to the projected output x instead."""

import math

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V must have the same number of rows")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K must have the same width")
        attn = Q @ K.transpose(-2, -1) * (1.0 / math.sqrt(Q.shape[-1]))
        if mask is not None:
            attn = attn.masked_fill(~mask.bool(), -1e9)
        attn = attn.softmax(dim=-1)
        return attn @ V, attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat must be divisible by n_head")
        self.num_heads = n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.proj_drop = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V must have the same number of rows")
        B, N, C = Q.shape
        q = self.lin_Q(Q).reshape(B, N, self.num_heads, -1).transpose(1, 2)
        k = self.lin_K(K).reshape(B, K.shape[1], self.num_heads, -1).transpose(1, 2)
        v = self.lin_V(V).reshape(B, V.shape[1], self.num_heads, -1).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        if mask is not None:
            attn = attn.masked_fill(~mask.bool().unsqueeze(1), -1e9)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.lin_O(x)), attn
