"""Bug ("dropout from scratch"): a Bernoulli keep-mask multiplies the attention weights in train
mode, but the kept weights are never divided by 1 - p."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        n_k, n_v = K.shape[-2], V.shape[-2]
        if n_k != n_v:
            raise ValueError(f"K has {n_k} keys but V has {n_v} values")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError(f"d_K of Q ({Q.shape[-1]}) and of K ({K.shape[-1]}) differ")
        logits = torch.einsum("...qd,...kd->...qk", Q, K) / math.sqrt(Q.shape[-1])
        if mask is not None:
            logits = logits.masked_fill(torch.logical_not(mask.bool()), -1e9)
        probs = F.softmax(logits, dim=-1)
        return torch.einsum("...qk,...kd->...qd", probs, V), probs


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        if d_feat % n_head:
            raise ValueError(f"{n_head} heads do not divide d_feat={d_feat}")
        self.n_head, self.p = n_head, dropout_p
        self.lin_Q = nn.Linear(d_feat, d_feat, bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias)
        self.sdpa = ScaledDotProductAttention()

    def _heads(self, t):
        b, n, _ = t.shape
        return t.reshape(b, n, self.n_head, -1).permute(0, 2, 1, 3)

    def forward(self, Q, K, V, mask=None):
        if K.shape[1] != V.shape[1]:
            raise ValueError("K and V must have the same length")
        q, k, v = self._heads(self.lin_Q(Q)), self._heads(self.lin_K(K)), self._heads(self.lin_V(V))
        _, probs = self.sdpa(q, k, v, None if mask is None else mask.unsqueeze(1))
        used = probs
        if self.training and self.p > 0:
            keep = (torch.rand_like(probs) >= self.p).to(probs.dtype)
            used = probs * keep
        x = torch.einsum("bhqk,bhkd->bqhd", used, v).flatten(2)
        return self.lin_O(x), probs
