"""Correct, karpathy style: one small Head module per head in a ModuleList (each attends with its
own slice of the projected features and owns a registered buffer), outputs concatenated, then
lin_O. The head modules hold no weights of their own: lin_Q .. lin_O stay the spec's layers."""

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.shape[-2] != V.shape[-2]:
            raise ValueError("K and V lengths differ")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError("Q and K widths differ")
        wei = Q @ K.transpose(-2, -1) * Q.shape[-1] ** -0.5
        if mask is not None:
            wei = wei.masked_fill(mask == 0, float("-1e9"))
        wei = F.softmax(wei, dim=-1)
        return wei @ V, wei


class Head(nn.Module):
    def __init__(self, index, head_size, dropout_p):
        super().__init__()
        self.index, self.head_size = index, head_size
        self.register_buffer("scale", torch.tensor(head_size ** -0.5))
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, q, k, v, mask):
        cols = slice(self.index * self.head_size, (self.index + 1) * self.head_size)
        wei = q[..., cols] @ k[..., cols].transpose(-2, -1) * self.scale
        if mask is not None:
            wei = wei.masked_fill(mask == 0, float("-1e9"))
        wei = F.softmax(wei, dim=-1)
        return self.dropout(wei) @ v[..., cols], wei


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("d_feat must be divisible by n_head")
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.heads = nn.ModuleList(Head(i, d_feat // n_head, dropout_p) for i in range(n_head))

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V need the same number of rows")
        q, k, v = self.lin_Q(Q), self.lin_K(K), self.lin_V(V)
        outs = [head(q, k, v, mask) for head in self.heads]
        x = torch.cat([o for o, _ in outs], dim=-1)
        return self.lin_O(x), torch.stack([w for _, w in outs], dim=1)
