"""Pieces shared by more than one model family (private: import them from the family that
uses them). A generator's noise (GANs and VAEs both draw z ~ N(0, I)) and a conditional
model's labels (conditional GAN and conditional VAE both check them and append them to an
input as a one-hot vector)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["NoiseSampler", "check_images", "check_labels", "one_hot_concat", "exporting"]


def exporting() -> bool:
    """True while ``torch.export`` (and so ``torch.onnx.export(..., dynamo=True)``) traces a model.

    The exporter runs ``forward`` on symbolic tensors that have a shape but no values, so a
    check that looks at the values (``labels.max() >= n_classes``) cannot be decided and stops
    the export. Such checks are skipped while exporting and kept in every eager call; the
    exported graph then trusts its inputs, which is why a service validates requests before
    they reach it (lesson 13). Checks of shapes and dtypes still run: they trace."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)  # torch ≥ 2.4; older torch cannot export this way
    return bool(is_exporting and is_exporting())


class NoiseSampler:
    """What every gankit generator shares: drawing its input noise z ~ N(0, I).
    Mixed into a generator whose ``config`` has a ``latent_dim``."""

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), shape (n, latent_dim), on ``device`` (default: where the model is)."""
        if device is None:
            device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        return z.to(device)


def check_labels(labels: torch.Tensor, n: int, n_classes: int, who: str) -> torch.Tensor:
    """``labels`` as a (n,) tensor of class indices in 0 … n_classes − 1, or a ValueError
    that says what was wrong."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{who} expects labels as a tensor of class indices, got {type(labels).__name__}; "
                         f"use torch.tensor([...]).")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"{who} expects integer class indices (0 … {n_classes - 1}), got a {labels.dtype} tensor; "
                         f"pass labels.long().")
    if labels.shape != (n,):
        raise ValueError(f"{who} expects one label per example, shape ({n},), got {tuple(labels.shape)}.")
    if not exporting() and n and (labels.min() < 0 or labels.max() >= n_classes):  # values: not while exporting
        raise ValueError(f"{who} has n_classes={n_classes}, so labels must lie in 0 … {n_classes - 1}; got labels "
                         f"from {int(labels.min())} to {int(labels.max())}.")
    return labels


def one_hot_concat(z: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """[z; one_hot(y)]: noise (B, latent_dim) and labels (B,) → (B, latent_dim + n_classes)."""
    e_y = F.one_hot(labels, n_classes).to(z.dtype)  # (B, n_classes): a 1 at position y
    return torch.cat([z, e_y], dim=1)  # (B, latent_dim + n_classes)


def check_images(x: torch.Tensor, config: object, who: str) -> None:
    """A ValueError unless ``x`` is a batch of images (B, channels, image_size, image_size) as
    ``config`` says; the message names ``who`` and how to fix the mismatch."""
    c = config
    expected = (c.channels, c.image_size, c.image_size)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{who} expects images of shape (batch, {', '.join(map(str, expected))}), got {got}. Build it for "
            f"your images with {type(c).__name__}(image_size=..., channels=...), or reshape them "
            f"(e.g. x.view(-1, {', '.join(map(str, expected))}))."
        )
