"""Training loops, written out step by step, each returning a :class:`History`.

* :mod:`~gankit.train.core` — what every loop shares: the config's common fields
  (:class:`TrainConfig`), learning-rate schedules, the optimiser step, the one EMA
  (:class:`WeightAverage`), the progress bar, timing, interrupts and divergence, and
  :func:`~gankit.train.core.fit`, the loop of one model minimising one loss;
* :mod:`~gankit.train.gan` — GAN losses, objectives (:class:`StandardGAN`, :class:`WGANGP`)
  and :func:`train_gan`;
* :mod:`~gankit.train.lm` — :func:`train_lm` and :func:`evaluate_lm`;
* :mod:`~gankit.train.vae` — :func:`train_vae` and :func:`evaluate_vae`;
* :mod:`~gankit.train.classifier` — :func:`train_classifier` (the digit judge);
* :mod:`~gankit.train.diffusion` — :func:`train_diffusion` and :func:`evaluate_diffusion`.

Every loop has one signature::

    train_X(model(s), data, config=None, *, device=None, val_data=None, callback=None) -> History

The loops know no model family by name, draw nothing and measure nothing: they return a
history and call your callback. Given ``config.log_dir``, every loop also writes what the
history records (and, for the image models, a grid of samples) to a TensorBoard log
(:class:`~gankit.train.core.TrainingLog`); watch it with ``tensorboard --logdir runs``.
"""

from gankit.train.classifier import ClassifierTrainConfig, accuracy, train_classifier
from gankit.train.core import (
    History,
    TrainConfig,
    TrainingDiverged,
    WeightAverage,
    refresh_batch_norm,
    scheduled_lr,
)
from gankit.train.diffusion import DiffusionTrainConfig, evaluate_diffusion, train_diffusion
from gankit.train.gan import (
    GENERATOR_LOSSES,
    WGANGP,
    GANObjective,
    GANTrainConfig,
    StandardGAN,
    discriminator_loss,
    generator_loss_nonsaturating,
    generator_loss_saturating,
    gradient_penalty,
    interpolate,
    train_gan,
)
from gankit.train.lm import LMTrainConfig, evaluate_lm, train_lm
from gankit.train.vae import VAETrainConfig, evaluate_vae, train_vae

__all__ = [
    "TrainConfig",
    "History",
    "TrainingDiverged",
    "scheduled_lr",
    "WeightAverage",
    "refresh_batch_norm",
    "discriminator_loss",
    "generator_loss_saturating",
    "generator_loss_nonsaturating",
    "GENERATOR_LOSSES",
    "GANObjective",
    "StandardGAN",
    "WGANGP",
    "gradient_penalty",
    "interpolate",
    "GANTrainConfig",
    "train_gan",
    "LMTrainConfig",
    "evaluate_lm",
    "train_lm",
    "VAETrainConfig",
    "evaluate_vae",
    "train_vae",
    "ClassifierTrainConfig",
    "accuracy",
    "train_classifier",
    "DiffusionTrainConfig",
    "evaluate_diffusion",
    "train_diffusion",
]
