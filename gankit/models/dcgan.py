"""Deep convolutional GAN for 28×28 images (lesson 02).

A. Radford, L. Metz, S. Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", 2015 (ICLR 2016).

The paper's architecture guidelines, and where each one is below:

* no pooling: the discriminator downsamples with **strided convolutions**, the generator
  upsamples with **transposed (fractionally-strided) convolutions**;
* **batch norm** in both networks, except the generator's output layer and the
  discriminator's input layer;
* no fully connected hidden layers: the generator's first layer is one linear projection
  of z reshaped into a small stack of feature maps, the discriminator's last layer
  flattens its feature maps into one logit;
* **ReLU** in the generator with **tanh** at its output; **LeakyReLU** (slope 0.2) in the
  discriminator.

Simplifications for 28×28 digits on a CPU: two up- and two down-sampling stages
(7 → 14 → 28) instead of four (4 → 64), and narrower layers (``width`` = 24 feature maps
instead of 128). Images are in [-1, 1] (the range of tanh); map the bundled digits,
which are in [0, 1], with :func:`to_tanh_range` and back with :func:`to_unit_range`.

As in lesson 01, the discriminator returns a *logit*, one per image, shape (B,), and the
generator answers ``sample_noise``, ``forward`` and ``sample`` like
:class:`gankit.models.MLPGenerator`, so :func:`gankit.train.train_gan` trains it unchanged.

For longer runs, :func:`gankit.train.train_gan` keeps an exponential moving average of the
generator's weights (``GANTrainConfig.ema``; what the bundled ``dcgan_digits`` checkpoint
saves) and re-measures its batch-norm statistics (:func:`gankit.train.refresh_batch_norm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit.models._parts import NoiseSampler, check_images
from gankit.utils import check_positive_int, eval_mode

__all__ = [
    "DCGANGeneratorConfig",
    "DCGANGenerator",
    "DCGANDiscriminatorConfig",
    "DCGANDiscriminator",
    "to_tanh_range",
    "to_unit_range",
    "init_dcgan_weights",
]


def to_tanh_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] → [-1, 1], the range of the generator's tanh output."""
    return images * 2 - 1


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (a generator's output) → [0, 1], for plotting and the judge."""
    return ((images + 1) / 2).clamp(0, 1)


def init_dcgan_weights(module: nn.Module) -> None:
    """The paper's initialisation: conv weights ~ N(0, 0.02²); batch-norm scale ~ N(1, 0.02²),
    shift 0. Apply with ``model.apply(init_dcgan_weights)`` (both models do it themselves)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _check_config(config: object) -> None:
    for name in ("latent_dim", "width", "image_size", "channels"):
        if hasattr(config, name):
            check_positive_int(getattr(config, name), f"{type(config).__name__}.{name}")
    if config.image_size % 4:
        raise ValueError(
            f"{type(config).__name__}.image_size must be divisible by 4 (two stride-2 stages: "
            f"28 → 14 → 7), got {config.image_size}."
        )


# --------------------------------------------------------------------------- generator


@dataclass
class DCGANGeneratorConfig:
    latent_dim: int = 64  # size of the noise vector z
    width: int = 24  # feature maps of the last hidden layer; the first has 2 × width
    image_size: int = 28  # height = width of the generated image (divisible by 4)
    channels: int = 1  # 1 for grey-level digits


class DCGANGenerator(NoiseSampler, nn.Module):
    """G(z): noise (B, latent_dim) → images (B, channels, 28, 28) in [-1, 1].

    project z → (2w, 7, 7) → transposed conv → (w, 14, 14) → transposed conv → (1, 28, 28).
    """

    config_class = DCGANGeneratorConfig

    def __init__(self, config: DCGANGeneratorConfig | None = None):
        super().__init__()
        self.config = c = config or DCGANGeneratorConfig()
        _check_config(c)
        s = c.image_size // 4  # 7 for 28×28
        self.start_shape = (2 * c.width, s, s)
        # "project and reshape": one linear layer, then feature maps (no pooling, no FC hidden layers)
        self.project = nn.Sequential(
            nn.Linear(c.latent_dim, 2 * c.width * s * s, bias=False),  # (B, 2w·7·7)
            nn.Unflatten(1, self.start_shape),  # (B, 2w, 7, 7)
            nn.BatchNorm2d(2 * c.width),
            nn.ReLU(),
        )
        # a transposed conv with kernel 4, stride 2, padding 1 doubles height and width
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * c.width, c.width, 4, stride=2, padding=1, bias=False),  # (B, w, 14, 14)
            nn.BatchNorm2d(c.width),
            nn.ReLU(),
            nn.ConvTranspose2d(c.width, c.channels, 4, stride=2, padding=1),  # (B, 1, 28, 28)
            nn.Tanh(),  # no batch norm on the output layer; tanh bounds pixels to [-1, 1]
        )
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"DCGANGenerator expects noise of shape (batch, {self.config.latent_dim}), got {tuple(z.shape)}. "
                f"Draw it with G.sample_noise(batch)."
            )
        return self.upsample(self.project(z))  # (B, 1, 28, 28)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n generated images in [-1, 1], shape (n, 1, 28, 28), on the CPU, drawn in eval mode
        (batch norm uses its running statistics)."""
        with eval_mode(self):
            x = self(self.sample_noise(n, generator=generator)).cpu()
        return x

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) for given noise in eval mode, on the CPU: for interpolations and explorers."""
        with eval_mode(self):
            x = self(z.to(next(self.parameters()).device)).cpu()
        return x


# --------------------------------------------------------------------------- discriminator


@dataclass
class DCGANDiscriminatorConfig:
    width: int = 24  # feature maps of the first layer; the second has 2 × width
    image_size: int = 28
    channels: int = 1
    leaky_slope: float = 0.2
    dropout: float = 0.0  # dropout before the final layer (0: none, as in the paper)


class DCGANDiscriminator(nn.Module):
    """D(x): images (B, 1, 28, 28) → one logit per image, shape (B,).

    strided conv → (w, 14, 14) → strided conv → (2w, 7, 7) → flatten → linear → logit.
    """

    config_class = DCGANDiscriminatorConfig

    def __init__(self, config: DCGANDiscriminatorConfig | None = None):
        super().__init__()
        self.config = c = config or DCGANDiscriminatorConfig()
        _check_config(c)
        if not 0.0 <= c.dropout < 1.0:
            raise ValueError(f"DCGANDiscriminatorConfig.dropout must be in [0, 1), got {c.dropout!r}.")
        s = c.image_size // 4
        # a conv with kernel 4, stride 2, padding 1 halves height and width (instead of pooling)
        self.features = nn.Sequential(
            nn.Conv2d(c.channels, c.width, 4, stride=2, padding=1),  # (B, w, 14, 14); no batch norm on the input layer
            nn.LeakyReLU(c.leaky_slope),
            nn.Conv2d(c.width, 2 * c.width, 4, stride=2, padding=1, bias=False),  # (B, 2w, 7, 7)
            nn.BatchNorm2d(2 * c.width),
            nn.LeakyReLU(c.leaky_slope),
        )
        self.classify = nn.Sequential(
            nn.Flatten(),  # (B, 2w·7·7)
            nn.Dropout(c.dropout),
            nn.Linear(2 * c.width * s * s, 1),  # (B, 1): a logit, no sigmoid
        )
        self.apply(init_dcgan_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.config, "DCGANDiscriminator")
        return self.classify(self.features(x)).squeeze(1)  # (B, 1) → (B,)

    @torch.no_grad()
    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """D's belief that each image is real, sigmoid(logit), in eval mode, on the CPU."""
        with eval_mode(self):
            p = torch.sigmoid(self(x.to(next(self.parameters()).device))).cpu()
        return p
