"""The digit judge's network: a small convolutional classifier of 28×28 digits.

The judge is what the kit measures image models with (:mod:`gankit.metrics.judge`: the
confident share, class coverage, Fréchet distance and label agreement). This file holds
only the network, built from its config like every other model, so that
:func:`gankit.models.load_checkpoint` can rebuild the bundled ``data/judge.pt``
(``scripts/train_judge.py`` trains it; its held-out accuracy is in data/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit.utils import check_positive_int, eval_mode

__all__ = ["DigitJudgeConfig", "DigitJudge", "check_digit_images"]


# --------------------------------------------------------------------------- the classifier


@dataclass
class DigitJudgeConfig:
    width: int = 16  # feature maps of the first conv; then 2× and 4× that
    feature_dim: int = 64  # size of the penultimate layer: the feature space of the Fréchet distance
    n_classes: int = 10
    dropout: float = 0.3


class DigitJudge(nn.Module):
    """A small CNN: images (B, 1, 28, 28) in [0, 1] → class logits (B, 10).

    Three [conv 3×3 → ReLU → max-pool 2×2] blocks (28 → 14 → 7 → 3), a hidden layer of
    ``feature_dim`` units (:meth:`features`), and a linear classifier.
    """

    config_class = DigitJudgeConfig

    def __init__(self, config: DigitJudgeConfig | None = None):
        super().__init__()
        self.config = c = config or DigitJudgeConfig()
        for name in ("width", "feature_dim", "n_classes"):
            check_positive_int(getattr(c, name), f"DigitJudgeConfig.{name}")
        w = c.width
        self.convs = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 4w, 3, 3)
            nn.Flatten(),  # (B, 4w·9)
        )
        self.hidden = nn.Sequential(nn.Linear(4 * w * 9, c.feature_dim), nn.ReLU())  # (B, feature_dim)
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.feature_dim, c.n_classes))  # (B, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer, (B, feature_dim): what the Fréchet distance compares."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"DigitJudge expects images of shape (batch, 1, 28, 28), got {tuple(x.shape)}.")
        return self.hidden(self.convs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, 10) logits

    @torch.no_grad()
    def _run(self, images: torch.Tensor, what: str, batch_size: int = 500) -> torch.Tensor:
        images = check_digit_images(images)
        with eval_mode(self):
            device = next(self.parameters()).device
            fn = self.features if what == "features" else self
            out = torch.cat([fn(images[i: i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])
        return out

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, 10), in eval mode, on the CPU."""
        return self._run(images, "logits").softmax(dim=1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (N, feature_dim), in eval mode, on the CPU."""
        return self._run(images, "features")


def check_digit_images(images: torch.Tensor) -> torch.Tensor:
    """``images`` as a float CPU tensor (N, 1, 28, 28) in [0, 1], or a ValueError that says what is wrong."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"The judge needs images of shape (N, 1, 28, 28), got {shape}.")
    if len(images) == 0:
        raise ValueError("The judge got no images; draw some samples first.")
    images = images.detach().float().cpu()
    if not torch.isfinite(images).all():
        raise ValueError("The images contain NaN or inf values (did training diverge?).")
    lo, hi = float(images.min()), float(images.max())
    if lo < -0.01 or hi > 1.01:
        raise ValueError(
            f"The judge expects pixel values in [0, 1], got values from {lo:.2f} to {hi:.2f}. "
            f"A tanh generator makes images in [-1, 1]: pass gankit.models.dcgan.to_unit_range(images)."
        )
    return images
