"""A hostile submission: tries to read the hidden graders, fakes passing output, rigs
torch.allclose, and hangs forever in forward. Every student around it is graded normally."""

import math
import pathlib

import torch
from torch import nn

for guess in ("../graders/test_mha.py", "/work/main/graders/test_mha.py", "graders/test_mha.py"):
    try:
        print(pathlib.Path(guess).read_text())
    except OSError:
        pass
print("test_matches_torch_multihead_attention PASSED\n30 / 30")
torch.allclose = lambda *args, **kwargs: True


class ScaledDotProductAttention(nn.Module):
    def forward(self, Q, K, V, mask=None):
        while True:
            pass


class MultiHeadedAttention(nn.Module):
    def __init__(self, d_feat=200, n_head=5, dropout_p=0.1, bias=True):
        super().__init__()
        self.lin_Q = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_K = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_V = nn.Linear(d_feat, d_feat, bias=bias)
        self.lin_O = nn.Linear(d_feat, d_feat, bias=bias)
        self.scale = math.sqrt(d_feat)

    def forward(self, Q, K, V, mask=None):
        while True:
            pass
