"""Reconstruction quality, pixel by pixel (PSNR) or patch by patch (SSIM) (lessons 06, 11)."""

from __future__ import annotations

import torch

__all__ = ["psnr", "ssim"]


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
    # scikit-image is heavy to import: loaded only when SSIM is asked for
    from skimage.metrics import structural_similarity

    _check_pair(reference, estimate)
    if min(reference.shape[-2:]) < 7:
        raise ValueError(f"SSIM uses 7x7 windows: images must be at least 7x7, got {tuple(reference.shape[-2:])}.")
    ref = reference.detach().cpu().double().numpy()
    est = estimate.detach().cpu().double().numpy()
    scores = [structural_similarity(r, e, data_range=data_range, channel_axis=0) for r, e in zip(ref, est)]
    return torch.tensor(scores, dtype=torch.float32)
