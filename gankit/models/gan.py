"""Multilayer-perceptron GAN for low-dimensional data (lesson 01).

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.

The generator G maps noise z ~ N(0, I) to a point x; the discriminator D maps a point to
one *logit*: D(x) = sigmoid(logit). Keeping D's output as a logit (no sigmoid inside the
model) lets the losses use the numerically stable log-sigmoid form, the same thing
``BCEWithLogitsLoss`` does. The hidden layers use LeakyReLU: a sigmoid or tanh in a hidden
layer saturates and its gradient vanishes, one of the classic GAN mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit.models._parts import NoiseSampler
from gankit.utils import check_positive_int, eval_mode

__all__ = ["NoiseSampler", "MLPGeneratorConfig", "MLPGenerator", "MLPDiscriminatorConfig", "MLPDiscriminator", "MLPStack"]


def _mlp(in_dim: int, hidden_dim: int, n_hidden: int, out_dim: int, slope: float) -> nn.Sequential:
    """in → [Linear → LeakyReLU] × n_hidden → Linear → out."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden_dim), nn.LeakyReLU(slope)]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        check_positive_int(getattr(config, name), f"{type(config).__name__}.{name}")


@dataclass
class MLPGeneratorConfig:
    latent_dim: int = 2  # size of the noise vector z
    data_dim: int = 2  # size of a generated point x
    hidden_dim: int = 128
    n_hidden: int = 3  # number of hidden layers
    leaky_slope: float = 0.2


class MLPGenerator(NoiseSampler, nn.Module):
    """G(z): noise (B, latent_dim) → points (B, data_dim). The last layer is linear, so
    G can put points anywhere in the plane."""

    config_class = MLPGeneratorConfig

    def __init__(self, config: MLPGeneratorConfig | None = None):
        super().__init__()
        self.config = config = config or MLPGeneratorConfig()
        _check_positive(config, "latent_dim", "data_dim", "hidden_dim", "n_hidden")
        self.net = _mlp(config.latent_dim, config.hidden_dim, config.n_hidden, config.data_dim, config.leaky_slope)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"MLPGenerator expects noise of shape (batch, {self.config.latent_dim}), got {tuple(z.shape)}."
            )
        return self.net(z)  # (B, data_dim)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n generated points (on the CPU), drawn with the model in eval mode."""
        with eval_mode(self):
            x = self(self.sample_noise(n, generator=generator)).cpu()
        return x


@dataclass
class MLPDiscriminatorConfig:
    data_dim: int = 2
    hidden_dim: int = 128
    n_hidden: int = 3
    leaky_slope: float = 0.2


class MLPDiscriminator(nn.Module):
    """D(x): points (B, data_dim) → one logit per point, shape (B,).
    The probability "x is real" is ``torch.sigmoid(D(x))``."""

    config_class = MLPDiscriminatorConfig

    def __init__(self, config: MLPDiscriminatorConfig | None = None):
        super().__init__()
        self.config = config = config or MLPDiscriminatorConfig()
        _check_positive(config, "data_dim", "hidden_dim", "n_hidden")
        self.net = _mlp(config.data_dim, config.hidden_dim, config.n_hidden, 1, config.leaky_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(
                f"MLPDiscriminator expects points of shape (batch, {self.config.data_dim}), got {tuple(x.shape)}."
            )
        return self.net(x).squeeze(1)  # (B, 1) → (B,)

    @torch.no_grad()
    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """D's belief that each point is real, sigmoid(logit), in eval mode, on the CPU."""
        with eval_mode(self):
            device = next(self.parameters()).device
            p = torch.sigmoid(self(x.to(device))).cpu()
        return p


class MLPStack(NoiseSampler, nn.Module):
    """K MLP generators (or K discriminators) of one shape, trained side by side as one module.

    Row i of every batch belongs to member i mod K: ``forward`` sends each row through its own
    member's weights (stacked into (K, in, out) tensors, one batched matmul per layer) and
    puts the rows back in order. Every loss in :mod:`gankit.train` is a mean over rows and
    WGAN-GP's interpolation weight and gradient norm are per row, so training a stack of
    generators against a stack of discriminators with batch size K·B is K independent GANs,
    each with batch size B (Adam's update does not depend on the loss's 1/K scale) — at a
    fraction of the cost of K runs one after another, because small MLPs leave a CPU idle.

    Only for training: :meth:`unstack` returns ordinary :class:`MLPGenerator` /
    :class:`MLPDiscriminator` models with the trained weights, to sample, plot and save.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members or any(type(m) is not type(members[0]) or m.config != members[0].config for m in members):
            raise ValueError("MLPStack needs a non-empty list of models of one class with equal configs, "
                             "e.g. [MLPGenerator(cfg) for seed in seeds].")
        if not isinstance(members[0], (MLPGenerator, MLPDiscriminator)):
            raise ValueError(f"MLPStack stacks MLPGenerator or MLPDiscriminator models, got {type(members[0]).__name__}.")
        self.member_class, self.config, self.k = type(members[0]), members[0].config, len(members)
        layers = [[layer for layer in m.net if isinstance(layer, nn.Linear)] for m in members]
        self.weights = nn.ParameterList(  # layer j: (K, in, out)
            nn.Parameter(torch.stack([ls[j].weight.detach().t() for ls in layers])) for j in range(len(layers[0])))
        self.biases = nn.ParameterList(  # layer j: (K, 1, out)
            nn.Parameter(torch.stack([ls[j].bias.detach() for ls in layers])[:, None, :]) for j in range(len(layers[0])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_dim = self.weights[0].shape[1]
        if x.ndim != 2 or x.shape[1] != in_dim or x.shape[0] % self.k:
            raise ValueError(f"MLPStack of {self.k} expects a batch (B, {in_dim}) with B a multiple of {self.k} "
                             f"(row i goes to member i mod {self.k}), got {tuple(x.shape)}.")
        h = x.reshape(-1, self.k, in_dim).transpose(0, 1)  # (K, B/K, in): member k's rows k, k+K, ...
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)  # (K, B/K, out)
            if j < len(self.weights) - 1:
                h = nn.functional.leaky_relu(h, self.config.leaky_slope)
        out = h.transpose(0, 1).reshape(x.shape[0], -1)  # back to row order: (B, out)
        return out if self.member_class is MLPGenerator else out.squeeze(1)

    def unstack(self) -> list[nn.Module]:
        """The K members as ordinary models (on the CPU) holding the trained weights."""
        members = []
        for k in range(self.k):
            model = self.member_class(self.config)
            with torch.no_grad():
                linears = [layer for layer in model.net if isinstance(layer, nn.Linear)]
                for layer, w, b in zip(linears, self.weights, self.biases):
                    layer.weight.copy_(w[k].t())
                    layer.bias.copy_(b[k, 0])
            members.append(model)
        return members
