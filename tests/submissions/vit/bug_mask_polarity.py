"""Mutant: the course mask handed to nn.MultiheadAttention's key_padding_mask as it is (torch reads True as padding)."""
import torch
import torch.nn as nn


class EncoderLayer(nn.Module):
    def __init__(self, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_feat, n_head, dropout=0.0, batch_first=True)
        self.ff1 = nn.Linear(d_feat, d_ff)
        self.ff2 = nn.Linear(d_ff, d_feat)
        self.norm1 = nn.LayerNorm(d_feat)
        self.norm2 = nn.LayerNorm(d_feat)
        self.dropout1 = nn.Dropout(dropout_p)
        self.dropout2 = nn.Dropout(dropout_p)
        self.act = nn.ReLU()

    def forward(self, x, mask=None):
        padding = None
        if mask is not None:
            padding = mask.bool().reshape(x.size(0), x.size(1))
        h, attention = self.attn(x, x, x, key_padding_mask=padding, need_weights=True,
                                 average_attn_weights=False)
        x = self.norm1(x + self.dropout1(h))
        x = self.norm2(x + self.dropout2(self.ff2(self.act(self.ff1(x)))))
        return x, attention


class Encoder(nn.Module):
    def __init__(self, n_layer=2, d_feat=64, n_head=4, d_ff=128, dropout_p=0.1):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d_feat, n_head, d_ff, dropout_p) for _ in range(n_layer)])

    def forward(self, x, mask=None):
        attention_maps = []
        for layer in self.layers:
            x, attention = layer(x, mask)
            attention_maps.append(attention)
        return x, attention_maps


class PatchEmbedding(nn.Module):
    def __init__(self, image_size=16, patch_size=4, in_channels=1, d_feat=64):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError("image size must be divisible by the patch size")
        self.proj = nn.Conv2d(in_channels, d_feat, patch_size, patch_size)

    def forward(self, images):
        x = self.proj(images)                       # N, d, h, w
        return x.permute(0, 2, 3, 1).reshape(x.size(0), -1, x.size(1))


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
        patches = self.patch(images)
        tokens = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        encoded, _ = self.encoder(tokens + self.pos_embedding)
        return self.head(encoded[:, 0])
