"""Matplotlib figures the lessons share: 2-D samples over the discriminator, loss curves,
training snapshots and image grids. Every function draws on an ``ax`` you may pass (so
lessons can place figures side by side) and returns it; every axis has a label."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from torch import nn

from gankit.utils import eval_mode

__all__ = [
    "plot_2d",
    "discriminator_grid",
    "heatmap_snapshot",
    "plot_snapshot",
    "plot_snapshots",
    "plot_losses",
    "image_grid",
    "show_images",
    "plot_attention",
    "plot_vae_history",
    "plot_latent_scatter",
    "latent_grid",
    "plot_latent_grid",
]

Bounds = tuple[float, float, float, float]  # (xmin, xmax, ymin, ymax)


def _auto_bounds(*point_sets: torch.Tensor | None, margin: float = 0.5) -> Bounds:
    pts = torch.cat([p.detach().float().cpu() for p in point_sets if p is not None])
    pts = pts[torch.isfinite(pts).all(dim=1)]
    lo, hi = pts.min(dim=0).values - margin, pts.max(dim=0).values + margin
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


@torch.no_grad()
def discriminator_grid(discriminator: nn.Module, bounds: Bounds, resolution: int = 120) -> torch.Tensor:
    """D's probability "real", sigmoid(D(x)), on a resolution × resolution grid over
    ``bounds``; shape (resolution, resolution), rows = y from ymin to ymax."""
    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, resolution)
    ys = torch.linspace(ymin, ymax, resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], dim=1)  # (R·R, 2)
    with eval_mode(discriminator):
        device = next(discriminator.parameters()).device
        prob = torch.sigmoid(discriminator(pts.to(device))).cpu()
    return prob.reshape(resolution, resolution)


def _draw_heatmap(ax, grid: torch.Tensor, bounds: Bounds, colorbar: bool):
    im = ax.imshow(grid.numpy(), origin="lower", extent=bounds, cmap="RdBu", vmin=0, vmax=1,
                   aspect="equal", alpha=0.8, interpolation="bilinear")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="D(x) = P(real)")
    return im


def plot_2d(
    real: torch.Tensor | None = None,
    fake: torch.Tensor | None = None,
    discriminator: nn.Module | None = None,
    bounds: Bounds | None = None,
    ax=None,
    title: str = "Real and generated points",
    colorbar: bool = True,
    max_points: int = 2000,
):
    """Scatter real (black) and generated (orange) points, over D's output as a heatmap
    (blue: D says real, red: D says fake) when ``discriminator`` is given."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    if bounds is None:
        bounds = _auto_bounds(real, fake)
    if discriminator is not None:
        _draw_heatmap(ax, discriminator_grid(discriminator, bounds), bounds, colorbar)
    if real is not None:
        r = real[:max_points].detach().cpu()
        ax.scatter(r[:, 0], r[:, 1], s=4, c="black", alpha=0.5, label="real data")
    if fake is not None:
        f = fake[:max_points].detach().cpu()
        ax.scatter(f[:, 0], f[:, 1], s=4, c="tab:orange", alpha=0.6, label="generated")
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    if real is not None or fake is not None:
        ax.legend(loc="upper right", fontsize=8, markerscale=3)
    return ax


def heatmap_snapshot(bounds: Bounds, n: int = 512, resolution: int = 60, seed: int = 0):
    """A ``snapshot_fn`` for :func:`gankit.train.train_gan` on 2-D data: records where a
    fixed noise batch lands and D's heatmap, so :func:`plot_snapshots` can replay training."""
    fixed: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def snapshot(G: nn.Module, D: nn.Module, step: int) -> dict:
        if "z" not in fixed:  # the same noise at every snapshot, so points can be followed
            fixed["z"] = G.sample_noise(n, generator=torch.Generator().manual_seed(seed))
        return {"step": step, "samples": G(fixed["z"]).cpu(), "d_grid": discriminator_grid(D, bounds, resolution),
                "bounds": bounds}

    return snapshot


