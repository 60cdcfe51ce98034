"""The diffusion and flow-matching loop, on the shared core (:func:`gankit.train.core.fit`).

Each step noises a minibatch at random times and asks the network what was added:

* ``objective="eps"`` — DDPM (Ho et al., 2020): L = ‖ε − ε_θ(√ᾱ_t x₀ + √(1 − ᾱ_t) ε, t)‖²,
  t uniform on 1 … T of the named noise ``schedule``;
* ``objective="flow"`` — flow matching / rectified flow (Lipman et al., 2023; Liu et al.,
  2023): L = ‖(ε − x₀) − v_θ((1 − t) x₀ + t ε, t)‖², t uniform on [0, 1].

The model computes it: ``model.loss(x0, labels, objective=..., schedule=..., timesteps=...,
p_uncond=..., generator=...)`` returns the batch-mean loss (gankit's denoisers do, in
:mod:`gankit.models.diffusion`); ``train_diffusion`` feeds minibatches. With labels, each
is replaced by "no label" with probability ``p_uncond`` — the one network then learns both
the conditional and the unconditional prediction that classifier-free guidance mixes
(Ho & Salimans, 2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from torch import nn

from gankit.train.core import Callback, History, TrainConfig, check_examples, epoch_batches, fit, prepare_examples
from gankit.utils import check_positive_int, eval_mode

__all__ = ["DiffusionTrainConfig", "evaluate_diffusion", "train_diffusion"]


@dataclass
class DiffusionTrainConfig(TrainConfig):
    """:class:`~gankit.train.core.TrainConfig` with a denoiser's defaults (Adam, a cosine decay
    of the learning rate) and what the objective needs: which target, which noise schedule
    over how many steps (``"eps"`` only), and how often the label is dropped for guidance."""

    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    lr_schedule: Literal["constant", "linear", "cosine"] = "cosine"
    min_lr_ratio: float = 0.0
    objective: Literal["eps", "flow"] = "eps"  # "eps": DDPM's noise; "flow": flow matching's velocity
    schedule: Literal["linear", "cosine"] = "cosine"  # the noise schedule of objective "eps"
    timesteps: int = 1000  # T, the noising steps of objective "eps"
    p_uncond: float = 0.1  # with labels: drop each to "no label" this often (classifier-free guidance)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.objective not in ("eps", "flow"):
            raise ValueError(f"DiffusionTrainConfig.objective must be 'eps' or 'flow', got {self.objective!r}.")
        if self.schedule not in ("linear", "cosine"):
            raise ValueError(f"DiffusionTrainConfig.schedule must be 'linear' or 'cosine', got {self.schedule!r}.")
        check_positive_int(self.timesteps, "DiffusionTrainConfig.timesteps")
        if not 0 <= self.p_uncond < 1:
            raise ValueError(f"DiffusionTrainConfig.p_uncond must be in [0, 1) (0.1: Ho & Salimans' choice), "
                             f"got {self.p_uncond}.")

    def loss_kwargs(self) -> dict[str, Any]:
        """What ``model.loss`` takes besides the batch."""
        return {"objective": self.objective, "schedule": self.schedule, "timesteps": self.timesteps}


@torch.no_grad()
def evaluate_diffusion(model: nn.Module, data: Any, config: DiffusionTrainConfig | None = None,
                       batch_size: int = 1000, device: torch.device | str | None = None, seed: int = 0,
                       repeats: int = 4) -> float:
    """The mean training loss over ``data`` (a tensor, or (examples, labels) — the labels all
    kept), in eval mode, with times and noise drawn from a fixed seed ``repeats`` times per
    example (so the same model always gets the same number)."""
    cfg = config or DiffusionTrainConfig()
    x, y = check_examples(data, "data")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    with eval_mode(model):
        for _ in range(repeats):
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size].to(device)
                yb = y[i:i + batch_size].to(device) if y is not None else None
                total += model.loss(xb, yb, generator=gen, **cfg.loss_kwargs()).item() * len(xb)
    return total / (repeats * len(x))


def train_diffusion(
    model: nn.Module,
    data: Any,
    config: DiffusionTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    val_data: Any = None,
    callback: Callback | None = None,
    images: Callable[[nn.Module], torch.Tensor] | None = None,
) -> History:
    """Train a denoiser on ``data``: a tensor of examples (N, ...) — points (N, 2), images
    (N, C, H, W) scaled to [−1, 1] — or a pair (examples, labels) for a conditional model,
    whose labels are then dropped with probability ``config.p_uncond``.

    Each step: a minibatch (every example once per epoch), its loss ``model.loss(...)`` at
    fresh random times and noise (seeded by ``config.seed``), one Adam step at the scheduled
    learning rate. With ``config.ema`` the model ends with the averaged weights (usually the
    better sampler). With ``val_data`` the loss on it (:func:`evaluate_diffusion`) is
    measured every ``eval_every`` steps and at the end into ``history.val_loss``.

    TensorBoard: with ``config.log_dir`` the run writes ``train/loss``, ``train/lr`` and
    ``val/loss`` (:class:`~gankit.train.core.TrainingLog`). A denoiser has no sampler of its
    own — the samplers live in :mod:`gankit.models.diffusion`, which a loop may not import —
    so the grid of ``samples`` comes from ``images``: a function of the model (the averaged
    copy with ``ema``) returning images (N, C, H, W) in [0, 1], called every
    ``config.image_every`` steps, e.g. for digits in [−1, 1]::

        schedule = make_schedule(cfg.schedule, cfg.timesteps)
        images = lambda m: to_unit_range(sample_ddim(m, 64, schedule, steps=20,
                                                     generator=torch.Generator().manual_seed(0)))

    (``to_unit_range`` from :mod:`gankit.models.dcgan`). Each call costs a sampling run, so
    keep ``steps`` small and ``image_every`` large. Without ``images``: no grid.

    Safety nets as in every loop: a NaN/inf loss raises
    :class:`~gankit.train.core.TrainingDiverged` (the bad update is not applied; the history
    is on the error), and a KeyboardInterrupt returns the history so far with
    ``history.interrupted = True``.
    """
    cfg = config or DiffusionTrainConfig()
    if images is not None and not callable(images):
        raise ValueError(f"images must be a function of the model returning images (N, C, H, W) in [0, 1] for "
                         f"TensorBoard, or None; got {type(images).__name__}.")
    x, y, device, rng = prepare_examples(model, data, val_data, device, cfg.seed)
    noise_rng = torch.Generator().manual_seed(cfg.seed + 1) if cfg.seed is not None else None
    p_uncond = cfg.p_uncond if y is not None else 0.0

    def loss_fn(idx: torch.Tensor):
        # noise x₀ at random times; the loss: how far the prediction is from the noise (or velocity)
        labels = y[idx] if y is not None else None
        return model.loss(x[idx], labels, p_uncond=p_uncond, generator=noise_rng, **cfg.loss_kwargs()), {}

    evaluate = (lambda m: evaluate_diffusion(m, val_data, cfg, device=device)) if val_data is not None else None
    return fit(model, cfg, batch_indices=epoch_batches(len(x), cfg.batch_size, rng), loss_fn=loss_fn,
               evaluate=evaluate, device=device, desc=f"diffusion ({cfg.objective})",
               causes=f"a learning rate that is too high (lr={cfg.lr}), data far from the noise's scale "
                      f"(scale images to [-1, 1]), or NaNs in the data", callback=callback,
               images=images)
