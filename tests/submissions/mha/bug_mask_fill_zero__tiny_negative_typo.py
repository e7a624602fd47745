"""Bug (a typo seen in published code): masked scores are filled with -1e-9 (a tiny number next
to 0) instead of -1e9, so a masked key keeps about exp(0) of weight."""

import torch
import torch.nn.functional as F
from torch import nn


def scaled_dot_product(queries, keys, values, mask=None, mask_filler=-1e-9):
    if keys.size(-2) != values.size(-2):
        raise ValueError("keys K and values V must be equally many")
    if queries.size(-1) != keys.size(-1):
        raise ValueError("queries Q and keys K must have the same width")
    weights = torch.matmul(queries, torch.transpose(keys, -2, -1)) / queries.size(-1) ** 0.5
    if mask is not None:
        weights = weights.masked_fill(mask == 0, mask_filler)
    weights = F.softmax(weights, dim=-1)
    return torch.matmul(weights, values), weights


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        return scaled_dot_product(Q, K, V, mask)


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat should be a multiple of n_head")
        self.heads, self.per_head = n_head, d_feat // n_head
        self.lin_Q, self.lin_K, self.lin_V, self.lin_O = (nn.Linear(d_feat, d_feat, bias=bias) for _ in range(4))
        self.drop = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same length")
        b = Q.size(0)
        q, k, v = (lin(t).reshape(b, -1, self.heads, self.per_head).transpose(1, 2)
                   for lin, t in ((self.lin_Q, Q), (self.lin_K, K), (self.lin_V, V)))
        scores = q @ k.transpose(-2, -1) / self.per_head ** 0.5
        if mask is not None:
            scores = scores.masked_fill(mask.unsqueeze(1) == 0, -1e-9)
        weights = F.softmax(scores, dim=-1)
        x = (self.drop(weights) @ v).transpose(1, 2).reshape(b, -1, self.heads * self.per_head)
        return self.lin_O(x), weights
