"""Exercise checks of lesson 08 (attention and the Transformer block)."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.checks.core import CheckFailed, run_student

__all__ = ["check_causal_attention"]


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(q, k, v)`` = softmax(q kᵀ / √d + causal mask) v, for q, k (..., T, d) and v
    (..., T, d_v); ``fn`` may return the output alone or (output, weights)."""
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 6, 16, generator=gen), torch.randn(2, 3, 6, 16, generator=gen)
    v = torch.randn(2, 3, 6, 5, generator=gen)  # d_v ≠ d, so a mix-up of v and k shows
    out = run_student(fn, "causal_attention", q, k, v)
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"causal_attention should return a tensor (the attended values), got {type(out).__name__}.")
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if out.shape != expected.shape:
        raise CheckFailed(
            f"causal_attention returned shape {tuple(out.shape)}; expected {tuple(expected.shape)} = (..., T, d_v): "
            f"the weights (..., T, T) multiply v, i.e. weights @ v."
        )
    if torch.allclose(out, expected, atol=1e-5):
        print("✓ Causal attention correct: it matches torch.nn.functional.scaled_dot_product_attention(is_causal=True).")
        return

    T, d = q.shape[-2], q.shape[-1]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = q @ k.transpose(-2, -1)

    def attend(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
        return s.softmax(dim) @ v

    candidates = {
        "The future is not masked: position i must not see positions j > i. Set those scores to -inf "
        "before the softmax (scores.masked_fill(mask, float('-inf'))).":
            attend(scores / math.sqrt(d)),
        "The mask points the wrong way: each position sees the future and not the past. Keep j ≤ i "
        "(the lower triangle, torch.tril), hide j > i.":
            attend((scores / math.sqrt(d)).masked_fill(future.T, float("-inf"))),
        "The masked scores were set to 0, not -inf: exp(0) = 1, so the future still gets weight. Use float('-inf').":
            attend((scores / math.sqrt(d)).masked_fill(future, 0.0)),
        "The scores are not scaled: divide q kᵀ by √d (d = q.shape[-1]) before the softmax.":
            attend(scores.masked_fill(future, float("-inf"))),
        "The scores are divided by d, not √d.":
            attend((scores / d).masked_fill(future, float("-inf"))),
        "The softmax runs over the wrong dimension: each query's weights (a row, dim=-1) must sum to 1.":
            attend((scores / math.sqrt(d)).masked_fill(future, float("-inf")), dim=-2).nan_to_num(),
        "The mask was applied after the softmax: mask the scores first, so the remaining weights still sum to 1.":
            ((scores / math.sqrt(d)).softmax(-1).masked_fill(future, 0.0)) @ v,
    }
    for hint, value in candidates.items():
        if value.shape == out.shape and torch.allclose(out, value, atol=1e-5):
            raise CheckFailed(f"Causal attention: {hint}")
    raise CheckFailed(
        "Causal attention: the output differs from softmax(q kᵀ / √d, future masked) v. Go step by step: "
        "scores = q @ k.transpose(-2, -1) / √d, shape (..., T, T); scores of j > i set to -inf; "
        "softmax over the last dimension; then @ v."
    )
