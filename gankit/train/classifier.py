"""The classifier loop, on the shared core (:func:`gankit.train.core.fit`): what trains the
digit judge (``scripts/train_judge.py``), and any small classifier a lesson needs.

The loss is the cross-entropy −log p(y | x) of the true class, in nats, averaged over the
batch; validation reports the error rate (lower is better, so that ``keep_best`` and
``patience`` work as in every loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from gankit.train.core import (
    Callback,
    History,
    TrainConfig,
    check_examples,
    epoch_batches,
    fit,
    prepare_examples,
)
from gankit.utils import eval_mode

__all__ = ["ClassifierTrainConfig", "accuracy", "train_classifier"]


@dataclass
class ClassifierTrainConfig(TrainConfig):
    """:class:`~gankit.train.core.TrainConfig` with a small classifier's defaults: AdamW with a
    little weight decay, a short warm-up and a cosine decay."""

    steps: int = 1900
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    lr_schedule: Literal["constant", "linear", "cosine"] = "cosine"
    warmup_steps: int = 200
    min_lr_ratio: float = 0.0


@torch.no_grad()
def accuracy(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int = 500,
             device: torch.device | str | None = None) -> float:
    """Share of ``data = (examples, labels)`` whose most probable class is the label, in eval mode."""
    x, y = check_examples(data, "data")
    if y is None:
        raise ValueError("accuracy needs data = (examples, labels).")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    correct = 0
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            predicted = model(x[i:i + batch_size].to(device)).argmax(dim=1).cpu()
            correct += int((predicted == y[i:i + batch_size]).sum())
    return correct / len(x)


def train_classifier(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    config: ClassifierTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    callback: Callback | None = None,
    augment: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor] | None = None,
) -> History:
    """Train ``model`` (examples → class logits) on ``data = (examples, labels)``.

    Each step takes a minibatch (every example once per epoch), passes it through
    ``augment(x, generator)`` when given (random distortions, drawn from the loop's seeded
    generator), and takes one AdamW step on the cross-entropy. With ``val_data`` the error
    rate 1 − :func:`accuracy` is measured every ``config.eval_every`` steps and at the end,
    into ``history.val_loss``.

    TensorBoard: with ``config.log_dir`` the run writes ``train/loss``, ``train/lr`` and
    ``val/error`` (:class:`~gankit.train.core.TrainingLog`); no images — a classifier draws
    nothing.
    """
    cfg = config or ClassifierTrainConfig()
    x, y, device, rng = prepare_examples(model, data, val_data, device, cfg.seed)
    if y is None:
        raise ValueError("train_classifier needs data = (examples, labels).")

    def loss_fn(idx: torch.Tensor):
        inputs = augment(x[idx], rng) if augment is not None else x[idx]
        return F.cross_entropy(model(inputs), y[idx]), {}

    evaluate = (lambda m: 1.0 - accuracy(m, val_data, device=device)) if val_data is not None else None
    return fit(model, cfg, batch_indices=epoch_batches(len(x), cfg.batch_size, rng), loss_fn=loss_fn,
               evaluate=evaluate, device=device, desc="classifier",
               causes="a learning rate that is too high, or NaNs in the examples", callback=callback,
               val_name="error")
