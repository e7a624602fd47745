"""Correct: annotated-transformer habits. A SublayerConnection helper (post-norm), layers deep-copied
with clones(), the four projections kept in a ModuleList and also bound as lin_Q..lin_O, an additive
float mask, and the class token / positions registered before the patch module."""
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def clones(module, n):
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class MultiHeadedAttention(nn.Module):
    def __init__(self, n_head, d_model, dropout=0.1):
        super().__init__()
        assert d_model % n_head == 0
        self.d_k, self.h = d_model // n_head, n_head
        self.linears = clones(nn.Linear(d_model, d_model), 4)
        self.lin_Q, self.lin_K, self.lin_V, self.lin_O = self.linears
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, query, key, value, mask=None):
        nbatches = query.size(0)
        query, key, value = [lin(t).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
                             for lin, t in zip(self.linears, (query, key, value))]
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(self.d_k)
        if mask is not None:
            scores = scores + (1.0 - mask.unsqueeze(1).to(scores.dtype)) * -1e9
        p_attn = F.softmax(scores, dim=-1)
        x = torch.matmul(self.dropout(p_attn), value)
        x = x.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        return self.linears[-1](x), p_attn


class SublayerConnection(nn.Module):
    """norm(x + dropout(sublayer(x))): the residual is added before the norm (post-norm)."""

    def __init__(self, norm, dropout):
        super().__init__()
        self.norm, self.dropout = norm, nn.Dropout(dropout)

    def forward(self, x, out):
        return self.norm(x + self.dropout(out))


class EncoderLayer(nn.Module):
    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = MultiHeadedAttention(n_head, d_feat, dropout_p)
        self.ff1, self.ff2 = nn.Linear(d_feat, d_ff), nn.Linear(d_ff, d_feat)
        self.norm1, self.norm2 = nn.LayerNorm(d_feat), nn.LayerNorm(d_feat)
        self.sub1 = SublayerConnection(self.norm1, dropout_p)
        self.sub2 = SublayerConnection(self.norm2, dropout_p)
        self.inner = nn.Dropout(dropout_p)

    def forward(self, x, mask=None):
        out, attention = self.attn(x, x, x, mask)
        x = self.sub1(x, out)
        return self.sub2(x, self.ff2(self.inner(F.relu(self.ff1(x))))), attention


class Encoder(nn.Module):
    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = clones(EncoderLayer(d_feat, n_head, d_ff, dropout_p), n_layer)

    def forward(self, x, mask=None):
        maps = []
        for layer in self.layers:
            x, attention = layer(x, mask)
            maps.append(attention)
        return x, maps


class PatchEmbedding(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size:
            raise ValueError("patch_size must divide image_size")
        self.proj = nn.Conv2d(in_channels, d_feat, kernel_size=patch_size, stride=patch_size)

    def forward(self, images):
        return self.proj(images).flatten(2).permute(0, 2, 1)


class VisionTransformer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, n_class=4,
                 n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        n_patch = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, d_feat) * 0.02)
        self.pos_embedding = nn.Parameter(torch.randn(1, n_patch + 1, d_feat) * 0.02)
        self.patch = PatchEmbedding(image_size, patch_size, in_channels, d_feat)
        self.encoder = Encoder(n_layer, d_feat, n_head, d_ff, dropout_p)
        self.head = nn.Linear(d_feat, n_class)

    def forward(self, images):
        x = self.patch(images)
        x = torch.cat((self.cls_token.expand(x.shape[0], 1, -1), x), dim=1) + self.pos_embedding
        x, _ = self.encoder(x)
        return self.head(x[:, 0])
