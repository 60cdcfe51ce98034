"""Multilayer-perceptron GAN for low-dimensional data (lesson 01).

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.

The generator G maps noise z ~ N(0, I) to a point x; the discriminator D maps a point to
one *logit*: D(x) = sigmoid(logit). Keeping D's output as a logit (no sigmoid inside the
model) lets the losses use the numerically stable log-sigmoid form, the same thing
``BCEWithLogitsLoss`` does. The hidden layers use LeakyReLU: a sigmoid or tanh in a hidden
layer saturates and its gradient vanishes, one of the classic GAN mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["NoiseSampler", "MLPGeneratorConfig", "MLPGenerator", "MLPDiscriminatorConfig", "MLPDiscriminator"]


class NoiseSampler:
    """What every gankit generator shares: drawing its input noise z ~ N(0, I).
    Mixed into a generator whose ``config`` has a ``latent_dim``."""

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), shape (n, latent_dim), on ``device`` (default: where the model is)."""
        if device is None:
            device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        return z.to(device)


def _mlp(in_dim: int, hidden_dim: int, n_hidden: int, out_dim: int, slope: float) -> nn.Sequential:
    """in → [Linear → LeakyReLU] × n_hidden → Linear → out."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden_dim), nn.LeakyReLU(slope)]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(config).__name__}.{name} must be a positive int, got {value!r}.")


@dataclass
class MLPGeneratorConfig:
    latent_dim: int = 2  # size of the noise vector z
    data_dim: int = 2  # size of a generated point x
    hidden_dim: int = 128
    n_hidden: int = 3  # number of hidden layers
    leaky_slope: float = 0.2


class MLPGenerator(NoiseSampler, nn.Module):
    """G(z): noise (B, latent_dim) → points (B, data_dim). The last layer is linear, so
    G can put points anywhere in the plane."""

    config_class = MLPGeneratorConfig

    def __init__(self, config: MLPGeneratorConfig | None = None):
        super().__init__()
        self.config = config = config or MLPGeneratorConfig()
        _check_positive(config, "latent_dim", "data_dim", "hidden_dim", "n_hidden")
        self.net = _mlp(config.latent_dim, config.hidden_dim, config.n_hidden, config.data_dim, config.leaky_slope)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"MLPGenerator expects noise of shape (batch, {self.config.latent_dim}), got {tuple(z.shape)}."
            )
        return self.net(z)  # (B, data_dim)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n generated points (on the CPU), drawn with the model in eval mode."""
        was_training = self.training
        self.eval()
        x = self(self.sample_noise(n, generator=generator)).cpu()
        self.train(was_training)
        return x


@dataclass
class MLPDiscriminatorConfig:
    data_dim: int = 2
    hidden_dim: int = 128
    n_hidden: int = 3
    leaky_slope: float = 0.2


class MLPDiscriminator(nn.Module):
    """D(x): points (B, data_dim) → one logit per point, shape (B,).
    The probability "x is real" is ``torch.sigmoid(D(x))``."""

    config_class = MLPDiscriminatorConfig

    def __init__(self, config: MLPDiscriminatorConfig | None = None):
        super().__init__()
        self.config = config = config or MLPDiscriminatorConfig()
        _check_positive(config, "data_dim", "hidden_dim", "n_hidden")
        self.net = _mlp(config.data_dim, config.hidden_dim, config.n_hidden, 1, config.leaky_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(
                f"MLPDiscriminator expects points of shape (batch, {self.config.data_dim}), got {tuple(x.shape)}."
            )
        return self.net(x).squeeze(1)  # (B, 1) → (B,)

    @torch.no_grad()
    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """D's belief that each point is real, sigmoid(logit), in eval mode, on the CPU."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        p = torch.sigmoid(self(x.to(device))).cpu()
        self.train(was_training)
        return p
