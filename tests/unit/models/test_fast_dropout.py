"""FastDropout: the same distribution, scaling, gradient and train/eval behaviour as nn.Dropout,
reproducible from torch's seed; the swap covers every nn.Dropout of a model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transformer_mlops.models.fast_dropout import FastDropout, keep_mask, use_fast_dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_rate_and_independence(p):
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400_000]), p).float()
    assert mask.mean().item() == pytest.approx(1 - p, abs=3e-3)
    # consecutive 16-bit lanes of one 64-bit draw are not correlated
    lanes = mask.view(-1, 4)
    corr = torch.corrcoef(lanes.T)
    assert (corr - torch.eye(4)).abs().max().item() < 0.01


def test_scaling_gradient_and_eval_mode():
    torch.manual_seed(1)
    x = torch.randn(64, 96, requires_grad=True)
    dropout = FastDropout(0.2).train()
    y = dropout(x)
    kept = y != 0
    assert 0.75 < kept.float().mean().item() < 0.85
    assert torch.allclose(y[kept], x[kept] / 0.8)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.8)
    assert torch.equal(dropout.eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)


def test_same_seed_same_mask():
    torch.manual_seed(7)
    a = keep_mask(torch.Size([3, 5, 7]), 0.3)
    torch.manual_seed(7)
    b = keep_mask(torch.Size([3, 5, 7]), 0.3)
    assert a.shape == (3, 5, 7) and torch.equal(a, b)


def test_swap_replaces_every_dropout_and_keeps_p():
    model = nn.Sequential(
        nn.Linear(4, 4), nn.Dropout(0.1), nn.Sequential(nn.Dropout(0.3, inplace=True))
    )
    assert use_fast_dropout(model) == 2
    assert [type(m) for m in model.modules() if isinstance(m, nn.Dropout)] == [FastDropout] * 2
    assert model[1].p == 0.1 and model[2][0].p == 0.3 and model[2][0].inplace
    assert use_fast_dropout(model) == 0  # already swapped
