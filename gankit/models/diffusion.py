"""Diffusion and flow matching: from noise to data, one small step at a time (lesson 12).

Papers, in the order this file follows them:

* J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020
  (arXiv:2006.11239) — DDPM: the forward process, the ε-prediction loss, ancestral sampling;
* A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021
  (arXiv:2102.09672) — the cosine noise schedule;
* J. Song, C. Meng, S. Ermon, "Denoising Diffusion Implicit Models", ICLR 2021
  (arXiv:2010.02502) — DDIM: the same trained network, sampled in few deterministic steps;
* Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel, M. Le, "Flow Matching for Generative
  Modeling", ICLR 2023 (arXiv:2210.02747), and X. Liu, C. Gong, Q. Liu, "Flow Straight and
  Fast: Learning to Generate and Transfer Data with Rectified Flow", ICLR 2023
  (arXiv:2209.03003) — flow matching on straight paths, sampled with Euler steps;
* J. Ho, T. Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop
  (arXiv:2207.12598) — one network, conditional and unconditional, and the guided mix.

**Conventions** (one for the whole file, so that both families read the same way):

* time runs from the data to the noise. DDPM's integer steps are the paper's own,
  t = 0 (x₀, the data) … T (pure noise); every schedule tensor has T + 1 entries and index
  0 is "no noise" (β₀ = 0, ᾱ₀ = 1), so ``schedule.alpha_bars[t]`` is the paper's ᾱ_t.
* flow matching uses continuous t ∈ [0, 1] in the same direction:
  x_t = (1 − t)·x₀ + t·ε (t = 0 data, t = 1 noise), the convention of rectified flow as
  Stable Diffusion 3 uses it (Esser et al., 2024, arXiv:2403.03206). Lipman et al. and Liu
  et al. run their time the other way (t = 1 is data); only the sign of the velocity and
  the direction of the sampler change.
* a denoiser network is called ``model(x_t, t, labels)`` with t a *fraction* in [0, 1]
  (DDPM's step t is given as t / T), so one network serves both objectives.
* labels are 0 … n_classes − 1, and ``n_classes`` itself means "no label": the entry that
  classifier-free guidance trains with the label dropped (``model.null_label``).

Simplifications: the reverse variance is the posterior's β̃_t (Ho et al. tried β_t and β̃_t
and found them alike; β̃₁ = 0, so the last step adds no noise); flow matching draws t
uniformly.

The denoisers follow the maths: :class:`MLPDenoiser` for 2-D points here, the small U-Net
for 28×28 digits in :mod:`gankit.models.unet`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gankit.models._parts import check_labels
from gankit.utils import check_positive_int, eval_mode

__all__ = [
    "NoiseSchedule",
    "linear_schedule",
    "cosine_schedule",
    "make_schedule",
    "SCHEDULES",
    "OBJECTIVES",
    "q_mean_std",
    "q_sample",
    "q_step",
    "predict_x0",
    "eps_loss",
    "flow_interpolate",
    "flow_velocity",
    "flow_loss",
    "diffusion_loss",
    "guided_prediction",
    "predict",
    "ddpm_step",
    "ddim_step",
    "sample_ddpm",
    "sample_ddim",
    "sample_flow",
    "timestep_embedding",
    "Denoiser",
    "MLPDenoiserConfig",
    "MLPDenoiser",
]

SCHEDULES = ("linear", "cosine")
OBJECTIVES = ("eps", "flow")


# --------------------------------------------------------------------------- (1) noise schedules


@dataclass(frozen=True)
class NoiseSchedule:
    """How much noise each of the T steps of the forward process adds (Ho et al. 2020, §2).

    Step t adds Gaussian noise of variance β_t and shrinks the signal by √(1 − β_t):

        α_t = 1 − β_t,        ᾱ_t = Π_{s=1}^{t} α_s       (ᾱ₀ = 1: no noise yet).

    ᾱ_t is the share of the signal's variance left after t steps; ``snr`` is the
    signal-to-noise ratio ᾱ_t / (1 − ᾱ_t). Each tensor holds T + 1 values, index 0 the clean
    data (float64, so that products of a thousand factors stay exact).
    """

    name: str
    betas: torch.Tensor  # (T + 1,): β₀ = 0, β₁ … β_T
    alphas: torch.Tensor  # (T + 1,): α_t = 1 − β_t
    alpha_bars: torch.Tensor  # (T + 1,): ᾱ_t, from 1 down to nearly 0

    @property
    def timesteps(self) -> int:
        """T, the number of noising steps."""
        return len(self.betas) - 1

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) for t = 1 … T (ᾱ₀ = 1 would be infinite)."""
        ab = self.alpha_bars[1:]
        return ab / (1 - ab)

    def __repr__(self) -> str:
        return (f"NoiseSchedule({self.name!r}, T={self.timesteps}, ᾱ_1={self.alpha_bars[1].item():.5f}, "
                f"ᾱ_T={self.alpha_bars[-1].item():.2e})")


