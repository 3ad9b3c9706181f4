"""Dropout with cheaper random masks on CPU: a training-speed swap, not a different model.

torch's CPU dropout draws one Bernoulli sample per element from its Mersenne Twister, and on
small models that is a large share of a training step (profiled: 30% of the scratch
Transformer's step, 11% of MiniLM's). Here each 64-bit draw of the same generator gives four
16-bit uniforms, compared with p in one vectorised pass: the same distribution (p rounded to
1/65536), the same seeding (`torch.manual_seed`, so runs stay reproducible), about 3x less
time per mask. On GPUs torch's fused dropout is used as is.

`use_fast_dropout(model)` swaps every `nn.Dropout` of a model in place (ours, or a Hugging Face
model's hidden dropouts); the readable model in transformer.py keeps plain `nn.Dropout`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 1 << 16


def keep_mask(shape: torch.Size, p: float, device: torch.device | None = None) -> Tensor:
    """Boolean mask, True with probability 1 - p, from the default torch generator."""
    n = math.prod(shape)
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    threshold = -(_LEVELS // 2) + round(p * _LEVELS)  # int16 values spread over [-32768, 32767]
    return (draws.view(torch.int16)[:n] >= threshold).view(shape)


class FastDropout(nn.Dropout):
    """`nn.Dropout` (same `p`, same train/eval behaviour) with masks from `keep_mask` on CPU."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.p >= 1.0:
            return F.dropout(x, self.p, self.training, self.inplace)
        keep = keep_mask(x.shape, self.p, x.device)
        return torch.where(keep, x * (1.0 / (1.0 - self.p)), 0.0)


def use_fast_dropout(model: nn.Module) -> int:
    """Replace each `nn.Dropout` submodule by a `FastDropout` of the same p; returns how many."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
                swapped += 1
    return swapped
