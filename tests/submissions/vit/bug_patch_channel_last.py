"""Mutant: patches flattened channel-last, like einops' 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d_feat, n_head, dropout_p):
        super().__init__()
        assert d_feat % n_head == 0
        self.h = n_head
        self.lin_Q, self.lin_K = nn.Linear(d_feat, d_feat), nn.Linear(d_feat, d_feat)
        self.lin_V, self.lin_O = nn.Linear(d_feat, d_feat), nn.Linear(d_feat, d_feat)
        self.drop = nn.Dropout(dropout_p)

    def forward(self, x, mask=None):
        b, n, d = x.shape
        q, k, v = (lin(x).reshape(b, n, self.h, d // self.h) for lin in (self.lin_Q, self.lin_K, self.lin_V))
        dots = torch.einsum("bqhd,bkhd->bhqk", q, k) * (d // self.h) ** -0.5
        if mask is not None:
            dots = dots.masked_fill(mask.unsqueeze(1) == 0, -1e9)
        attn = dots.softmax(dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", self.drop(attn), v).reshape(b, n, d)
        return self.lin_O(out), attn


class EncoderLayer(nn.Module):
    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = SelfAttention(d_feat, n_head, dropout_p)
        self.ff1, self.ff2 = nn.Linear(d_feat, d_ff), nn.Linear(d_ff, d_feat)
        self.norm1, self.norm2 = nn.LayerNorm(d_feat), nn.LayerNorm(d_feat)
        self.p = dropout_p

    def forward(self, x, mask=None):
        a, attn = self.attn(x, mask)
        x = self.norm1(x + F.dropout(a, self.p, self.training))
        f = self.ff2(F.dropout(F.relu(self.ff1(x)), self.p, self.training))
        return self.norm2(x + F.dropout(f, self.p, self.training)), attn


class Encoder(nn.Module):
    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_feat, n_head, d_ff, dropout_p) for _ in range(n_layer))

    def forward(self, x, mask=None):
        maps = []
        for block in self.layers:
            x, a = block(x, mask)
            maps += [a]
        return x, maps


class PatchEmbedding(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        self.p = patch_size
        self.proj = nn.Linear(in_channels * patch_size ** 2, d_feat)

    def forward(self, images):
        b, c, hh, ww = images.shape
        p = self.p
        x = images.reshape(b, c, hh // p, p, ww // p, p)
        x = x.permute(0, 2, 4, 3, 5, 1).reshape(b, (hh // p) * (ww // p), p * p * c)
        return self.proj(x)


class VisionTransformer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, n_class=4,
                 n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.patch = PatchEmbedding(image_size, patch_size, in_channels, d_feat)
        num = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, d_feat))
        self.pos_embedding = nn.Parameter(torch.randn(1, num + 1, d_feat))
        self.encoder = Encoder(n_layer, d_feat, n_head, d_ff, dropout_p)
        self.head = nn.Linear(d_feat, n_class)

    def forward(self, images):
        tokens = self.patch(images)
        cls = self.cls_token.repeat(tokens.shape[0], 1, 1) + self.pos_embedding[:, :1]
        tokens = tokens + self.pos_embedding[:, 1:]
        out, _ = self.encoder(torch.cat((cls, tokens), dim=1))
        return self.head(out[:, 0])