def plot_snapshot(snapshot: dict, real: torch.Tensor | None = None, ax=None):
    """One training snapshot: the fixed noise batch's points over D's heatmap (if recorded)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    samples = snapshot["samples"]
    bounds = snapshot.get("bounds") or _auto_bounds(real, samples)
    if "d_grid" in snapshot:
        _draw_heatmap(ax, snapshot["d_grid"], bounds, colorbar=False)
    if real is not None:
        ax.scatter(real[:1000, 0], real[:1000, 1], s=2, c="black", alpha=0.4)
    ax.scatter(samples[:, 0], samples[:, 1], s=3, c="tab:orange", alpha=0.7)
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.set_title(f"step {snapshot['step']}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def plot_snapshots(snapshots: Sequence[dict], real: torch.Tensor | None = None, ncols: int = 4, size: float = 3.0):
    """A grid of panels, one per snapshot: generated points over D's heatmap."""
    if not snapshots:
        raise ValueError("No snapshots to plot: train with GANTrainConfig(snapshot_every=N) first.")
    n = len(snapshots)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax, snap in zip(axes.flat, snapshots):
        plot_snapshot(snap, real, ax)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Generated points (orange) and D's belief (blue = real) during training")
    fig.tight_layout()
    return fig


def _smooth(values: Sequence[float], window: int) -> list[float]:
    if window <= 1 or len(values) < window:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    kernel = torch.ones(1, 1, window, dtype=torch.float64) / window
    return torch.nn.functional.conv1d(t.view(1, 1, -1), kernel).flatten().tolist()


def _plot_curves(history, curves: Sequence[tuple[str, str]], ax, smooth: int, title: str, xlabel: str,
                 ylabel: str):
    """The history's ``curves`` (name, label), each as a moving average over ``smooth`` steps."""
    if len(history) == 0:
        raise ValueError("The history is empty: nothing was trained yet.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    offset = min(smooth, len(history)) // 2 if smooth > 1 and len(history) >= smooth else 0
    for key, label in curves:
        ys = _smooth(getattr(history, key), smooth)
        ax.plot(history.step[offset: offset + len(ys)], ys, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_losses(history, ax=None, smooth: int = 25, title: str = "Training losses"):
    """D's and G's loss per step (a moving average over ``smooth`` steps), from a GAN's History."""
    ax = _plot_curves(history, (("d_loss", "discriminator loss"), ("g_loss", "generator loss")), ax, smooth, title,
                      "generator step", "loss")
    ax.legend()
    return ax


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Tile images (N, C, H, W) with values in [0, 1] into one image (C, H', W'), using
    torchvision's make_grid."""
    # torchvision is heavy to import: loaded only when a grid is drawn
    from torchvision.utils import make_grid

    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}.")
    return make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)


def show_images(images: torch.Tensor, nrow: int = 8, ax=None, title: str = "Images"):
    """Show images (N, C, H, W) in [0, 1] as one grid."""
    grid = image_grid(images, nrow=nrow)
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.8, (len(images) + nrow - 1) // nrow * 0.8 + 0.5))
    if grid.shape[0] == 1:
        ax.imshow(grid[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_title(title)
    ax.axis("off")
    return ax


def plot_attention(
    weights: torch.Tensor,
    queries: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    ax=None,
    title: str = "Attention weights",
    colorbar: bool = True,
):
    """One attention map (T_q, T_k) as a heatmap: row i is how much position i (a query)
    looks at each position j (a key); every row sums to 1. ``queries`` and ``keys`` label
    the rows and columns, e.g. with the tokens."""
    w = weights.detach().float().cpu()
    if w.ndim != 2:
        raise ValueError(f"weights must be one (queries, keys) map, got shape {tuple(w.shape)}; pick a layer, head and example.")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.3 * w.shape[1] + 2, 0.3 * w.shape[0] + 1.5))
    im = ax.imshow(w.numpy(), cmap="Blues", vmin=0, vmax=1)
    for labels, set_ticks, set_labels, n in ((queries, ax.set_yticks, ax.set_yticklabels, w.shape[0]),
                                              (keys, ax.set_xticks, ax.set_xticklabels, w.shape[1])):
        if labels is not None:
            if len(labels) != n:
                raise ValueError(f"{len(labels)} labels for {n} rows/columns of the attention map.")
            set_ticks(range(n))
            set_labels(labels, fontsize=8)
    ax.set_xlabel("key position j (looked at)")
    ax.set_ylabel("query position i (looking)")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="weight")
    return ax


