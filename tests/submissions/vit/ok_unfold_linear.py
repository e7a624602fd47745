"""Correct: F.unfold cuts the patches (channel-major, row-major already), an nn.Linear projects them;
heads looped one by one with their own slices of lin_Q/K/V; the residual written as a helper."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, d_feat, n_head, dropout_p=0.0):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("n_head must divide d_feat")
        self.n_head, self.d_k = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat)
        self.lin_K = nn.Linear(d_feat, d_feat)
        self.lin_V = nn.Linear(d_feat, d_feat)
        self.lin_O = nn.Linear(d_feat, d_feat)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, x, mask=None):
        Q, K, V = self.lin_Q(x), self.lin_K(x), self.lin_V(x)
        outs, maps = [], []
        for i in range(self.n_head):
            s = slice(i * self.d_k, (i + 1) * self.d_k)
            scores = Q[..., s] @ K[..., s].transpose(1, 2) / math.sqrt(self.d_k)
            if mask is not None:
                scores = scores.masked_fill(~mask.bool(), float("-inf"))
            w = F.softmax(scores, dim=-1)
            maps.append(w)
            outs.append(self.dropout(w) @ V[..., s])
        return self.lin_O(torch.cat(outs, dim=-1)), torch.stack(maps, dim=1)


def add_norm(x, sublayer_out, norm, dropout):
    return norm(x + dropout(sublayer_out))


class EncoderLayer(nn.Module):
    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = MultiHeadAttention(d_feat, n_head, dropout_p)
        self.ff1 = nn.Linear(d_feat, d_ff)
        self.ff2 = nn.Linear(d_ff, d_feat)
        self.norm1 = nn.LayerNorm(d_feat)
        self.norm2 = nn.LayerNorm(d_feat)
        self.drop = nn.Dropout(dropout_p)

    def forward(self, x, mask=None):
        a, att = self.attn(x, mask)
        x = add_norm(x, a, self.norm1, self.drop)
        x = add_norm(x, self.ff2(self.drop(torch.relu(self.ff1(x)))), self.norm2, self.drop)
        return x, att


class Encoder(nn.Module):
    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(n_layer):
            self.layers.append(EncoderLayer(d_feat, n_head, d_ff, dropout_p))

    def forward(self, x, mask=None):
        attention_list = list()
        for i in range(len(self.layers)):
            x, a = self.layers[i](x, mask=mask)
            attention_list.append(a)
        return x, attention_list


class PatchEmbedding(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"{image_size} is not a multiple of {patch_size}")
        self.patch_size = patch_size
        self.proj = nn.Linear(in_channels * patch_size * patch_size, d_feat)

    def forward(self, images):
        cols = F.unfold(images, kernel_size=self.patch_size, stride=self.patch_size)   # (N, C*P*P, L)
        return self.proj(cols.transpose(1, 2))


class VisionTransformer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, n_class=4,
                 n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.patch = PatchEmbedding(image_size, patch_size, in_channels, d_feat)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_feat))
        self.pos_embedding = nn.Parameter(torch.zeros(1, (image_size // patch_size) ** 2 + 1, d_feat))
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        self.encoder = Encoder(n_layer, d_feat, n_head, d_ff, dropout_p)
        self.head = nn.Linear(d_feat, n_class)

    def forward(self, images):
        x = self.patch(images)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1)
        x, _ = self.encoder(x + self.pos_embedding)
        return self.head(x[:, 0, :])
