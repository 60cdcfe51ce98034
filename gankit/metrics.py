"""Measures of what a generative model makes.

Mode coverage on toy mixtures follows the protocol of the unrolled-GAN (Metz et al.,
2017), VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018) papers: draw 2,500
samples; a sample is *high quality* when it lies within 3σ of its nearest mode; a mode is
*covered* when at least 20 high-quality samples fall on it. A generator that has
collapsed onto a few modes scores few modes even when every sample is high quality.

For images, the digit judge (:mod:`gankit.judge`, re-exported here) scores samples: the
share it classifies with confidence, class coverage, the Fréchet distance in its feature
space next to a real-vs-real reference, and label agreement for conditional samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.evaluation import (  # precision/recall, memorisation, BLEU, detectors (lesson 11)
    PrecisionRecall,
    bleu,
    detector_accuracy,
    edit_distance,
    memorisation_ratio,
    nearest_neighbours,
    nearest_training_names,
    novelty,
    precision_recall,
)
from gankit.judge import (
    JudgeScores,
    RealReference,
    frechet_distance,
    gaussian_stats,
    judge_fd,
    judge_scores,
    label_agreement,
    load_judge,
    real_reference,
)

__all__ = [
    "Coverage",
    "mode_coverage",
    "psnr",
    "ssim",
    "nearest_mode_distance",
    # the digit judge, from gankit.judge
    "JudgeScores",
    "RealReference",
    "load_judge",
    "judge_scores",
    "judge_fd",
    "frechet_distance",
    "gaussian_stats",
    "real_reference",
    "label_agreement",
    # measures for lesson 11, from gankit.evaluation
    "PrecisionRecall",
    "precision_recall",
    "nearest_neighbours",
    "memorisation_ratio",
    "bleu",
    "edit_distance",
    "nearest_training_names",
    "novelty",
    "detector_accuracy",
]


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


# --------------------------------------------------------------------------- reconstruction quality
#
# Both scores compare a reconstruction with its original, pixel by pixel (PSNR) or patch by
# patch (SSIM). Neither knows what a digit is: a blurry average of the plausible images
# often scores *higher* than a sharp image with a stroke a pixel off, because squared error
# punishes a misplaced edge twice (missing where it was, present where it is not) while a
# blur pays only a little everywhere. A VAE's decoder mean is exactly such an average.


def _check_pair(reference: torch.Tensor, estimate: torch.Tensor) -> None:
    if reference.shape != estimate.shape or reference.ndim != 4:
        raise ValueError(f"reference and estimate must both be images (N, C, H, W) of the same shape, got "
                         f"{tuple(reference.shape)} and {tuple(estimate.shape)}.")


def psnr(reference: torch.Tensor, estimate: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB (higher is better; identical images: inf):

        PSNR = 10 · log10(data_range² / MSE),   MSE = the mean of (reference − estimate)² over the image.

    Images (N, C, H, W) with values in [0, data_range]; returns a tensor (N,). Average
    the per-image values (``psnr(...).mean()``) to report one number.
    """
    _check_pair(reference, estimate)
    mse = (reference.double() - estimate.double()).pow(2).flatten(1).mean(1)  # (N,)
    return (10 * torch.log10(data_range ** 2 / mse)).float()  # mse = 0 gives inf


def ssim(reference: torch.Tensor, estimate: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al., 2004) per image, from scikit-image's
    ``structural_similarity`` (7×7 windows, its defaults); 1 for identical images.

    SSIM compares local means, contrasts and correlations, so it cares about structure more
    than MSE does, yet it still rewards a blur over a sharp image with a misplaced stroke.
    Images (N, C, H, W); returns a tensor (N,).
    """
    from skimage.metrics import structural_similarity

    _check_pair(reference, estimate)
    if min(reference.shape[-2:]) < 7:
        raise ValueError(f"SSIM uses 7x7 windows: images must be at least 7x7, got {tuple(reference.shape[-2:])}.")
    ref = reference.detach().cpu().double().numpy()
    est = estimate.detach().cpu().double().numpy()
    scores = [structural_similarity(r, e, data_range=data_range, channel_axis=0) for r, e in zip(ref, est)]
    return torch.tensor(scores, dtype=torch.float32)
