"""The language-model loop, on the shared core (:func:`gankit.train.core.fit`).

An autoregressive model factorises p(x₁…xₙ) = Π p(xᵢ | x₍<ᵢ₎); its loss is the mean
negative log-likelihood −log p(xᵢ | x₍<ᵢ₎) of every target token, in nats (a cross-entropy).
The model computes it: ``model(inputs, targets) -> (logits, loss)``, with targets of
:data:`~gankit.text.IGNORE_INDEX` skipped (padding). ``train_lm`` only feeds batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from gankit.text import IGNORE_INDEX
from gankit.train.core import Callback, History, TrainConfig, fit, place
from gankit.utils import eval_mode

__all__ = ["LMTrainConfig", "evaluate_lm", "train_lm"]


@dataclass
class LMTrainConfig(TrainConfig):
    """:class:`~gankit.train.core.TrainConfig` with a language model's defaults: AdamW with
    weight decay, a warm-up and a cosine decay, clipping, validation every 200 steps."""

    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.01
    lr_schedule: Literal["constant", "linear", "cosine"] = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int = 200


def _check_pairs(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    ok = isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)
    if not ok or data[0].shape != data[1].shape or data[0].ndim != 2 or len(data[0]) == 0:
        got = tuple(tuple(t.shape) for t in data) if ok else type(data).__name__
        raise ValueError(
            f"{name} must be a pair (inputs, targets) of long tensors of the same shape (N, T), "
            f"e.g. from gankit.text.lm_examples; got {got}."
        )
    return data[0].long(), data[1].long()


@torch.no_grad()
def evaluate_lm(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int = 512,
    device: torch.device | str | None = None,
) -> float:
    """Mean −log p(target | context) in nats over every target token of ``data`` (targets of
    IGNORE_INDEX skipped), in eval mode. Each token counts once, however the batches fall."""
    x, y = _check_pairs(data, "data")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    total, count = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            n = int((yb != IGNORE_INDEX).sum())
            if n:
                _, loss = model(xb, yb)  # mean over this batch's n targets
                total += loss.item() * n
                count += n
    if count == 0:
        raise ValueError(f"data has no targets to score (every target is {IGNORE_INDEX}).")
    return total / count


def train_lm(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    config: LMTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    callback: Callback | None = None,
) -> History:
    """Train a language model on ``data = (inputs, targets)``, both (N, T) token ids.

    ``model(inputs, targets)`` must return ``(logits, loss)`` (as gankit's GPT does). Each
    step draws a random batch (with replacement), takes one AdamW step at the scheduled
    learning rate and records the loss (nats per token); with ``val_data`` the validation
    loss is measured every ``config.eval_every`` steps and at the end (:func:`evaluate_lm`),
    into ``history.val_loss``. ``keep_best``, ``patience`` and ``ema`` work as in every loop
    (:func:`gankit.train.core.fit`).

    TensorBoard: with ``config.log_dir`` the run writes ``train/loss``, ``train/lr`` and
    ``val/loss`` (:class:`~gankit.train.core.TrainingLog`); no images — a language model
    draws text, which the loop cannot sample without knowing the model's vocabulary (look at
    samples from a ``callback`` instead).

    Safety nets: a NaN/inf loss raises :class:`~gankit.train.core.TrainingDiverged` (the bad
    update is not applied; the history is on the error), and a KeyboardInterrupt returns the
    history so far with ``history.interrupted = True``.
    """
    cfg = config or LMTrainConfig()
    x, y = _check_pairs(data, "data")
    if val_data is not None:
        _check_pairs(val_data, "val_data")
    device = place(model, device)
    x, y = x.to(device), y.to(device)
    rng = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None

    def random_batches():
        while True:
            yield torch.randint(len(x), (cfg.batch_size,), generator=rng)

    def loss_fn(idx: torch.Tensor):
        # the loss: mean −log p(next token | tokens so far), all positions at once
        _, loss = model(x[idx], y[idx])
        return loss, {}

    evaluate = (lambda m: evaluate_lm(m, val_data, device=device)) if val_data is not None else None
    return fit(model, cfg, batch_indices=random_batches(), loss_fn=loss_fn, evaluate=evaluate, device=device,
               desc="language model", causes=f"a learning rate that is too high (lr={cfg.lr}), or NaNs in the "
                                             f"model's inputs", callback=callback)
