"""A small U-Net denoiser for 28×28 digits (lesson 12).

O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (arXiv:1505.04597) — the shape: an encoder that halves the image
twice, a decoder that doubles it back, and skip connections that hand each decoder level
the encoder's features of the same size. Ho et al. 2020 (DDPM, Appendix B) made it the
denoiser of diffusion, with the time added to every residual block.

Simplifications against DDPM's network (35.7M parameters for 32×32 CIFAR-10): one residual
block per level, no attention, average pooling down and nearest-neighbour upsampling up —
about 0.34M parameters at the default width, enough for digits on a CPU.

Images are expected in [−1, 1] (``x * 2 − 1`` for the kit's digits in [0, 1]) so that the
data has about the noise's scale; the maths (schedules, losses, samplers) is
:mod:`gankit.models.diffusion`'s and works the same for points and images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gankit.models.diffusion import Denoiser, timestep_embedding
from gankit.utils import check_positive_int

__all__ = ["UNetConfig", "ResBlock", "UNetDenoiser"]


@dataclass
class UNetConfig:
    channels: int = 1  # image channels
    image_size: int = 28  # height = width; divisible by 2^(levels − 1)
    base_channels: int = 32  # feature maps at full size
    channel_mults: list[int] = field(default_factory=lambda: [1, 2, 2])  # per level: 28×28, 14×14, 7×7
    time_dim: int = 64  # width of the time (and label) embedding
    groups: int = 8  # GroupNorm groups
    n_classes: int = 0  # 0: unconditional; else labels 0 … n_classes − 1 (and n_classes = no label)

    def __post_init__(self) -> None:
        for name in ("channels", "image_size", "base_channels", "time_dim", "groups"):
            check_positive_int(getattr(self, name), f"UNetConfig.{name}")
        if not self.channel_mults or any(not isinstance(m, int) or m < 1 for m in self.channel_mults):
            raise ValueError(f"UNetConfig.channel_mults must be a non-empty list of positive ints, "
                             f"got {self.channel_mults!r}.")
        halvings = len(self.channel_mults) - 1
        if self.image_size % 2**halvings:
            raise ValueError(f"UNetConfig: image_size {self.image_size} cannot be halved {halvings} times "
                             f"(one per level after the first); use fewer channel_mults or another size.")
        if any(self.base_channels * m % self.groups for m in self.channel_mults):
            raise ValueError(f"UNetConfig: every level's channels (base_channels × mult) must be divisible by "
                             f"groups={self.groups}.")
        if self.time_dim % 2:
            raise ValueError(f"UNetConfig.time_dim must be even (sines and cosines), got {self.time_dim}.")
        if not isinstance(self.n_classes, int) or isinstance(self.n_classes, bool) or self.n_classes < 0:
            raise ValueError(f"UNetConfig.n_classes must be an int ≥ 0 (0: no labels), got {self.n_classes!r}.")


class ResBlock(nn.Module):
    """norm → SiLU → conv, add the time embedding, norm → SiLU → conv, plus the input
    (through a 1×1 conv when the channel count changes). (B, c_in, H, W) → (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.time(e)[:, :, None, None]  # the time (and label), one shift per channel
        h = self.conv2(F.silu(self.norm2(h)))  # (B, c_out, H, W)
        return h + self.skip(x)


class UNetDenoiser(Denoiser, nn.Module):
    """ε_θ(x_t, t, y) or v_θ(x_t, t, y) for images: (B, C, H, W), (B,), (B,) → (B, C, H, W).

    With the defaults (28×28, width 32, mults 1, 2, 2):

        in 1×28×28 → conv 32×28×28 → block 32×28×28 ─────────────────────────┐ skip
                     pool → block 64×14×14 ─────────────────────┐ skip        │
                            pool → block 64×7×7 (the bottom)    │             │
                                   up → [64 + 64]×14×14 → block 64×14×14      │
                                          up → [64 + 32]×28×28 → block 32×28×28 → conv → 1×28×28

    Time: sinusoidal features → MLP → e (time_dim), plus a learned vector per label
    (n_classes + 1 of them, the last for "no label"); every block adds e to its features.
    """

    config_class = UNetConfig

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = c = config or UNetConfig()
        self.data_shape = (c.channels, c.image_size, c.image_size)
        widths = [c.base_channels * m for m in c.channel_mults]
        self.time_mlp = nn.Sequential(nn.Linear(c.time_dim, c.time_dim), nn.SiLU(), nn.Linear(c.time_dim, c.time_dim))
        self.label_emb = nn.Embedding(c.n_classes + 1, c.time_dim) if c.n_classes else None
        self.conv_in = nn.Conv2d(c.channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = widths[0]
        for w in widths:
            self.down.append(ResBlock(prev, w, c.time_dim, c.groups))
            prev = w
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(ResBlock(prev + w, w, c.time_dim, c.groups))
            prev = w
        self.norm_out = nn.GroupNorm(c.groups, prev)
        self.conv_out = nn.Conv2d(prev, c.channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start by predicting 0: a calm first step
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self._check_inputs(x, t, labels)
        e = self.time_mlp(timestep_embedding(t, self.config.time_dim))  # (B, time_dim)
        if self.label_emb is not None:
            e = e + self.label_emb(labels)
        h = self.conv_in(x)  # (B, 32, 28, 28)
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                h = F.avg_pool2d(h, 2)  # halve: 28 → 14 → 7
            h = block(h, e)
            skips.append(h)
        skips.pop()  # the bottom level's output is h itself
        for block in self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")  # double: 7 → 14 → 28
            h = block(torch.cat([h, skips.pop()], dim=1), e)  # the encoder's features of the same size
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, C, H, W)
