"""Exercise checks of lessons 03 (conditional GAN) and 04 (WGAN-GP) that are not in
:mod:`gankit.checks.gan`."""

from __future__ import annotations

__all__: list[str] = []
