"""The variational autoencoder (lesson 06).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114);
Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and Approximate Inference in
Deep Generative Models", ICML 2014 (arXiv:1401.4082); the importance-weighted bound is
from Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016
(arXiv:1509.00519).

A latent-variable model draws a code z from the prior p(z) = N(0, I) and an image x from
the decoder p(x|z). Its likelihood p(x) = ∫ p(x|z) p(z) dz has no closed form, so an
encoder q(z|x) = N(μ(x), diag σ²(x)) guesses which codes explain x, and training
maximises the evidence lower bound (ELBO) of every training image:

    log p(x) ≥ ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z))
                          └─ reconstruction ─┘   └── KL, closed form ──┘

The expectation is estimated with one sample z = μ + σ·ε, ε ~ N(0, I) (the
reparameterisation trick: the randomness sits in ε, so gradients flow through μ and σ).

Units: every log-likelihood here is in **nats per image** — summed over the image's
pixels (and over latent dimensions for the KL), one number per example; a loss is the
mean of those over the batch. This is the scale papers report (Burda et al. 2016, Table 1,
give test NLLs of binarised MNIST digits in nats per image).

Two decoders (``VAEConfig.likelihood``):

* ``"bernoulli"`` — one logit per pixel, for images in [0, 1] (binarise them to get a true
  likelihood: a Bernoulli log-likelihood of grey values is not a probability of anything);
* ``"categorical"`` — ``levels`` logits per pixel, for images quantised to ``levels``
  intensities (scikit-learn's 8×8 digits have 17: 0…16).

Simplifications: encoder and decoder are MLPs on the flattened image (enough for 28×28
digits on a CPU), and the prior is the standard normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gankit.models._parts import NoiseSampler, check_images
from gankit.utils import check_positive_int, eval_mode

__all__ = [
    "gaussian_kl",
    "reparameterize",
    "bernoulli_log_likelihood",
    "categorical_log_likelihood",
    "to_levels",
    "elbo",
    "log_normal",
    "importance_weighted_nll",
    "VAEConfig",
    "VAE",
]

LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- the ELBO, term by term


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) in closed form, one value per example (nats):

        KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²),   with log σ² = ``logvar``.

    ``mu`` and ``logvar`` have shape (B, latent_dim); the result has shape (B,).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}.")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = μ + σ·ε with ε ~ N(0, I) and σ = exp(½ log σ²).

    Sampling z ~ N(μ, σ²) directly would block the gradient (a random draw has no
    derivative with respect to μ or σ); written this way z is a differentiable function of
    μ and σ, and the randomness ε does not depend on the encoder.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = Σ_pixels [x log σ(a) + (1 − x) log(1 − σ(a))], one value per example.

    ``logits`` a and ``x`` (values in [0, 1]) have the same shape (B, ...); the sum runs
    over every pixel of an example. Computed as −BCE-with-logits (no log of 0).
    """
    if logits.shape != x.shape:
        raise ValueError(f"logits and x must have the same shape, got {tuple(logits.shape)} and {tuple(x.shape)}.")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def categorical_log_likelihood(logits: torch.Tensor, x_levels: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = Σ_pixels log softmax(a_pixel)[x_pixel], one value per example.

    ``logits`` has shape (B, levels, D) — a distribution over intensity levels for each of
    the D pixels — and ``x_levels`` holds integer levels 0…levels−1, shape (B, D) or
    (B, C, H, W) with C·H·W = D.
    """
    if logits.ndim != 3:
        raise ValueError(f"logits must have shape (B, levels, D), got {tuple(logits.shape)}.")
    target = x_levels.reshape(len(x_levels), -1).long()  # (B, D)
    if target.shape != (logits.shape[0], logits.shape[2]):
        raise ValueError(f"x_levels holds {tuple(target.shape)} pixels per batch; logits {tuple(logits.shape)} expect "
                         f"({logits.shape[0]}, {logits.shape[2]}).")
    if target.min() < 0 or target.max() >= logits.shape[1]:
        raise ValueError(f"x_levels must be integers in 0…{logits.shape[1] - 1}, got values in "
                         f"{int(target.min())}…{int(target.max())}.")
    return -F.cross_entropy(logits, target, reduction="none").sum(1)


def to_levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Images in [0, 1] → integer levels 0…levels−1 (the inverse of ``level / (levels − 1)``)."""
    return torch.round(x.clamp(0, 1) * (levels - 1)).long()


def elbo(recon_log_lik: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """ELBO = log p(x|z) − β·KL(q(z|x) ‖ p(z)), one value per example (β = 1: the true bound;
    β > 1 trades reconstruction for a latent code closer to the prior, Higgins et al. 2017)."""
    return recon_log_lik - beta * kl


def log_normal(z: torch.Tensor, mu: torch.Tensor | None = None, logvar: torch.Tensor | None = None) -> torch.Tensor:
    """log N(z; μ, diag σ²), summed over the last dimension (N(0, I) when μ, logvar are None)."""
    if mu is None:
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
    return -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + LOG_2PI).sum(-1)


@torch.no_grad()
def importance_weighted_nll(
    model: nn.Module,
    x: torch.Tensor,
    k: int = 100,
    labels: torch.Tensor | None = None,
    batch_size: int = 100,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """An estimate of −log p(x) in nats per image, with k importance samples (Burda et al. 2016):

        log p(x) ≈ log (1/k) Σ_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)
                 = logsumexp_i [log p(x|z_i) + log p(z_i) − log q(z_i|x)] − log k.

    In expectation this is a lower bound on log p(x) that rises with k: at k = 1 it is
    the ELBO, and as k → ∞ it reaches log p(x). So −(this) is an *upper* bound on the
    true NLL, tighter than the negative ELBO. Returns a tensor (B,), one value per image,
    computed in eval mode. ``labels`` are passed on to ``encode`` and ``decode`` for a
    conditional model (``model.encode(x, labels)``, ``model.decode(z, labels)``).

    ``model`` needs ``encode``, ``decode`` and ``log_likelihood(logits, x) -> (B,)``.
    """
    check_positive_int(k, "k (the number of importance samples)")
    with eval_mode(model):
        device = next(model.parameters()).device
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            yb = None if labels is None else labels[i:i + batch_size].to(device)
            cond = () if yb is None else (yb,)
            mu, logvar = model.encode(xb, *cond)  # (B, L) each
            B, L = mu.shape
            eps = torch.randn((k, B, L), generator=generator).to(device)
            z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, L): k codes per image
            log_q = log_normal(z, mu, logvar)  # (k, B)
            log_prior = log_normal(z)  # (k, B)
            x_rep = xb.unsqueeze(0).expand(k, *xb.shape).reshape(k * B, *xb.shape[1:])
            cond_rep = () if yb is None else (yb.unsqueeze(0).expand(k, *yb.shape).reshape(k * B, *yb.shape[1:]),)
            log_lik = model.log_likelihood(model.decode(z.reshape(k * B, L), *cond_rep), x_rep).view(k, B)
            log_w = log_lik + log_prior - log_q  # (k, B): log importance weights
            out.append(-(torch.logsumexp(log_w, dim=0) - math.log(k)).cpu())
    return torch.cat(out)


# --------------------------------------------------------------------------- the model


@dataclass
class VAEConfig:
    image_size: int = 28  # images are (channels, image_size, image_size)
    channels: int = 1
    latent_dim: int = 16  # size of the code z
    hidden_dims: list[int] = field(default_factory=lambda: [512, 256])  # encoder widths; the decoder mirrors them
    likelihood: Literal["bernoulli", "categorical"] = "bernoulli"
    levels: int = 2  # intensity levels for the categorical decoder (17 for the 8×8 digits)
    beta: float = 1.0  # weight of the KL term in the training loss (1: the ELBO)
    activation: Literal["relu", "leaky_relu", "elu"] = "leaky_relu"
    dropout: float = 0.0  # dropout after each hidden layer, in training only (regularises small data sets)

    def __post_init__(self) -> None:
        for name in ("image_size", "channels", "latent_dim", "levels"):
            check_positive_int(getattr(self, name), f"{type(self).__name__}.{name}")
        self.hidden_dims = [int(h) for h in self.hidden_dims]
        if any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"VAEConfig.hidden_dims must be positive ints, got {self.hidden_dims}.")
        if self.likelihood not in ("bernoulli", "categorical"):
            raise ValueError(f"VAEConfig.likelihood must be 'bernoulli' or 'categorical', got {self.likelihood!r}.")
        if self.likelihood == "categorical" and self.levels < 2:
            raise ValueError("A categorical decoder needs levels ≥ 2 (17 for scikit-learn's 8×8 digits).")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"VAEConfig.activation must be one of {', '.join(_ACTIVATIONS)}, got {self.activation!r}.")
        if self.beta < 0:
            raise ValueError(f"VAEConfig.beta must be ≥ 0, got {self.beta}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"VAEConfig.dropout must be in [0, 1), got {self.dropout}.")

    @property
    def data_dim(self) -> int:
        return self.channels * self.image_size * self.image_size


_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


def mlp(widths: list[int], activation: str, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers through ``widths`` with the activation (and dropout) between them,
    nothing after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(_ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class VAE(NoiseSampler, nn.Module):
    """Encoder q(z|x) = N(μ(x), diag σ²(x)), prior p(z) = N(0, I), decoder p(x|z).

    Images are (B, channels, image_size, image_size) with values in [0, 1] (for the
    categorical decoder: level / (levels − 1)).
    """

    config_class = VAEConfig

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        D, L, H = config.data_dim, config.latent_dim, config.hidden_dims
        out_per_pixel = 1 if config.likelihood == "bernoulli" else config.levels
        # encoder: x (B, D) → [μ, log σ²] (B, 2L)
        self.encoder = mlp([D, *H, 2 * L], config.activation, config.dropout)
        # decoder: z (B, L) → logits (B, D·out_per_pixel), hidden widths mirrored
        self.decoder = mlp([L, *reversed(H), D * out_per_pixel], config.activation, config.dropout)

    # -- the three parts

    def _check_images(self, x: torch.Tensor) -> None:
        check_images(x, self.config, type(self).__name__)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): images (B, C, H, W) → (μ, log σ²), each (B, latent_dim)."""
        self._check_images(x)
        h = self.encoder(x.flatten(1))  # (B, 2L)
        mu, logvar = h.chunk(2, dim=1)  # (B, L), (B, L)
        return mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = μ + σ·ε (see :func:`reparameterize`)."""
        return reparameterize(mu, logvar, generator)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z): codes (B, latent_dim) → logits, (B, C, H, W) for the Bernoulli decoder,
        (B, levels, C·H·W) for the categorical one."""
        c = self.config
        if z.ndim != 2 or z.shape[1] != c.latent_dim:
            raise ValueError(f"decode expects codes of shape (batch, {c.latent_dim}), got {tuple(z.shape)}.")
        out = self.decoder(z)
        if c.likelihood == "bernoulli":
            return out.view(len(z), c.channels, c.image_size, c.image_size)  # (B, C, H, W)
        return out.view(len(z), c.levels, c.data_dim)  # (B, levels, D)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Encode, sample a code, decode: returns (logits, μ, log σ²)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    # -- likelihood and loss

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats per image, (B,), for images x in [0, 1]."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(logits, x)
        return categorical_log_likelihood(logits, to_levels(x, self.config.levels))

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss: mean over the batch of −(log p(x|z) − β·KL), nats per image
        (at β = 1 the negative ELBO). ``stats`` holds the batch means of ``recon``
        (−log p(x|z)), ``kl`` and ``nelbo`` (−ELBO at β = 1), as floats."""
        logits, mu, logvar = self(x, generator)
        recon = self.log_likelihood(logits, x)  # (B,)
        kl = gaussian_kl(mu, logvar)  # (B,)
        loss = -elbo(recon, kl, self.config.beta).mean()
        stats = {"recon": -recon.mean().item(), "kl": kl.mean().item(), "nelbo": -(recon - kl).mean().item()}
        return loss, stats

    # -- looking at it

    def logits_to_image(self, logits: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image E[x|z] in [0, 1], (B, C, H, W)."""
        c = self.config
        if c.likelihood == "bernoulli":
            return torch.sigmoid(logits)
        levels = torch.arange(c.levels, dtype=logits.dtype, device=logits.device) / (c.levels - 1)
        mean = (logits.softmax(1) * levels.view(1, -1, 1)).sum(1)  # (B, D)
        return mean.view(len(logits), c.channels, c.image_size, c.image_size)

    @torch.no_grad()
    def decode_image(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) → mean images (B, C, H, W) in [0, 1], in eval mode."""
        with eval_mode(self):
            device = next(self.parameters()).device
            image = self.logits_to_image(self.decode(z.to(device))).cpu()
        return image

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode to the mean code μ(x) and decode: mean images (B, C, H, W) in [0, 1]."""
        with eval_mode(self):
            mu, _ = self.encode(x.to(next(self.parameters()).device))
        return self.decode_image(mu)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new images from the prior: z ~ N(0, I), then the decoder's mean image E[x|z],
        (n, C, H, W) in [0, 1] on the CPU."""
        return self.decode_image(self.sample_noise(n, "cpu", generator))
