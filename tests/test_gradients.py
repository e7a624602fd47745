"""seqlab.gradients.backward_from is `output.backward(upstream)` without torch's lazy sympy import
(the oracles and the sandbox's `backward` request use it: ~0.5 s per process), and the zygote
pre-imports matplotlib only for assignments whose skeleton imports it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from seqlab.gradients import backward_from
from seqlab.sandbox.client import modules_to_warm


def _leaves(seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(3, 5, generator=generator, dtype=dtype).requires_grad_(True),
            torch.randn(5, 4, generator=generator, dtype=dtype).requires_grad_(True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(3))
def test_gives_every_leaf_exactly_torchs_gradient(seed, dtype):
    ours, theirs = _leaves(seed, dtype), _leaves(seed, dtype)
    upstream = torch.randn(3, 4, generator=torch.Generator().manual_seed(100 + seed))
    backward_from((ours[0] @ ours[1]).tanh(), upstream)
    ((theirs[0] @ theirs[1]).tanh()).backward(upstream.to(dtype))
    for mine, torchs in zip(ours, theirs):
        assert mine.grad.dtype == torchs.grad.dtype
        assert torch.equal(mine.grad, torchs.grad)


def test_an_upstream_of_another_shape_fails_as_torchs_backward_does():
    x = torch.randn(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape") as ours:
        backward_from(x * 2, torch.ones(4, 3))
    with pytest.raises(RuntimeError, match="Mismatch in shape") as torchs:
        (x * 2).backward(torch.ones(4, 3))
    assert str(ours.value) == str(torchs.value)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        backward_from(x * 2, torch.ones(4))  # would broadcast in a product: refused like torch


def test_a_detached_output_fails_with_torchs_message():
    with pytest.raises(RuntimeError, match="does not require grad"):
        backward_from(torch.randn(3).detach(), torch.ones(3))


def test_no_upstream_is_a_plain_scalar_backward():
    x = torch.randn(4, requires_grad=True)
    backward_from((x ** 2).sum())
    assert torch.equal(x.grad, 2 * x.detach())


def test_never_imports_sympy():
    code = ("import sys, torch; from seqlab.gradients import backward_from; "
            "x = torch.randn(2, 3, requires_grad=True); backward_from(x.tanh(), torch.randn(2, 3)); "
            "import json; print(json.dumps('sympy' in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout) is False


def test_the_zygote_warms_matplotlib_only_where_the_skeleton_imports_it(tmp_path):
    plotting, plain = tmp_path / "vit.ipynb", tmp_path / "mha.ipynb"
    plotting.write_text('{"cells": [{"source": ["import matplotlib.pyplot as plt"]}]}', encoding="utf-8")
    plain.write_text('{"cells": [{"source": ["import torch"]}]}', encoding="utf-8")
    assert modules_to_warm(plotting) == ("matplotlib",)
    assert modules_to_warm(plain) == ()
    assert modules_to_warm(None) == ()
    assert modules_to_warm(tmp_path / "missing.ipynb") == ()
