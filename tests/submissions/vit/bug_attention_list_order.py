"""Mutant: Each new map is put at the front of the list: last layer first."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadedAttention(nn.Module):
    """Self- or cross-attention with n_head heads of width d_feat // n_head (the mha assignment)."""

    def __init__(self, d_feat=64, n_head=4, dropout_p=0.1):
        super().__init__()
        if d_feat % n_head != 0:
            raise ValueError(f"d_feat ({d_feat}) must be divisible by n_head ({n_head})")
        self.n_head, self.d_head = n_head, d_feat // n_head
        self.lin_Q = nn.Linear(d_feat, d_feat)
        self.lin_K = nn.Linear(d_feat, d_feat)
        self.lin_V = nn.Linear(d_feat, d_feat)
        self.lin_O = nn.Linear(d_feat, d_feat)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, Q, K, V, mask=None):
        B, n_Q, d_feat = Q.shape
        n_K = K.size(1)

        def split_heads(x, n):  # (B, n, d_feat) -> (B, n_head, n, d_head)
            return x.view(B, n, self.n_head, self.d_head).transpose(1, 2)

        q = split_heads(self.lin_Q(Q), n_Q)
        k = split_heads(self.lin_K(K), n_K)
        v = split_heads(self.lin_V(V), n_K)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)   # (B, n_head, n_Q, n_K)
        if mask is not None:
            # course polarity: 1/True = may attend; the head axis is inserted so every head uses it
            scores = scores.masked_fill(~mask.bool().unsqueeze(-3), torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores, dim=-1)                    # returned before dropout
        x = self.dropout(attention) @ v
        x = x.transpose(1, 2).reshape(B, n_Q, d_feat)
        x = self.lin_O(x)
        return x, attention
class EncoderLayer(nn.Module):
    """Post-norm encoder block: x = norm1(x + attn(x)), then x = norm2(x + ff(x))."""

    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = MultiHeadedAttention(d_feat, n_head, dropout_p)
        self.ff1 = nn.Linear(d_feat, d_ff)
        self.ff2 = nn.Linear(d_ff, d_feat)
        self.norm1 = nn.LayerNorm(d_feat)
        self.norm2 = nn.LayerNorm(d_feat)
        self.dropout = nn.Dropout(dropout_p)       # inside the feed-forward
        self.dropout1 = nn.Dropout(dropout_p)      # on the attention sub-layer's output
        self.dropout2 = nn.Dropout(dropout_p)      # on the feed-forward sub-layer's output

    def forward(self, x, mask=None):
        h, attention = self.attn(x, x, x, mask=mask)
        x = self.norm1(x + self.dropout1(h))       # add the input back first, then normalise
        h = self.ff2(self.dropout(F.relu(self.ff1(x))))
        x = self.norm2(x + self.dropout2(h))       # the same around the feed-forward layer
        return x, attention
class Encoder(nn.Module):
    """n_layer encoder blocks; returns the last output and every layer's attention map."""

    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d_feat, n_head, d_ff, dropout_p) for _ in range(n_layer)])

    def forward(self, x, mask=None):
        attentions = []
        for layer in self.layers:
            x, attention = layer(x, mask=mask)     # each layer reads the previous layer's output
            attentions.insert(0, attention)           # first layer first
        return x, attentions
class PatchEmbedding(nn.Module):
    """Cut images into patch_size squares (row-major) and project each one to d_feat."""

    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size ({image_size}) must be divisible by patch_size ({patch_size})")
        self.n_patch = (image_size // patch_size) ** 2
        # a Conv2d with kernel = stride = patch_size is one linear map per patch
        self.proj = nn.Conv2d(in_channels, d_feat, kernel_size=patch_size, stride=patch_size)

    def forward(self, images):
        x = self.proj(images)                      # (N, d_feat, S/P, S/P)
        x = x.flatten(2).transpose(1, 2)           # (N, n_patch, d_feat), row-major patches
        return x
class VisionTransformer(nn.Module):
    """Patches as tokens, a class token at position 0, learned positions, an encoder and a head."""

    def __init__(self, image_size=16, patch_size=4, in_channels=1, n_class=4,
                 n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.patch = PatchEmbedding(image_size, patch_size, in_channels, d_feat)
        n_patch = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_feat))
        self.pos_embedding = nn.Parameter(0.02 * torch.randn(1, n_patch + 1, d_feat))
        self.encoder = Encoder(n_layer, d_feat, n_head, d_ff, dropout_p)
        self.head = nn.Linear(d_feat, n_class)

    def forward(self, images):
        x = self.patch(images)                                  # (N, n_patch, d_feat)
        cls = self.cls_token.expand(x.size(0), -1, -1)          # one class token per image
        x = torch.cat([cls, x], dim=1) + self.pos_embedding     # class token at position 0
        x, _ = self.encoder(x)                                  # (N, n_patch + 1, d_feat)
        logits = self.head(x[:, 0])                             # the head reads the class token
        return logits
