"""The VAE loop, on the shared core (:func:`gankit.train.core.fit`).

A VAE maximises the evidence lower bound of every training image,

    ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z))   (nats per image),

so its loss is the batch mean of −ELBO (or of −(log p(x|z) − β·KL)). The model computes it:
``model.loss(x) -> (loss, stats)`` (``model.loss(x, y)`` for a conditional model), with
stats holding "recon", "kl" and "nelbo"; ``train_vae`` feeds minibatches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from torch import nn

from gankit.train.core import (
    Callback,
    History,
    TrainConfig,
    check_examples,
    display_range,
    epoch_batches,
    fit,
    prepare_examples,
    scale_to_unit,
)
from gankit.utils import eval_mode

__all__ = ["VAETrainConfig", "evaluate_vae", "train_vae"]


@dataclass
class VAETrainConfig(TrainConfig):
    """:class:`~gankit.train.core.TrainConfig` with a VAE's defaults: Adam, a cosine decay, and
    with ``val_data`` the weights of the best validation −ELBO kept (early stopping)."""

    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: Literal["constant", "linear", "cosine"] = "cosine"
    min_lr_ratio: float = 0.05
    keep_best: bool = True


@torch.no_grad()
def evaluate_vae(
    model: nn.Module, data: Any, batch_size: int = 500, device: torch.device | str | None = None, seed: int = 0,
) -> dict[str, float]:
    """Mean −ELBO, −log p(x|z) ("recon") and KL over every image of ``data`` (a tensor, or
    (images, labels) for a conditional model), nats per image, in eval mode, with one code
    z per image drawn from a fixed seed (so the same model always gets the same number;
    the global random state is left as it was)."""
    x, y = check_examples(data, "data")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    totals = {"nelbo": 0.0, "recon": 0.0, "kl": 0.0}
    with eval_mode(model), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            args = (xb,) if y is None else (xb, y[i:i + batch_size].to(device))
            _, stats = model.loss(*args)
            for key in totals:
                totals[key] += stats[key] * len(xb)
    return {key: value / len(x) for key, value in totals.items()}


def train_vae(
    model: nn.Module,
    data: Any,
    config: VAETrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    val_data: Any = None,
    callback: Callback | None = None,
    augment: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor] | None = None,
) -> History:
    """Train a VAE on ``data``: a tensor of images (N, C, H, W), or a pair (images, labels)
    for a conditional VAE, whose loss is then ``model.loss(x, y)``.

    ``model.loss(x) -> (loss, stats)`` must return the batch-mean loss and a dict with
    "recon", "kl" and "nelbo" (as gankit's VAE does). Each step takes a minibatch (every
    image once per epoch), one Adam step at the scheduled learning rate, and records loss,
    recon and KL (``history.recon``, ``history.kl``).

    With ``val_data`` (same form as ``data``) the validation −ELBO is measured every
    ``config.eval_every`` steps and at the end (:func:`evaluate_vae`) into
    ``history.val_nelbo``; ``keep_best`` restores the weights of the best evaluation at the
    end, and ``patience`` stops training after that many evaluations without improvement —
    early stopping. With ``ema`` the averaged weights are the ones validated and kept.

    ``augment`` (data augmentation): a function ``augment(images, generator) -> images`` applied
    to every minibatch of training images before the loss, e.g.
    ``lambda x, g: gankit.data.random_shift(x, 2, g)``; it gets the loop's seeded generator, so
    a seeded run stays reproducible. Validation images are never augmented.

    TensorBoard: with ``config.log_dir`` the run writes ``train/loss``, ``train/recon``,
    ``train/kl``, ``train/lr`` and ``val/nelbo`` (:class:`~gankit.train.core.TrainingLog`),
    and, for a model with a ``sample(n, generator=...)`` method (gankit's VAE and conditional
    VAE), a grid of 64 samples from the prior as ``samples`` every ``config.image_every``
    steps — the same 64 codes every time (a generator seeded with 0), from the weights that
    validation measures; a conditional VAE draws its labels 0, 1, 2, … cycling.

    Safety nets as in every loop: a NaN/inf loss raises
    :class:`~gankit.train.core.TrainingDiverged` (the bad update is not applied; the history
    is on the error), and a KeyboardInterrupt returns the history so far with
    ``history.interrupted = True``.
    """
    cfg = config or VAETrainConfig()
    x, y, device, rng = prepare_examples(model, data, val_data, device, cfg.seed)

    def loss_fn(idx: torch.Tensor):
        # the batch mean of −log p(x|z) + β·KL(q(z|x) ‖ p(z)), z reparameterised
        xb = x[idx] if augment is None else augment(x[idx], rng)
        loss, stats = model.loss(*((xb,) if y is None else (xb, y[idx])))
        return loss, {"recon": stats["recon"], "kl": stats["kl"]}

    evaluate = (lambda m: evaluate_vae(m, val_data, device=device)["nelbo"]) if val_data is not None else None
    images = None
    if cfg.log_dir is not None and x.ndim == 4 and callable(getattr(model, "sample", None)):
        lo, hi = display_range(x)

        def images(m: nn.Module) -> torch.Tensor:  # the TensorBoard grid: 64 fixed codes from the prior, decoded
            return scale_to_unit(m.sample(64, generator=torch.Generator().manual_seed(0)).float().cpu(), lo, hi)

    return fit(model, cfg, batch_indices=epoch_batches(len(x), cfg.batch_size, rng), loss_fn=loss_fn,
               evaluate=evaluate, device=device, desc="VAE",
               causes="a learning rate that is too high, a decoder that outputs probabilities where logits are "
                      "expected (log of 0), or NaNs in the images", callback=callback, images=images,
               val_name="nelbo")
