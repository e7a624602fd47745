"""Correct, in the course's original template style: np.sqrt of the HEAD width, permute(0, 1, 3, 2),
`mask == 0` with -1e9 after inserting the head axis, an internal dict of every intermediate
tensor, wrapped to the assignment's (x, attention) API."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        if K.size()[-2] != V.size()[-2]:
            raise ValueError("number of K rows (n_K) and V rows (n_V) must match")
        if Q.size()[-1] != K.size()[-1]:
            raise ValueError("d_K mismatch between Q and K")
        d_K = K.size()[-1]  # key dimension
        scores = Q.matmul(K.transpose(-2, -1)) / np.sqrt(d_K)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = F.softmax(scores, dim=-1)
        out = attention.matmul(V)
        return out, attention


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super(MultiHeadedAttention, self).__init__()
        if (d_feat % n_head) != 0:
            raise ValueError("d_feat(%d) should be divisible by n_head(%d)" % (d_feat, n_head))
        self.d_feat = d_feat
        self.n_head = n_head
        self.d_head = self.d_feat // self.n_head
        self.lin_Q = nn.Linear(self.d_feat, self.d_feat, bias)
        self.lin_K = nn.Linear(self.d_feat, self.d_feat, bias)
        self.lin_V = nn.Linear(self.d_feat, self.d_feat, bias)
        self.lin_O = nn.Linear(self.d_feat, self.d_feat, bias)
        self.dropout = nn.Dropout(p=dropout_p)

    def run(self, Q, K, V, mask=None):
        n_batch = Q.shape[0]
        Q_feat, K_feat, V_feat = self.lin_Q(Q), self.lin_K(K), self.lin_V(V)
        Q_split = Q_feat.view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        K_split = K_feat.view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        V_split = V_feat.view(n_batch, -1, self.n_head, self.d_head).permute(0, 2, 1, 3)
        d_K = K_split.size()[-1]  # the width of one head's keys
        scores = torch.matmul(Q_split, K_split.permute(0, 1, 3, 2)) / np.sqrt(d_K)
        if mask is not None:
            scores = scores.masked_fill(mask.unsqueeze(1) == 0, -1e9)
        attention = torch.softmax(scores, dim=-1)
        x_raw = torch.matmul(self.dropout(attention), V_split)
        x_rsh1 = x_raw.permute(0, 2, 1, 3).contiguous()
        x_rsh2 = x_rsh1.view(n_batch, -1, self.d_feat)
        x = self.lin_O(x_rsh2)
        return {"Q_feat": Q_feat, "K_split": K_split, "scores": scores, "attention": attention,
                "x_raw": x_raw, "x_rsh2": x_rsh2, "x": x}

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V need one row each per key")
        out = self.run(Q, K, V, mask)
        return out["x"], out["attention"]
