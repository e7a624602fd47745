"""Correct: F.scaled_dot_product_attention computes the output (its boolean attn_mask already means
True = may attend, the course's polarity), the returned map is computed separately before any
dropout, heads via unflatten/movedim, and the Encoder returns its maps stacked into one tensor."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d_feat, n_head, dropout_p):
        super().__init__()
        if d_feat % n_head:
            raise ValueError("n_head must divide d_feat")
        self.n_head, self.p = n_head, dropout_p
        self.lin_Q = nn.Linear(d_feat, d_feat)
        self.lin_K = nn.Linear(d_feat, d_feat)
        self.lin_V = nn.Linear(d_feat, d_feat)
        self.lin_O = nn.Linear(d_feat, d_feat)

    def heads(self, t):
        return t.unflatten(-1, (self.n_head, -1)).movedim(-2, 1)       # B, h, n, d_head

    def forward(self, x, mask=None):
        q, k, v = self.heads(self.lin_Q(x)), self.heads(self.lin_K(x)), self.heads(self.lin_V(x))
        keep = None if mask is None else mask.bool().unsqueeze(1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=self.p if self.training else 0.0)
        scores = (q @ k.transpose(-1, -2)) * q.size(-1) ** -0.5
        if keep is not None:
            scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        return self.lin_O(out.movedim(1, -2).flatten(-2)), scores.softmax(-1)


class EncoderLayer(nn.Module):
    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = SelfAttention(d_feat, n_head, dropout_p)
        self.ff1 = nn.Linear(d_feat, d_ff)
        self.ff2 = nn.Linear(d_ff, d_feat)
        self.norm1 = nn.LayerNorm(d_feat)
        self.norm2 = nn.LayerNorm(d_feat)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, x, mask=None):
        out, weights = self.attn(x, mask)
        x = self.norm1(x + self.dropout(out))
        x = self.norm2(x + self.dropout(self.ff2(self.dropout(self.ff1(x).relu()))))
        return x, weights


class Encoder(nn.Module):
    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d_feat, n_head, d_ff, dropout_p) for _ in range(n_layer)])

    def forward(self, x, mask=None):
        maps = []
        for layer in self.layers:
            x, weights = layer(x, mask)
            maps.append(weights)
        return x, torch.stack(maps)                                    # (n_layer, B, h, n, n)


class PatchEmbedding(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size {image_size} is not divisible by patch_size {patch_size}")
        self.proj = nn.Conv2d(in_channels, d_feat, patch_size, stride=patch_size)

    def forward(self, images):
        x = torch.einsum("bdhw->bhwd", self.proj(images))
        return x.reshape(x.size(0), -1, x.size(-1))


class VisionTransformer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, n_class=4,
                 n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.patch = PatchEmbedding(image_size, patch_size, in_channels, d_feat)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_feat))
        self.pos_embedding = nn.Parameter(torch.empty(1, (image_size // patch_size) ** 2 + 1, d_feat).normal_(std=0.02))
        self.encoder = Encoder(n_layer, d_feat, n_head, d_ff, dropout_p)
        self.head = nn.Linear(d_feat, n_class)

    def forward(self, images):
        tokens = self.patch(images)
        tokens = torch.cat([self.cls_token.expand(tokens.size(0), -1, -1), tokens], dim=1)
        hidden, _ = self.encoder(tokens + self.pos_embedding)
        return self.head(hidden[:, 0])
