"""Conditional DCGAN for 28×28 images: "draw me a 7" (lesson 03).

M. Mirza, S. Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
T. Miyato, M. Koyama, "cGANs with Projection Discriminator", arXiv:1802.05637 (ICLR 2018).

A conditional GAN plays the GAN game on pairs (image, label): the generator draws
G(z, y), an image of class y, and the discriminator judges D(x, y), "is x a real image
*of class y*?". A generator that draws a good 3 when asked for a 7 is caught, so G must
listen to y. The value function is lesson 01's with y added:

    min_G max_D  E_(x,y)[log D(x, y)] + E_z,y[log(1 − D(G(z, y), y))].

How the label enters each network:

* **Generator: one-hot and concatenate.** y becomes a one-hot vector e_y (10 numbers, a 1
  at position y) appended to z. G's first layer is linear, so W·[z; e_y] = W_z·z + W_y[:, y]:
  concatenating a one-hot is the same as adding a learned vector per class (an embedding)
  to the projection of z. The rest of G is lesson 02's DCGAN generator, unchanged.
* **Discriminator: projection** (Miyato & Koyama), the default. D computes features
  φ(x) (lesson 02's convolutions) and scores

      D(x, y) = ψ(φ(x)) + embed(y) · φ(x),

  an unconditional "is it real?" term plus an inner product between the features and a
  learned vector per class. The second term is the logit a linear classifier would give
  class y: D gets credit for images whose features point the way the label says.
  Alternative ``conditioning="concat"``: the one-hot label as 10 extra constant input
  channels (Mirza & Osindero's recipe, adapted to convolutions).

Both networks are built *around* lesson 02's :class:`~gankit.models.dcgan.DCGANGenerator`
and :class:`~gankit.models.dcgan.DCGANDiscriminator` (kept as ``.body``), not copies of them.
:func:`gankit.train.train_gan` trains them when given ``data=(images, labels)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gankit.models._parts import (
    NoiseSampler,
    check_images,
    check_labels,
    one_hot_concat,
)
from gankit.models.dcgan import (
    DCGANDiscriminator,
    DCGANDiscriminatorConfig,
    DCGANGenerator,
    DCGANGeneratorConfig,
)
from gankit.utils import check_positive_int, eval_mode

__all__ = [
    "ConditionalGeneratorConfig",
    "ConditionalGenerator",
    "ConditionalDiscriminatorConfig",
    "ConditionalDiscriminator",
    "one_hot_concat",
    "check_labels",
]

CONDITIONINGS = ("projection", "concat")


# --------------------------------------------------------------------------- generator


@dataclass
class ConditionalGeneratorConfig:
    latent_dim: int = 64  # size of the noise vector z
    n_classes: int = 10  # labels are 0 … n_classes − 1
    width: int = 24  # as DCGANGeneratorConfig: feature maps 2·width → width → channels
    image_size: int = 28
    channels: int = 1


class ConditionalGenerator(NoiseSampler, nn.Module):
    """G(z, y): noise (B, latent_dim) and labels (B,) → images (B, channels, 28, 28) in [-1, 1].

    [z; one_hot(y)] (B, latent_dim + n_classes) → lesson 02's DCGAN generator (``.body``).
    """

    config_class = ConditionalGeneratorConfig

    def __init__(self, config: ConditionalGeneratorConfig | None = None):
        super().__init__()
        self.config = c = config or ConditionalGeneratorConfig()
        if not isinstance(c.n_classes, int) or c.n_classes < 2:
            raise ValueError(f"ConditionalGeneratorConfig.n_classes must be an int ≥ 2, got {c.n_classes!r}.")
        check_positive_int(c.latent_dim, "ConditionalGeneratorConfig.latent_dim")
        # the DCGAN generator, fed the noise with the one-hot label appended
        self.body = DCGANGenerator(DCGANGeneratorConfig(
            latent_dim=c.latent_dim + c.n_classes, width=c.width, image_size=c.image_size, channels=c.channels))

    def condition(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The generator's input [z; one_hot(y)], after checking both."""
        c = self.config
        if z.ndim != 2 or z.shape[1] != c.latent_dim:
            raise ValueError(f"ConditionalGenerator expects noise of shape (batch, {c.latent_dim}), got "
                             f"{tuple(z.shape)}. Draw it with G.sample_noise(batch).")
        check_labels(labels, len(z), c.n_classes, "ConditionalGenerator")
        return one_hot_concat(z, labels.to(z.device), c.n_classes)  # (B, latent_dim + n_classes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(self.condition(z, labels))  # (B, channels, 28, 28)

    def _labels(self, labels: int | Sequence[int] | torch.Tensor | None, n: int) -> torch.Tensor:
        if labels is None:
            return torch.arange(n) % self.config.n_classes  # 0, 1, …, 9, 0, 1, …
        if isinstance(labels, torch.Generator):
            raise TypeError("A conditional generator's sample takes (n, labels, generator): pass the random "
                            "generator by name, G.sample(n, labels, generator=gen).")
        if isinstance(labels, int):
            return torch.full((n,), labels)
        return torch.as_tensor(labels)

    @torch.no_grad()
    def sample(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n images of the given ``labels`` (one digit for all, one per image, or None:
        0, 1, 2, … cycling), in [-1, 1], shape (n, channels, 28, 28), on the CPU, drawn in
        eval mode (batch norm uses its running statistics)."""
        return self.decode(self.sample_noise(n, device="cpu", generator=generator), self._labels(labels, n))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
        """G(z, y) for given noise and labels, in eval mode, on the CPU: for grids and explorers."""
        labels = self._labels(labels, len(z))
        with eval_mode(self):
            device = next(self.parameters()).device
            x = self(z.to(device), labels.to(device)).cpu()
        return x


# --------------------------------------------------------------------------- discriminator


@dataclass
class ConditionalDiscriminatorConfig:
    n_classes: int = 10
    conditioning: Literal["projection", "concat"] = "projection"  # how y enters D (see the module docstring)
    width: int = 24  # as DCGANDiscriminatorConfig: feature maps channels → width → 2·width
    image_size: int = 28
    channels: int = 1
    leaky_slope: float = 0.2
    dropout: float = 0.0


class ConditionalDiscriminator(nn.Module):
    """D(x, y): images (B, channels, 28, 28) and labels (B,) → one logit per pair, shape (B,).

    projection: φ = the DCGAN discriminator's convolutions, flattened (B, 2w·7·7);
                logit = ψ(φ) + ⟨embed(y), φ⟩.
    concat:     [x; one-hot maps] (B, channels + n_classes, 28, 28) → the DCGAN discriminator.
    """

    config_class = ConditionalDiscriminatorConfig

    def __init__(self, config: ConditionalDiscriminatorConfig | None = None):
        super().__init__()
        self.config = c = config or ConditionalDiscriminatorConfig()
        if not isinstance(c.n_classes, int) or c.n_classes < 2:
            raise ValueError(f"ConditionalDiscriminatorConfig.n_classes must be an int ≥ 2, got {c.n_classes!r}.")
        if c.conditioning not in CONDITIONINGS:
            raise ValueError(f"ConditionalDiscriminatorConfig.conditioning must be one of {', '.join(CONDITIONINGS)}, "
                             f"got {c.conditioning!r}.")
        extra = c.n_classes if c.conditioning == "concat" else 0  # label maps as extra input channels
        self.body = DCGANDiscriminator(DCGANDiscriminatorConfig(
            width=c.width, image_size=c.image_size, channels=c.channels + extra,
            leaky_slope=c.leaky_slope, dropout=c.dropout))
        if c.conditioning == "projection":
            s = c.image_size // 4
            # one vector per class, as long as φ(x); small at first, so D starts close to an unconditional one
            self.embed = nn.Embedding(c.n_classes, 2 * c.width * s * s)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c = self.config
        check_images(x, c, "ConditionalDiscriminator")
        labels = check_labels(labels, len(x), c.n_classes, "ConditionalDiscriminator").to(x.device)
        if c.conditioning == "concat":
            maps = F.one_hot(labels, c.n_classes).to(x.dtype)[:, :, None, None]  # (B, n_classes, 1, 1)
            maps = maps.expand(-1, -1, c.image_size, c.image_size)  # (B, n_classes, 28, 28): constant planes
            return self.body(torch.cat([x, maps], dim=1))  # (B,)
        phi = self.body.features(x).flatten(1)  # (B, 2w·7·7): φ(x)
        unconditional = self.body.classify(phi).squeeze(1)  # (B,): ψ(φ(x)), "is it real at all?"
        projection = (self.embed(labels) * phi).sum(dim=1)  # (B,): ⟨embed(y), φ(x)⟩, "is it a y?"
        return unconditional + projection

    @torch.no_grad()
    def probability(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """D's belief that each image is a real image of its label, in eval mode, on the CPU."""
        with eval_mode(self):
            device = next(self.parameters()).device
            p = torch.sigmoid(self(x.to(device), torch.as_tensor(labels).to(device))).cpu()
        return p
