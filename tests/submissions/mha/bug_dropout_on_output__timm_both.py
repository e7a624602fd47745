"""Bug (timm's Attention copied whole): attn_drop on the weights AND proj_drop on the projected
output, both with dropout_p, so x itself is dropped as well."""

import torch
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("number of keys K and values V differ")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K widths differ")
        attn = (Q * Q.shape[-1] ** -0.5) @ K.transpose(-2, -1)
        if mask is not None:
            attn = attn.masked_fill(~mask.bool(), torch.finfo(attn.dtype).min)
        attn = attn.softmax(dim=-1)
        return attn @ V, attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat % n_head != 0")
        self.num_heads = n_head
        self.scale = (d_feat // n_head) ** -0.5
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.attn_drop = nn.Dropout(dropout_p)
        self.proj_drop = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("number of keys K and values V differ")
        B, N, C = Q.shape
        q = self.lin_Q(Q).reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        k = self.lin_K(K).reshape(B, K.shape[1], self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        v = self.lin_V(V).reshape(B, V.shape[1], self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if mask is not None:
            attn = attn.masked_fill(~mask.bool()[:, None], torch.finfo(attn.dtype).min)
        attn = attn.softmax(dim=-1)
        x = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(B, N, C)
        x = self.proj_drop(self.lin_O(x))
        return x, attn
