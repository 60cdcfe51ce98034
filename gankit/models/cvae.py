"""The conditional variational autoencoder, and style transfer with it (lesson 07).

K. Sohn, H. Lee, X. Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NeurIPS 2015 (the conditional VAE);
D. P. Kingma, D. J. Rezende, S. Mohamed, M. Welling, "Semi-Supervised Learning with Deep
Generative Models", NeurIPS 2014 (arXiv:1406.5298), whose "analogies" keep a digit's code z
and change its label y — the style transfer of this lesson.

A conditional VAE is lesson 06's VAE with the label y given to both networks:

    encoder  q(z | x, y) = N(μ(x, y), diag σ²(x, y))
    decoder  p(x | z, y)
    prior    p(z) = N(0, I)            (the same for every label)

and it maximises the conditional ELBO of each training pair (x, y):

    log p(x | y) ≥ E_q(z|x,y)[log p(x | z, y)] − KL(q(z | x, y) ‖ p(z)).

The label is given for free, so the code z only needs to hold what the label does not
say: the *style* of the handwriting (slant, stroke width, size). Style transfer follows:
encode a digit with its own label, z = μ(x, y), and decode the same z with another label,
x' = E[x | z, y'] — the same handwriting, another digit.

How the label enters: as a one-hot vector e_y appended to the network's input (the
flattened image for the encoder, z for the decoder), the same recipe as the conditional
GAN of lesson 03 (:func:`gankit.models.cgan.one_hot_concat`). The first layer is linear,
so this adds a learned vector per class.

Everything else — the likelihoods, the KL, the ELBO, the importance-weighted bound, the
MLP builder — is lesson 06's (:mod:`gankit.models.vae`): :class:`ConditionalVAE` is a
:class:`~gankit.models.vae.VAE` whose ``encode``, ``decode``, ``loss`` and friends take the
labels as a second argument. :func:`gankit.train.train_vae` trains it when given
``data=(images, labels)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from gankit.models._parts import check_labels, one_hot_concat
from gankit.models.vae import VAE, VAEConfig, elbo, gaussian_kl, mlp
from gankit.utils import eval_mode

__all__ = ["ConditionalVAEConfig", "ConditionalVAE", "style_transfer_grid"]

Labels = int | Sequence[int] | torch.Tensor


@dataclass
class ConditionalVAEConfig(VAEConfig):
    """:class:`~gankit.models.vae.VAEConfig` plus the number of classes. The defaults are
    lesson 07's widths and a small code, which leaves the digit's identity to the label (the
    lesson itself sets ``latent_dim = 3``; the bundled ``cvae_digits`` checkpoint has 4)."""

    latent_dim: int = 4  # size of the code z: small, so that z holds style and y holds the digit
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])  # encoder widths; the decoder mirrors them
    n_classes: int = 10  # labels are 0 … n_classes − 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.n_classes, int) or isinstance(self.n_classes, bool) or self.n_classes < 2:
            raise ValueError(f"ConditionalVAEConfig.n_classes must be an int ≥ 2, got {self.n_classes!r}.")


class ConditionalVAE(VAE):
    """q(z | x, y), p(z) = N(0, I), p(x | z, y): a :class:`~gankit.models.vae.VAE` whose
    encoder and decoder both read the one-hot label.

    Images are (B, channels, image_size, image_size) in [0, 1]; labels are (B,) integer
    class indices in 0 … n_classes − 1. Every method of the VAE that touches the encoder
    or the decoder takes the labels as its second argument: ``encode(x, y)``,
    ``decode(z, y)``, ``loss(x, y)``, ``reconstruct(x, y)``, ``decode_image(z, y)``,
    ``sample(n, labels)``; and :meth:`style_transfer` is the point of the model.
    """

    config_class = ConditionalVAEConfig

    def __init__(self, config: ConditionalVAEConfig | None = None):
        config = config or ConditionalVAEConfig()
        if not isinstance(config, ConditionalVAEConfig):
            raise TypeError(f"ConditionalVAE needs a ConditionalVAEConfig (it adds n_classes), got {type(config).__name__}.")
        super().__init__(config)
        D, L, H, K = config.data_dim, config.latent_dim, config.hidden_dims, config.n_classes
        out_per_pixel = 1 if config.likelihood == "bernoulli" else config.levels
        # the VAE's two networks, rebuilt with K more inputs each for the one-hot label:
        # encoder: [x; e_y] (B, D + K) → [μ, log σ²] (B, 2L)
        self.encoder = mlp([D + K, *H, 2 * L], config.activation, config.dropout)
        # decoder: [z; e_y] (B, L + K) → logits (B, D·out_per_pixel)
        self.decoder = mlp([L + K, *reversed(H), D * out_per_pixel], config.activation, config.dropout)

    # -- inputs

    def labels_for(self, labels: Labels | None, n: int) -> torch.Tensor:
        """``labels`` as a checked (n,) long tensor: one int for all n, a sequence or tensor
        of n class indices, or None for 0, 1, …, K − 1, 0, 1, … cycling."""
        K = self.config.n_classes
        if labels is None:
            labels = torch.arange(n) % K
        elif isinstance(labels, int) and not isinstance(labels, bool):
            labels = torch.full((n,), labels, dtype=torch.long)
        elif isinstance(labels, (list, tuple)):
            labels = torch.as_tensor(labels)
        return check_labels(labels, n, K, "ConditionalVAE")

    # -- the three parts, conditioned on y

    def encode(self, x: torch.Tensor, y: Labels) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, y): images (B, C, H, W) and labels (B,) → (μ, log σ²), each (B, latent_dim)."""
        self._check_images(x)
        y = self.labels_for(y, len(x)).to(x.device)
        h = self.encoder(one_hot_concat(x.flatten(1), y, self.config.n_classes))  # (B, D + K) → (B, 2L)
        mu, logvar = h.chunk(2, dim=1)  # (B, L), (B, L)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: Labels) -> torch.Tensor:
        """p(x | z, y): codes (B, latent_dim) and labels (B,) → logits, (B, C, H, W) for the
        Bernoulli decoder, (B, levels, C·H·W) for the categorical one."""
        c = self.config
        if z.ndim != 2 or z.shape[1] != c.latent_dim:
            raise ValueError(f"decode expects codes of shape (batch, {c.latent_dim}), got {tuple(z.shape)}.")
        y = self.labels_for(y, len(z)).to(z.device)
        out = self.decoder(one_hot_concat(z, y, c.n_classes))  # (B, L + K) → (B, D·out_per_pixel)
        if c.likelihood == "bernoulli":
            return out.view(len(z), c.channels, c.image_size, c.image_size)  # (B, C, H, W)
        return out.view(len(z), c.levels, c.data_dim)  # (B, levels, D)

    def forward(self, x: torch.Tensor, y: Labels, generator: torch.Generator | None = None):
        """Encode with the label, sample a code, decode with the label: (logits, μ, log σ²)."""
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z, y), mu, logvar

    def loss(self, x: torch.Tensor, y: Labels, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean over the batch of −(log p(x | z, y) − β·KL(q(z | x, y) ‖ p(z))), nats per
        image (at β = 1 the negative conditional ELBO); ``stats`` as :meth:`VAE.loss`."""
        logits, mu, logvar = self(x, y, generator)
        recon = self.log_likelihood(logits, x)  # (B,)
        kl = gaussian_kl(mu, logvar)  # (B,)
        loss = -elbo(recon, kl, self.config.beta).mean()
        stats = {"recon": -recon.mean().item(), "kl": kl.mean().item(), "nelbo": -(recon - kl).mean().item()}
        return loss, stats

    # -- looking at it

    @torch.no_grad()
    def decode_image(self, z: torch.Tensor, y: Labels) -> torch.Tensor:
        """Codes (B, latent_dim) and labels → mean images E[x | z, y] (B, C, H, W) in [0, 1],
        in eval mode, on the CPU."""
        with eval_mode(self):
            device = next(self.parameters()).device
            image = self.logits_to_image(self.decode(z.to(device), self.labels_for(y, len(z)))).cpu()
        return image

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor, y: Labels) -> torch.Tensor:
        """The mean code μ(x, y), (B, latent_dim), in eval mode, on the CPU: the deterministic
        "style" of each image."""
        with eval_mode(self):
            mu, _ = self.encode(x.to(next(self.parameters()).device), y)
        return mu.cpu()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: Labels) -> torch.Tensor:
        """Encode to μ(x, y) and decode with the same labels: mean images in [0, 1]."""
        return self.decode_image(self.encode_mean(x, y), y)

    @torch.no_grad()
    def style_transfer(self, x: torch.Tensor, source_labels: Labels, target_labels: Labels) -> torch.Tensor:
        """The same handwriting, another digit: encode ``x`` with its own labels,
        z = μ(x, y_source), and decode that z with ``target_labels``. Mean images
        (B, C, H, W) in [0, 1], on the CPU."""
        z = self.encode_mean(x, source_labels)  # (B, L): the style of each image
        return self.decode_image(z, target_labels)

    @torch.no_grad()
    def sample(self, n: int, labels: Labels | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new images of the given ``labels`` (one digit for all, one per image, or None:
        0, 1, 2, … cycling): z ~ N(0, I), then E[x | z, y]; (n, C, H, W) in [0, 1] on the CPU."""
        return self.decode_image(self.sample_noise(n, "cpu", generator), self.labels_for(labels, n))


# --------------------------------------------------------------------------- style transfer, measured


@torch.no_grad()
def style_transfer_grid(model: ConditionalVAE, x: torch.Tensor, y: Labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of ``x`` decoded with every label: images (N·K, C, H, W) in [0, 1] and the
    target labels (N·K,), ordered source by source (the K transfers of ``x[0]`` first, for
    targets 0 … K − 1, then those of ``x[1]``, …). Show it with ``nrow=K``: one row per
    source image, one column per target digit."""
    K = model.config.n_classes
    y = model.labels_for(y, len(x))
    z = model.encode_mean(x, y)  # (N, L)
    z_all = z.repeat_interleave(K, dim=0)  # (N·K, L): each code K times in a row
    targets = torch.arange(K).repeat(len(x))  # (N·K,): 0 … K − 1 for every source
    return model.decode_image(z_all, targets), targets
