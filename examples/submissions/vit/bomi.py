"""A first attempt written from the ViT paper rather than the course: pre-norm blocks with a GELU
MLP, patches flattened channel-last like einops' '(p1 p2 c)', and the head on the mean token."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=64, n_head=4, dropout_p=0.1):
        super().__init__()
        self.n_head, self.d_head = n_head, d_feat // n_head
        self.lin_Q, self.lin_K = nn.Linear(d_feat, d_feat), nn.Linear(d_feat, d_feat)
        self.lin_V, self.lin_O = nn.Linear(d_feat, d_feat), nn.Linear(d_feat, d_feat)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        B, n, d = Q.shape
        q = self.lin_Q(Q).view(B, n, self.n_head, self.d_head).transpose(1, 2)
        k = self.lin_K(K).view(B, -1, self.n_head, self.d_head).transpose(1, 2)
        v = self.lin_V(V).view(B, -1, self.n_head, self.d_head).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(mask.unsqueeze(1) == 0, -1e9)
        attention = scores.softmax(-1)
        out = (self.dropout(attention) @ v).transpose(1, 2).reshape(B, n, d)
        return self.lin_O(out), attention


class EncoderLayer(nn.Module):
    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = MultiHeadedAttention(d_feat, n_head, dropout_p)
        self.ff1, self.ff2 = nn.Linear(d_feat, d_ff), nn.Linear(d_ff, d_feat)
        self.norm1, self.norm2 = nn.LayerNorm(d_feat), nn.LayerNorm(d_feat)
        self.drop = nn.Dropout(dropout_p)

    def forward(self, x, mask=None):
        h = self.norm1(x)
        a, attention = self.attn(h, h, h, mask)
        x = x + self.drop(a)
        x = x + self.drop(self.ff2(F.gelu(self.ff1(self.norm2(x)))))
        return x, attention


class Encoder(nn.Module):
    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d_feat, n_head, d_ff, dropout_p) for _ in range(n_layer)])

    def forward(self, x, mask=None):
        maps = []
        for layer in self.layers:
            x, a = layer(x, mask)
            maps.append(a)
        return x, maps


class PatchEmbedding(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size:
            raise ValueError("image_size must be divisible by patch_size")
        self.p = patch_size
        self.proj = nn.Linear(patch_size * patch_size * in_channels, d_feat)

    def forward(self, images):
        b, c, h, w = images.shape
        p = self.p
        x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return self.proj(x.reshape(b, (h // p) * (w // p), p * p * c))


class VisionTransformer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, n_class=4,
                 n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.patch = PatchEmbedding(image_size, patch_size, in_channels, d_feat)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_feat))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image_size // patch_size) ** 2 + 1, d_feat) * 0.02)
        self.encoder = Encoder(n_layer, d_feat, n_head, d_ff, dropout_p)
        self.head = nn.Linear(d_feat, n_class)

    def forward(self, images):
        x = self.patch(images)
        x = torch.cat([self.cls_token.expand(x.size(0), -1, -1), x], dim=1) + self.pos_embedding
        x, _ = self.encoder(x)
        return self.head(x.mean(dim=1))