def _from_betas(name: str, betas: torch.Tensor) -> NoiseSchedule:
    betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas.double()])  # β₀ = 0
    alphas = 1 - betas
    return NoiseSchedule(name, betas, alphas, torch.cumprod(alphas, 0))


def linear_schedule(timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
    """Ho et al. 2020 (§4): β_t rises linearly from β₁ = 1e-4 to β_T = 0.02 over T = 1000 steps.

        β_t = β₁ + (t − 1)/(T − 1) · (β_T − β₁),     ᾱ_T ≈ 4·10⁻⁵ for T = 1000.

    For another T the end points are scaled by 1000 / T (as in Nichol & Dhariwal's code), so
    that the total noise, and ᾱ_T, stay about the same.
    """
    check_positive_int(timesteps, "timesteps")
    scale = 1000 / timesteps
    return _from_betas("linear", torch.linspace(beta_start * scale, min(beta_end * scale, 0.999), timesteps,
                                                dtype=torch.float64))


def cosine_schedule(timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """Nichol & Dhariwal 2021 (eq. 17): ᾱ_t follows a squared cosine,

        ᾱ_t = f(t) / f(0),    f(t) = cos²( (t/T + s) / (1 + s) · π/2 ),
        β_t = 1 − ᾱ_t / ᾱ_{t−1}, clipped to ``max_beta`` = 0.999 (near t = T).

    Compared with the linear schedule it destroys the signal more slowly at the start, so
    fewer steps are wasted on nearly pure noise; ᾱ_T ≈ 0 (to within the clipping).
    """
    check_positive_int(timesteps, "timesteps")
    t = torch.arange(timesteps + 1, dtype=torch.float64)
    f = torch.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return _from_betas("cosine", betas)


@functools.lru_cache(maxsize=16)
def make_schedule(name: str = "cosine", timesteps: int = 1000) -> NoiseSchedule:
    """The schedule called ``name`` ("linear" or "cosine") with ``timesteps`` steps (cached)."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got {name!r}.")
    return linear_schedule(timesteps) if name == "linear" else cosine_schedule(timesteps)


def _steps(t: torch.Tensor | int, n: int, schedule: NoiseSchedule, lowest: int = 0) -> torch.Tensor:
    """``t`` as a (n,) long tensor of steps in lowest … T, or a ValueError that says why not."""
    T = schedule.timesteps
    t = torch.as_tensor(t)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"t must be integer steps {lowest} … {T} (DDPM's t; for flow matching's t in [0, 1] "
                         f"use flow_interpolate), got a {t.dtype} tensor.")
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"t must be one step per example, shape ({n},), or a single step; got {tuple(t.shape)}.")
    if n and (t.min() < lowest or t.max() > T):
        raise ValueError(f"t must lie in {lowest} … {T} for this schedule of T = {T} steps "
                         f"(0: the data itself, {T}: pure noise); got steps from {int(t.min())} to {int(t.max())}.")
    return t.long()


def _per_example(values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """values[t] shaped to broadcast over x: (B,) → (B, 1, …, 1), in x's dtype and device."""
    return values[t.cpu()].to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.ndim - 1)))


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")


