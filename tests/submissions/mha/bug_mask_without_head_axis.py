"""Bug (the course's original template): the (B, 1, n_K) padding mask is applied to the
(B, n_head, n_Q, n_K) scores as it is, without inserting a head axis."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size(-2) != V.size(-2):
            raise ValueError("K and V must have the same number of rows")
        if Q.size(-1) != K.size(-1):
            raise ValueError("Q and K must have the same width")
        d_K = K.size()[-1]
        scores = Q.matmul(K.transpose(-2, -1)) / np.sqrt(d_K)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = F.softmax(scores, dim=-1)
        return attention.matmul(V), attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError("d_feat(%d) should be divisible by n_head(%d)" % (d_feat, n_head))
        self.d_feat, self.n_head, self.d_head = d_feat, n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat, bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias)
        self.dropout = nn.Dropout(p=dropout_p)

    def forward(self, Q, K, V, mask=None):
        if K.size(1) != V.size(1):
            raise ValueError("K and V must have the same number of rows")
        n_batch = Q.shape[0]
        Q_split = self.lin_Q(Q).view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        K_split = self.lin_K(K).view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        V_split = self.lin_V(V).view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        scores = torch.matmul(Q_split, K_split.permute(0, 1, 3, 2)) / np.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = torch.softmax(scores, dim=-1)
        x_raw = torch.matmul(self.dropout(attention), V_split)
        x = x_raw.permute(0, 2, 1, 3).contiguous().view(n_batch, -1, self.d_feat)
        return self.lin_O(x), attention
