"""Mode coverage on toy 2-D mixtures (lessons 01, 04, 05).

The protocol of the unrolled-GAN (Metz et al., 2017), VEEGAN (Srivastava et al., 2017)
and PacGAN (Lin et al., 2018) papers: draw 2,500 samples; a sample is *high quality* when
it lies within 3σ of its nearest mode; a mode is *covered* when at least 20 high-quality
samples fall on it. A generator that has collapsed onto a few modes scores few modes even
when every sample is high quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Coverage", "mode_coverage", "nearest_mode_distance"]


@dataclass(frozen=True)
class Coverage:
    modes: int  # modes covered (≥ min_count high-quality samples)
    n_modes: int  # modes in the mixture
    hq_share: float  # share of samples within hq_sigmas·σ of their nearest mode, 0–1
    counts: list[int]  # high-quality samples per mode

    def __str__(self) -> str:
        return f"{self.modes}/{self.n_modes} modes covered, {self.hq_share:.1%} high-quality samples"


def _check_points(samples: torch.Tensor, centres: torch.Tensor) -> None:
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (N, {centres.shape[1]}), got {tuple(samples.shape)}.")
    if len(samples) == 0:
        raise ValueError("samples is empty; draw some samples first (the protocol uses 2,500).")


def mode_coverage(
    samples: torch.Tensor,
    centres: torch.Tensor,
    std: float,
    hq_sigmas: float = 3.0,
    min_count: int = 20,
) -> Coverage:
    """Modes covered and high-quality share of ``samples`` (N, 2) for a mixture whose
    modes are ``centres`` (K, 2), each with standard deviation ``std``.

    Pass ``mixture.centres, mixture.std`` from :mod:`gankit.data`. The protocol's numbers
    (2,500 samples, 3σ, 20 per mode) are the defaults; a non-finite sample counts as
    low quality rather than breaking the count.
    """
    samples = samples.detach().float().cpu()
    centres = centres.detach().float().cpu()
    _check_points(samples, centres)
    dist = torch.cdist(samples, centres)  # (N, K)
    dist = torch.nan_to_num(dist, nan=float("inf"))
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist <= hq_sigmas * std
    counts = torch.bincount(nearest[hq], minlength=len(centres))
    return Coverage(
        modes=int((counts >= min_count).sum()),
        n_modes=len(centres),
        hq_share=float(hq.float().mean()),
        counts=counts.tolist(),
    )


def nearest_mode_distance(samples: torch.Tensor, centres: torch.Tensor) -> float:
    """Mean distance from each sample to its nearest mode centre: a smooth measure of how
    close a generator is to the data (0 = every sample on a mode centre)."""
    samples = samples.detach().float().cpu()
    centres = centres.detach().float().cpu()
    _check_points(samples, centres)
    return float(torch.cdist(samples, centres).min(dim=1).values.mean())