# --------------------------------------------------------------------------- (2) the forward process q(x_t | x_0)


def q_mean_std(x0: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and standard deviation of q(x_t | x₀) in closed form (Ho et al. 2020, eq. 4):

        q(x_t | x₀) = N( √ᾱ_t · x₀ ,  (1 − ᾱ_t) · I ).

    Running t noising steps one after another gives the same Gaussian as this one jump —
    the property that makes training cheap (any t, one draw). Returns (mean, std), std shaped
    (B, 1, …) to broadcast over x₀.
    """
    t = _steps(t, len(x0), schedule)
    ab = _per_example(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0, (1 - ab).sqrt()


def q_sample(x0: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule, noise: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """A draw from q(x_t | x₀) (Ho et al. 2020, eq. 4, reparameterised as in §3.2):

        x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε,     ε ~ N(0, I).

    ``t`` is one integer step (0 … T) per example, or one for all; ``noise`` is ε (drawn
    when not given). Pass the same ε to the loss: it is the network's target.
    """
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    _check_same_shape(x0, noise, "x0 and noise")
    mean, std = q_mean_std(x0, t, schedule)
    return mean + std * noise


def q_step(x_prev: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule,
           noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One step of the noising chain (Ho et al. 2020, eq. 2):

        q(x_t | x_{t−1}) = N( √(1 − β_t) · x_{t−1},  β_t · I ),   t = 1 … T.

    Applying it for t = 1, 2, …, t reaches the same distribution as :func:`q_sample` in one
    jump (the lesson and the tests check this).
    """
    t = _steps(t, len(x_prev), schedule, lowest=1)
    if noise is None:
        noise = torch.randn(x_prev.shape, generator=generator, dtype=x_prev.dtype).to(x_prev.device)
    _check_same_shape(x_prev, noise, "x_prev and noise")
    beta = _per_example(schedule.betas, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule) -> torch.Tensor:
    """x₀ recovered from x_t and its noise ε, eq. 4 solved for x₀ (Ho et al. 2020, eq. 15):

        x̂₀ = ( x_t − √(1 − ᾱ_t) · ε ) / √ᾱ_t.

    With the true ε this is x₀ exactly; with a network's guess it is the network's
    current idea of the clean data.
    """
    _check_same_shape(x_t, eps, "x_t and eps")
    t = _steps(t, len(x_t), schedule)
    ab = _per_example(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


# --------------------------------------------------------------------------- (3) learning to denoise


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def _drop_labels(model: nn.Module, labels: torch.Tensor | None, p_uncond: float,
                 generator: torch.Generator | None) -> torch.Tensor | None:
    """Classifier-free guidance's training trick (Ho & Salimans, Algorithm 1): replace each
    label by "no label" (``model.null_label``) with probability ``p_uncond``."""
    if labels is None or p_uncond == 0:
        return labels
    drop = (torch.rand(labels.shape, generator=generator) < p_uncond).to(labels.device)
    return torch.where(drop, torch.full_like(labels, model.null_label), labels)


def eps_loss(model: nn.Module, x0: torch.Tensor, schedule: NoiseSchedule, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM's simplified loss (Ho et al. 2020, eq. 14, Algorithm 1):

        L_simple = E_{t, x₀, ε} ‖ ε − ε_θ( √ᾱ_t x₀ + √(1 − ᾱ_t) ε,  t ) ‖²,

    with t uniform on 1 … T and ε ~ N(0, I): the network is shown a noised example and
    asked which noise was added. The mean over the batch and over every coordinate.
    The network sees the time as the fraction t / T.
    """
    T = schedule.timesteps
    t = torch.randint(1, T + 1, (len(x0),), generator=generator)  # 1 … T: never the clean data
    eps = _noise_like(x0, generator)
    x_t = q_sample(x0, t, schedule, eps)
    return F.mse_loss(model(x_t, (t.float() / T).to(x0.device), labels), eps)


def flow_interpolate(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """The straight path from data to noise (Liu et al. 2023, eq. 1; Lipman et al. 2023, §4.1
    with σ_min = 0), in this file's direction (t = 0 data, t = 1 noise):

        x_t = (1 − t) · x₀ + t · ε,     t ∈ [0, 1].
    """
    _check_same_shape(x0, eps, "x0 and eps")
    t = torch.as_tensor(t, dtype=x0.dtype, device=x0.device)
    if t.ndim == 0:
        t = t.expand(len(x0))
    if t.shape != (len(x0),):
        raise ValueError(f"t must be one time per example, shape ({len(x0)},), or a single time; got {tuple(t.shape)}.")
    if len(t) and (t.min() < 0 or t.max() > 1):
        raise ValueError(f"flow matching's t must lie in [0, 1] (0: data, 1: noise); got {t.min().item():.3g} "
                         f"to {t.max().item():.3g}.")
    t = t.view(-1, *([1] * (x0.ndim - 1)))
    return (1 - t) * x0 + t * eps


def flow_velocity(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The velocity of the straight path, the network's target (Liu et al. 2023, eq. 1;
    Lipman et al. 2023, eq. 23 with σ_min = 0):

        v = d x_t / d t = ε − x₀        (the same at every t: the path is straight).

    The sampler runs the path backwards, from noise at t = 1 to data at t = 0.
    """
    _check_same_shape(x0, eps, "x0 and eps")
    return eps - x0


def flow_loss(model: nn.Module, x0: torch.Tensor, labels: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Conditional flow matching (Lipman et al. 2023, eq. 23; Liu et al. 2023, eq. 1):

        L = E_{t ~ U[0,1], x₀, ε} ‖ (ε − x₀) − v_θ( (1 − t) x₀ + t ε,  t ) ‖².

    The mean over the batch and every coordinate.
    """
    t = torch.rand(len(x0), generator=generator, dtype=x0.dtype).to(x0.device)
    eps = _noise_like(x0, generator)
    return F.mse_loss(model(flow_interpolate(x0, eps, t), t, labels), flow_velocity(x0, eps))


def diffusion_loss(model: nn.Module, x0: torch.Tensor, labels: torch.Tensor | None = None, *,
                   objective: Literal["eps", "flow"] = "eps", schedule: NoiseSchedule | None = None,
                   p_uncond: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training loss of ``objective``: :func:`eps_loss` (with ``schedule``) or
    :func:`flow_loss`; with labels, each is dropped to "no label" with probability
    ``p_uncond`` first (classifier-free guidance's training)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(map(repr, OBJECTIVES))}, got {objective!r}.")
    if not 0 <= p_uncond < 1:
        raise ValueError(f"p_uncond must be in [0, 1) (Ho & Salimans use 0.1 or 0.2), got {p_uncond}.")
    labels = _drop_labels(model, labels, p_uncond, generator)
    if objective == "flow":
        return flow_loss(model, x0, labels, generator)
    if schedule is None:
        raise ValueError("objective='eps' needs a noise schedule, e.g. make_schedule('cosine', 1000).")
    return eps_loss(model, x0, schedule, labels, generator)


# --------------------------------------------------------------------------- (4) classifier-free guidance


def guided_prediction(pred_cond: torch.Tensor, pred_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6):

        ε̃ = (1 + w) · ε_θ(x_t, y) − w · ε_θ(x_t)  =  ε_θ(x_t, y) + w · (ε_θ(x_t, y) − ε_θ(x_t)).

    w = 0 is the plain conditional prediction; w > 0 pushes further from the unconditional
    one, towards what makes the sample look like its label (more fidelity, less diversity).
    (Other code writes ε_u + s·(ε_c − ε_u): that s is this 1 + w.) The same mix works for a
    flow's velocity.
    """
    _check_same_shape(pred_cond, pred_uncond, "pred_cond and pred_uncond")
    return pred_cond + w * (pred_cond - pred_uncond)


def predict(model: nn.Module, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
            guidance: float = 0.0) -> torch.Tensor:
    """The network's prediction (ε or velocity) at time fraction ``t``, guided with weight
    ``guidance`` when labels are given: conditional and unconditional passes are run as one
    batch of 2B, then mixed by :func:`guided_prediction`."""
    if labels is None or guidance == 0:
        return model(x, t, labels)
    null = torch.full_like(labels, model.null_label)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
    pred_cond, pred_uncond = both.chunk(2)
    return guided_prediction(pred_cond, pred_uncond, guidance)


# --------------------------------------------------------------------------- (5) sampling: one step


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, schedule: NoiseSchedule,
              noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One step of ancestral sampling, x_t → x_{t−1} (Ho et al. 2020, Algorithm 2, eq. 11):

        x_{t−1} = 1/√α_t · ( x_t − β_t / √(1 − ᾱ_t) · ε_θ(x_t, t) ) + σ_t · z,   z ~ N(0, I),

    with σ_t² = β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, the variance of the true posterior
    q(x_{t−1} | x_t, x₀) (eq. 7); β̃₁ = 0, so the last step adds no noise.
    """
    _check_same_shape(x_t, eps, "x_t and eps")
    if not isinstance(t, int) or not 1 <= t <= schedule.timesteps:
        raise ValueError(f"ddpm_step's t must be an int in 1 … {schedule.timesteps}, got {t!r}.")
    beta, alpha, ab, ab_prev = (float(v) for v in (schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t],
                                                     schedule.alpha_bars[t - 1]))
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    var = (1 - ab_prev) / (1 - ab) * beta
    if var == 0:
        return mean
    if noise is None:
        noise = _noise_like(x_t, generator)
    return mean + math.sqrt(var) * noise


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, s: int, schedule: NoiseSchedule, eta: float = 0.0,
              noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
              clip_x0: float | None = None) -> torch.Tensor:
    """One DDIM step from step t down to any earlier step s (Song et al. 2021, eq. 12):

        x̂₀  = ( x_t − √(1 − ᾱ_t) ε_θ ) / √ᾱ_t                       (predicted data)
        x_s = √ᾱ_s · x̂₀  +  √(1 − ᾱ_s − σ²) · ε_θ  +  σ · z,
        σ   = η · √( (1 − ᾱ_s)/(1 − ᾱ_t) ) · √( 1 − ᾱ_t/ᾱ_s )          (eq. 16).

    η = 0: deterministic (DDIM proper); η = 1 with s = t − 1 is DDPM's ancestral step. With
    s = 0 (ᾱ₀ = 1) the step lands on x̂₀: a perfect ε-predictor gives x₀ in one step.
    ``clip_x0`` clamps x̂₀ to [−clip_x0, clip_x0] (1.0 for images scaled to [−1, 1]).
    """
    _check_same_shape(x_t, eps, "x_t and eps")
    T = schedule.timesteps
    if not (isinstance(t, int) and isinstance(s, int) and 0 <= s < t <= T):
        raise ValueError(f"ddim_step goes from step t to an earlier step s, 0 ≤ s < t ≤ {T}; got t={t!r}, s={s!r}.")
    if eta < 0:
        raise ValueError(f"eta must be ≥ 0 (0: deterministic DDIM, 1: DDPM-like), got {eta}.")
    ab_t, ab_s = float(schedule.alpha_bars[t]), float(schedule.alpha_bars[s])
    x0_hat = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        eps = (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(1 - ab_t)  # the noise that the clipped x̂₀ implies
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    x_s = math.sqrt(ab_s) * x0_hat + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * eps
    if sigma > 0:
        x_s = x_s + sigma * (noise if noise is not None else _noise_like(x_t, generator))
    return x_s


# --------------------------------------------------------------------------- (6) sampling: the whole way


def _start(model: nn.Module, n: int, labels: torch.Tensor | None, generator: torch.Generator | None):
    """Pure noise x_T ~ N(0, I) of the model's data shape, and the checked labels."""
    check_positive_int(n, "n (the number of samples)")
    device = next(model.parameters()).device
    if labels is not None:
        if getattr(model, "null_label", None) is None:
            raise ValueError(f"{type(model).__name__} was built without labels (n_classes=0); sample without labels, "
                             f"or build it with n_classes=... and train it on (images, labels).")
        labels = check_labels(torch.as_tensor(labels), n, model.config.n_classes,
                              f"Sampling from {type(model).__name__}").to(device)
    x = torch.randn((n, *model.data_shape), generator=generator).to(device)
    return x, labels, device


def _check_sampler(steps: int, guidance: float) -> None:
    check_positive_int(steps, "steps (sampling steps)")
    if guidance < 0:
        raise ValueError(f"guidance must be ≥ 0 (0: plain conditional), got {guidance}.")


@torch.no_grad()
def sample_ddpm(model: nn.Module, n: int, schedule: NoiseSchedule, *, labels: torch.Tensor | None = None,
                guidance: float = 0.0, generator: torch.Generator | None = None, trajectory: bool = False):
    """n samples by ancestral sampling (Ho et al. 2020, Algorithm 2): x_T ~ N(0, I), then
    :func:`ddpm_step` for t = T, T − 1, …, 1 — T network evaluations.

    ``labels`` (n,) ask for classes, with classifier-free ``guidance`` w (0: conditional).
    Returns the samples on the CPU; with ``trajectory=True`` also the list of every x_t
    (x_T first, x₀ last) on the CPU.
    """
    _check_sampler(schedule.timesteps, guidance)
    x, labels, device = _start(model, n, labels, generator)
    T = schedule.timesteps
    path = [x.cpu()] if trajectory else None
    with eval_mode(model):
        for t in range(T, 0, -1):
            eps = predict(model, x, torch.full((n,), t / T, device=device), labels, guidance)
            x = ddpm_step(x, eps, t, schedule, generator=generator)
            if path is not None:
                path.append(x.cpu())
    return (x.cpu(), path) if trajectory else x.cpu()


@torch.no_grad()
def sample_ddim(model: nn.Module, n: int, schedule: NoiseSchedule, steps: int = 50, *, eta: float = 0.0,
                labels: torch.Tensor | None = None, guidance: float = 0.0, generator: torch.Generator | None = None,
                clip_x0: float | None = None, trajectory: bool = False):
    """n samples with DDIM (Song et al. 2021, §4.2): the same ε-network, visited at ``steps``
    evenly spaced steps τ_S > … > τ₁ = 1, then one last :func:`ddim_step` to τ₀ = 0.
    ``eta = 0`` is deterministic: the same noise always gives the same sample.

    The steps are Song et al.'s uniform subsequence, τ_i = 1 + ⌊(i − 1)·T / S⌋ (their code's
    ``range(0, T, T // S)``, counted from 1), so the top step T itself is visited only when
    S = T. That matters where ᾱ_T ≈ 0, as in the cosine schedule (ᾱ_T ≈ 2·10⁻⁹): a first
    step from T would compute x̂₀ = (x_T − √(1 − ᾱ_T) ε_θ) / √ᾱ_T, dividing the network's
    small error in ε by √ᾱ_T and throwing the samples far off the data.
    Returns as :func:`sample_ddpm`.
    """
    _check_sampler(steps, guidance)
    T = schedule.timesteps
    if steps > T:
        raise ValueError(f"steps must be at most the schedule's T = {T}, got {steps}.")
    x, labels, device = _start(model, n, labels, generator)
    taus = [1 + (i * T) // steps for i in reversed(range(steps))] + [0]  # τ_S … τ₁ = 1, then 0
    path = [x.cpu()] if trajectory else None
    with eval_mode(model):
        for t, s in zip(taus[:-1], taus[1:]):
            eps = predict(model, x, torch.full((n,), t / T, device=device), labels, guidance)
            x = ddim_step(x, eps, t, s, schedule, eta, generator=generator, clip_x0=clip_x0)
            if path is not None:
                path.append(x.cpu())
    return (x.cpu(), path) if trajectory else x.cpu()


@torch.no_grad()
def sample_flow(model: nn.Module, n: int, steps: int = 50, *, labels: torch.Tensor | None = None,
                guidance: float = 0.0, generator: torch.Generator | None = None, trajectory: bool = False):
    """n samples from a flow-matching network: Euler steps along the learned velocity from
    noise at t = 1 back to data at t = 0 (Liu et al. 2023, §2; Lipman et al. 2023, §6):

        x_{t − Δt} = x_t − Δt · v_θ(x_t, t),     Δt = 1 / steps.

    On perfectly straight paths one step would be exact; in practice tens are enough.
    Returns as :func:`sample_ddpm`.
    """
    _check_sampler(steps, guidance)
    x, labels, device = _start(model, n, labels, generator)
    times = torch.linspace(1, 0, steps + 1).tolist()
    path = [x.cpu()] if trajectory else None
    with eval_mode(model):
        for t, t_next in zip(times[:-1], times[1:]):
            v = predict(model, x, torch.full((n,), t, device=device), labels, guidance)
            x = x + (t_next - t) * v  # t_next < t: a step back towards the data
            if path is not None:
                path.append(x.cpu())
    return (x.cpu(), path) if trajectory else x.cpu()


# --------------------------------------------------------------------------- (7) the networks' shared parts


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of the time (Vaswani et al. 2017's positions, as DDPM uses them):
    for a time fraction t ∈ [0, 1], scaled to p = 1000·t,

        [ sin(p·ω_0), …, sin(p·ω_{d/2−1}), cos(p·ω_0), …, cos(p·ω_{d/2−1}) ],
        ω_i = max_period^(−i/(d/2)).

    (B,) → (B, dim). Slow and fast waves together let the network tell nearby times apart.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)  # (B, dim)


class Denoiser:
    """What every denoiser of the kit shares, mixed into an ``nn.Module`` whose config has
    ``n_classes`` (0: no labels): checking its inputs, the "no label" entry, and the loss.

    A denoiser is called ``model(x_t, t, labels=None)``: x_t (B, *data_shape), t (B,) time
    fractions in [0, 1], labels (B,) in 0 … n_classes (n_classes = no label) or None; it
    returns a prediction of x_t's shape — the noise ε or the velocity v, depending on the
    objective it was trained with.
    """

    data_shape: tuple[int, ...]

    @property
    def null_label(self) -> int | None:
        """The label index that means "no label" (= n_classes), or None for a model without labels."""
        return self.config.n_classes if self.config.n_classes else None

    def _check_inputs(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        name = type(self).__name__
        if (not isinstance(x, torch.Tensor) or x.ndim != len(self.data_shape) + 1
                or tuple(x.shape[1:]) != self.data_shape):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} expects x of shape (batch, {', '.join(map(str, self.data_shape))}), got {got}.")
        if not isinstance(t, torch.Tensor) or t.shape != (len(x),):
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} expects one time per example, t of shape ({len(x)},), got {got}.")
        if len(t) and (t.min() < 0 or t.max() > 1):
            raise ValueError(f"{name} expects time fractions t in [0, 1] (a DDPM step t is given as t / T); "
                             f"got {t.min().item():.3g} to {t.max().item():.3g}.")
        n_classes = self.config.n_classes
        if labels is None:
            return None if not n_classes else torch.full((len(x),), n_classes, dtype=torch.long, device=x.device)
        if not n_classes:
            raise ValueError(f"{name} was built without labels (n_classes=0) but was given labels; build it with "
                             f"n_classes=... to condition on them.")
        if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.shape != (len(x),):
            raise ValueError(f"{name} expects labels as integer class indices of shape ({len(x)},), got a "
                             f"{labels.dtype} tensor of shape {tuple(labels.shape)}.")
        if len(labels) and (labels.min() < 0 or labels.max() > n_classes):
            raise ValueError(f"{name} has n_classes={n_classes}: labels must lie in 0 … {n_classes - 1}, or be "
                             f"{n_classes} for 'no label' (classifier-free guidance); got labels from "
                             f"{int(labels.min())} to {int(labels.max())}.")
        return labels.long()

    def loss(self, x0: torch.Tensor, labels: torch.Tensor | None = None, *, objective: str = "eps",
             schedule: str = "cosine", timesteps: int = 1000, p_uncond: float = 0.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss on a batch ``x0`` (:func:`diffusion_loss`), the schedule given by
        name and T — what :func:`gankit.train.train_diffusion` calls each step. The data's
        labels must be classes (0 … n_classes − 1): "no label" is for the loss to choose."""
        if labels is not None:
            if self.null_label is None:
                raise ValueError(f"{type(self).__name__} was built without labels (n_classes=0) but was given "
                                 f"labels; build it with n_classes=... to train on (examples, labels).")
            check_labels(labels, len(x0), self.config.n_classes, f"{type(self).__name__}'s training data")
        sched = make_schedule(schedule, timesteps) if objective == "eps" else None
        return diffusion_loss(self, x0, labels, objective=objective, schedule=sched, p_uncond=p_uncond,
                              generator=generator)


# --------------------------------------------------------------------------- (8) the denoiser for 2-D points


@dataclass
class MLPDenoiserConfig:
    data_dim: int = 2  # size of a point
    hidden_dim: int = 256
    n_hidden: int = 3  # hidden layers, each told the time
    time_dim: int = 64  # sinusoidal time features
    n_classes: int = 0  # 0: unconditional; else labels 0 … n_classes − 1 (and n_classes = no label)

    def __post_init__(self) -> None:
        for name in ("data_dim", "hidden_dim", "n_hidden", "time_dim"):
            check_positive_int(getattr(self, name), f"MLPDenoiserConfig.{name}")
        if self.time_dim % 2:
            raise ValueError(f"MLPDenoiserConfig.time_dim must be even (sines and cosines), got {self.time_dim}.")
        if not isinstance(self.n_classes, int) or isinstance(self.n_classes, bool) or self.n_classes < 0:
            raise ValueError(f"MLPDenoiserConfig.n_classes must be an int ≥ 0 (0: no labels), got {self.n_classes!r}.")


class MLPDenoiser(Denoiser, nn.Module):
    """ε_θ(x_t, t) or v_θ(x_t, t) for points: (B, data_dim), (B,) → (B, data_dim).

    The time's sinusoidal features go through a small layer (plus a learned vector per
    label, with an extra one for "no label"), and that embedding is added to every hidden
    layer, so each layer knows how noisy its input is:

        e = SiLU(W_e · sin/cos(t)) [+ E[y]],   h₀ = x,   h_i = SiLU(W_i h_{i−1} + U_i e),   out = W_o h_L.
    """

    config_class = MLPDenoiserConfig

    def __init__(self, config: MLPDenoiserConfig | None = None):
        super().__init__()
        self.config = c = config or MLPDenoiserConfig()
        self.data_shape = (c.data_dim,)
        self.time_mlp = nn.Sequential(nn.Linear(c.time_dim, c.time_dim), nn.SiLU())
        self.label_emb = nn.Embedding(c.n_classes + 1, c.time_dim) if c.n_classes else None
        widths = [c.data_dim] + [c.hidden_dim] * c.n_hidden
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.time_proj = nn.ModuleList(nn.Linear(c.time_dim, c.hidden_dim) for _ in range(c.n_hidden))
        self.out = nn.Linear(c.hidden_dim, c.data_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self._check_inputs(x, t, labels)
        e = self.time_mlp(timestep_embedding(t, self.config.time_dim))  # (B, time_dim)
        if self.label_emb is not None:
            e = e + self.label_emb(labels)
        h = x
        for layer, proj in zip(self.layers, self.time_proj):
            h = F.silu(layer(h) + proj(e))  # (B, hidden_dim)
        return self.out(h)  # (B, data_dim)
