"""Bug seen in published solutions of the course's template: the scores are divided with `//`
(floor division) instead of `/`; MultiHeadedAttention reuses the same attention."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("n_K must equal n_V (K and V)")
        if Q.size(-1) != K.size(-1):
            raise ValueError("d_K of Q and K differ")
        d_K = K.size()[-1]
        scores = Q.matmul(K.transpose(-2, -1)) // np.sqrt(d_K)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = F.softmax(scores, dim=-1)
        return attention.matmul(V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat should be divisible by n_head")
        self.d_feat, self.n_head, self.d_head = d_feat, n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias)
        self.attention = ScaledDotProductAttention()
        self.dropout = nn.Dropout(p=dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        n_batch = Q.shape[0]
        q = self.lin_Q(Q).view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        k = self.lin_K(K).view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        v = self.lin_V(V).view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        _, attention = self.attention(q, k, v, None if mask is None else mask.unsqueeze(1))
        x = torch.matmul(self.dropout(attention), v).permute(0, 2, 1, 3).reshape(n_batch, -1, self.d_feat)
        return self.lin_O(x), attention