# --------------------------------------------------------------------------- variational autoencoders


def plot_vae_history(history, ax=None, smooth: int = 25, title: str = "Training the VAE"):
    """The VAE's loss per step and its two terms, −log p(x|z) and KL (moving averages over
    ``smooth`` steps), from a :class:`gankit.train.History`, in nats per image; the
    validation −ELBO as dots where it was measured."""
    curves = (("loss", "loss (−ELBO at β = 1)"), ("recon", "reconstruction −log p(x|z)"), ("kl", "KL(q(z|x) ‖ p(z))"))
    ax = _plot_curves(history, curves, ax, smooth, title, "step", "nats per image")
    if history.val_step:
        ax.plot(history.val_step, history.val_nelbo, "o", color="black", label="validation −ELBO")
    ax.legend()
    return ax


def plot_latent_scatter(codes: torch.Tensor, labels: torch.Tensor, ax=None, title: str = "Latent codes",
                        xlabel: str = "z₁", ylabel: str = "z₂", size: float = 6.0):
    """2-D codes (N, 2) as points coloured by their label (a digit, 0–9), with a legend."""
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (N, 2); project them first (PCA, t-SNE), got {tuple(codes.shape)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size))
    codes, labels = codes.detach().cpu(), labels.detach().cpu()
    cmap = plt.get_cmap("tab10")
    for c in sorted(set(labels.tolist())):
        mask = labels == c
        ax.scatter(codes[mask, 0], codes[mask, 1], s=6, color=cmap(c % 10), label=str(c), alpha=0.7)
    ax.legend(title="digit", markerscale=2.5, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def latent_grid(model: nn.Module, n: int = 15, extent: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode an n×n grid of codes covering a 2-D latent plane: returns (images (n·n, C, H, W),
    the codes (n·n, 2)). The grid is even in *probability* under the prior N(0, I): its
    coordinates are the normal quantiles Φ⁻¹(p) for p evenly spaced in the central
    ``extent`` of [0, 1], so every cell holds about the same prior mass. Row 0 is the top
    (largest z₂), as in a plot."""
    if model.config.latent_dim != 2:
        raise ValueError(f"latent_grid needs a model with latent_dim = 2, got {model.config.latent_dim}.")
    p = torch.linspace((1 - extent) / 2, (1 + extent) / 2, n)
    q = torch.distributions.Normal(0.0, 1.0).icdf(p)  # (n,) normal quantiles
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    codes = torch.stack([z1.flatten(), z2.flatten()], dim=1)  # (n·n, 2)
    return model.decode_image(codes), codes


def plot_latent_grid(model: nn.Module, n: int = 15, extent: float = 0.95, ax=None,
                     title: str = "Decoded grid over the latent plane"):
    """Show :func:`latent_grid` as one image, axes labelled with the codes' range."""
    images, codes = latent_grid(model, n, extent)
    grid = image_grid(images, nrow=n, padding=0)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    lo, hi = float(codes.min()), float(codes.max())
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0, vmax=1, extent=(lo, hi, lo, hi))
    ax.set_xlabel("z₁ (normal quantiles)")
    ax.set_ylabel("z₂ (normal quantiles)")
    ax.set_title(title)
    return ax
