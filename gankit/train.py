"""Training loops, written out step by step, each returning a history.

The GAN game (Goodfellow et al., 2014) is

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))].

``train_gan`` plays it with alternating updates: (1) a step of D up the value, then
(2) a step of G. The losses are written in terms of D's *logit* ``a`` (D(x) = σ(a)),
using log σ(a) = −softplus(−a) and log(1 − σ(a)) = −softplus(a), which is exactly what
``BCEWithLogitsLoss`` computes and never takes the log of 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "discriminator_loss",
    "generator_loss_saturating",
    "generator_loss_nonsaturating",
    "GENERATOR_LOSSES",
    "GANObjective",
    "StandardGAN",
    "WGANGP",
    "gradient_penalty",
    "interpolate",
    "GANTrainConfig",
    "History",
    "TrainingDiverged",
    "train_gan",
    "LMTrainConfig",
    "LMHistory",
    "evaluate_lm",
    "train_lm",
    "scheduled_lr",
    "VAETrainConfig",
    "VAEHistory",
    "evaluate_vae",
    "train_vae",
]


# --------------------------------------------------------------------------- losses


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """−V(D, G) on a batch: −[mean log D(x) + mean log(1 − D(G(z)))].

    Minimising it maximises V, so D learns to say "real" (σ → 1) for data and "fake"
    (σ → 0) for samples. Equal to BCE-with-logits with targets 1 for real and 0 for fake.

    ``real_label`` < 1 is **one-sided label smoothing** (Salimans et al., 2016, "Improved
    Techniques for Training GANs"): the target for real examples becomes ``real_label``
    (0.9 is usual), so the real term is −[r·log D(x) + (1 − r)·log(1 − D(x))], whose
    optimum is D(x) = r rather than 1; fakes keep the target 0 (smoothing them too would
    reward D for letting samples near the data pass).
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1] (1: no smoothing; 0.9 is usual), got {real_label!r}.")
    real_term = F.softplus(-real_logits)  # −log σ(a)
    if real_label != 1.0:
        real_term = real_label * real_term + (1 - real_label) * F.softplus(real_logits)  # ... − (1 − r) log(1 − σ(a))
    return real_term.mean() + F.softplus(fake_logits).mean()


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's loss taken straight from the minimax game: mean log(1 − D(G(z))).

    When D confidently rejects the samples (σ(a) ≈ 0, early in training), this is flat —
    its gradient with respect to the logit is −σ(a) ≈ 0 — so G barely learns.
    """
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating loss Goodfellow et al. recommend: mean −log D(G(z)).

    Same fixed point as the saturating loss, but its gradient with respect to the logit is
    −(1 − σ(a)) ≈ −1 exactly when D rejects the samples, so G gets a strong signal early.
    """
    return F.softplus(-fake_logits).mean()


GENERATOR_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "saturating": generator_loss_saturating,
    "nonsaturating": generator_loss_nonsaturating,
}


# --------------------------------------------------------------------------- objectives
#
# train_gan's loop is the same for every GAN in the kit; what differs is how D's and G's
# losses are computed from D's outputs. A small strategy object ("objective") carries that
# difference: the standard GAN (logit losses above) and WGAN-GP (a critic, the Wasserstein
# loss and a gradient penalty) are two objectives run by one loop.


class GANObjective:
    """How the discriminator (or critic) and the generator are scored.

    ``d_loss(critic, real, fake, real_out, fake_out)`` returns (loss, stats), where
    ``critic(x)`` calls D (with the batch's labels, for a conditional GAN) so an objective
    can evaluate D on points of its own (WGAN-GP does, between real and fake), and
    ``stats`` is a dict of extra numbers recorded in ``history.extras`` each step.
    ``g_loss(fake_out)`` returns G's loss. ``probability(out)`` turns D's outputs into the
    number shown as ``history.d_real`` / ``d_fake`` (a probability for a GAN, the raw
    critic score for a WGAN).
    """

    name = "objective"

    def d_loss(self, critic, real, fake, real_out, fake_out) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def probability(self, out: torch.Tensor) -> float:
        return torch.sigmoid(out.detach()).mean().item()


class StandardGAN(GANObjective):
    """Goodfellow et al.'s game on D's logits: :func:`discriminator_loss` for D (with
    one-sided label smoothing when ``real_label`` < 1) and the saturating or non-saturating
    loss for G (or loss functions of your own)."""

    def __init__(self, g_loss: str = "nonsaturating",
                 d_loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 g_loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 real_label: float = 1.0):
        if g_loss not in GENERATOR_LOSSES:
            raise ValueError(f"g_loss must be one of {', '.join(GENERATOR_LOSSES)}, got {g_loss!r}.")
        if d_loss_fn is not None and real_label != 1.0:
            raise ValueError("real_label smooths the default discriminator loss; with a d_loss_fn of your own, "
                             "put the smoothing in that function.")
        discriminator_loss(torch.zeros(1), torch.zeros(1), real_label)  # checks real_label's range now, not at step 1
        self.d_loss_fn = d_loss_fn or (lambda real, fake: discriminator_loss(real, fake, real_label))
        self.real_label = real_label
        self.g_loss_fn = g_loss_fn or GENERATOR_LOSSES[g_loss]
        self.name = "GAN (custom losses)" if d_loss_fn or g_loss_fn else f"GAN ({g_loss})"

    def d_loss(self, critic, real, fake, real_out, fake_out):
        return self.d_loss_fn(real_out, fake_out), {}

    def g_loss(self, fake_out):
        return self.g_loss_fn(fake_out)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Points on straight lines between real and fake examples: x̂ = α·x + (1 − α)·x̃,
    with one α ~ U(0, 1) **per example** (Gulrajani et al., 2017, Algorithm 1), broadcast
    over the example's other dimensions. ``real`` and ``fake`` have the same shape."""
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}.")
    alpha = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator).to(real.device, real.dtype)
    return alpha * real + (1 - alpha) * fake


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP's penalty: E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²] at points x̂ between real and fake.

    The gradient norm is taken **per example** (over all of its dimensions, not over the
    batch); ``create_graph=True`` lets the penalty's own gradient reach the critic's
    weights. Returns (penalty, per-example gradient norms). A 1-Lipschitz critic has
    gradient norm at most 1 everywhere; the optimal critic has norm 1 on these lines.
    """
    x_hat = interpolate(real.detach(), fake.detach(), generator).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean(), norms


class WGANGP(GANObjective):
    """WGAN-GP (Gulrajani et al., 2017): the critic maximises E[D(x)] − E[D(G(z))] (an
    estimate of the Wasserstein-1 distance when D is 1-Lipschitz), so its loss is
    E[D(G(z))] − E[D(x)] + λ·penalty; the generator minimises −E[D(G(z))]. D returns an
    unbounded score (no sigmoid, no batch norm: the penalty is per example).

    ``history.extras`` gets ``wasserstein`` (E[D(x)] − E[D(G(z))], before the update),
    ``gp`` and ``grad_norm`` (mean gradient norm at the interpolates).
    """

    name = "WGAN-GP"

    def __init__(self, lambda_gp: float = 10.0, generator: torch.Generator | None = None):
        if lambda_gp < 0:
            raise ValueError(f"lambda_gp must be ≥ 0, got {lambda_gp}.")
        self.lambda_gp = lambda_gp
        self.generator = generator  # for the interpolation weights; None: the global RNG

    def d_loss(self, critic, real, fake, real_out, fake_out):
        wasserstein = real_out.mean() - fake_out.mean()
        gp, norms = gradient_penalty(critic, real, fake, self.generator)
        stats = {"wasserstein": wasserstein.item(), "gp": gp.item(), "grad_norm": norms.mean().item()}
        return -wasserstein + self.lambda_gp * gp, stats

    def g_loss(self, fake_out):
        return -fake_out.mean()

    def probability(self, out):
        return out.detach().mean().item()


# --------------------------------------------------------------------------- config, history


@dataclass
class GANTrainConfig:
    steps: int = 3000  # generator updates
    batch_size: int = 256
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam; β1 = 0.5 as in DCGAN (Radford et al.)
    d_steps: int = 1  # D updates per G update
    g_loss: Literal["nonsaturating", "saturating"] = "nonsaturating"
    snapshot_every: int = 0  # call snapshot_fn every N steps (0: never)
    progress: bool = True  # show a tqdm progress bar
    seed: int | None = None  # seeds the batch sampling and noise; None: the global RNG
    lr_schedule: Literal["constant", "linear"] = "constant"  # linear: both lrs decay to 0 at the last step

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError(f"lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}.")
        if self.g_loss not in GENERATOR_LOSSES:
            raise ValueError(f"g_loss must be one of {', '.join(GENERATOR_LOSSES)}, got {self.g_loss!r}.")
        for name in ("steps", "batch_size", "d_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GANTrainConfig.{name} must be a positive int, got {value!r}.")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be ≥ 0, got {self.snapshot_every}.")


@dataclass
class History:
    """What happened during training, one entry per generator step.

    ``d_real`` and ``d_fake`` are the mean of D's probability on the real and generated
    batch (before D's update): a D that wins pushes them towards 1 and 0; at the game's
    equilibrium both sit at 0.5.
    """

    step: list[int] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    extras: dict[str, list[float]] = field(default_factory=dict)  # objective-specific, e.g. WGAN-GP's "gp"
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def __len__(self) -> int:
        return len(self.step)

    def as_dict(self) -> dict[str, Any]:
        """The curves as plain lists (for checkpoints metadata or JSON); snapshots left out."""
        keys = ("step", "d_loss", "g_loss", "d_real", "d_fake", "extras", "seconds", "interrupted")
        return {k: getattr(self, k) for k in keys}


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite. ``history`` holds every completed step; the update
    computed from the bad loss is never applied (the message says which weights remain)."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def _diverged(name: str, value: float, step: int, history: History, kept: str) -> TrainingDiverged:
    return TrainingDiverged(
        f"{name} became {value} at step {step}; training stopped and {kept}. Likely causes: a learning rate that is too high, a "
        f"log of 0 (use the logit losses in gankit.train, or BCEWithLogitsLoss, rather than "
        f"log(sigmoid(...)) or BCELoss on raw outputs), or NaNs in the data. "
        f"The history so far is on this error's .history.",
        history,
    )


# --------------------------------------------------------------------------- the loop


def _check_gan_data(data: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(examples, labels or None) from ``data``: a tensor, or a pair (examples, int labels)."""
    labels = None
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data must be a tensor of examples or a pair (examples, labels); got {len(data)} items.")
        data, labels = data
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point:
            raise ValueError("labels must be a 1-D tensor of integer class indices (0 … n_classes − 1).")
        if isinstance(data, torch.Tensor) and len(labels) != len(data):
            raise ValueError(f"{len(data)} examples but {len(labels)} labels; give one label per example.")
        if len(labels) and labels.min() < 0:
            raise ValueError(f"labels must be ≥ 0, got {labels.min().item()}.")
    if not isinstance(data, torch.Tensor) or data.ndim < 2 or len(data) == 0:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a non-empty tensor of examples, shape (N, ...); got {shape}.")
    if not torch.isfinite(data).all():
        raise ValueError("data contains NaN or inf values; clean it before training.")
    return data, labels


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    config: GANTrainConfig | None = None,
    device: torch.device | str | None = None,
    snapshot_fn: Callable[[nn.Module, nn.Module, int], Any] | None = None,
    d_loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    g_loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    objective: GANObjective | None = None,
) -> History:
    """Train a GAN on ``data`` (a tensor of real examples, first dimension = examples).

    ``generator`` needs ``sample_noise(n, device, generator)`` and ``forward(z)``;
    ``discriminator`` returns one logit (or critic score) per example. Both are moved to
    ``device`` (default: where the generator already is). Every ``config.snapshot_every``
    steps, ``snapshot_fn(G, D, step)`` is called and its result kept in
    ``history.snapshots`` (by default: 512 samples from a fixed noise batch, on the CPU).

    **Conditional GANs**: pass ``data=(examples, labels)`` with integer labels; the loop
    then calls ``G(z, y)`` and ``D(x, y)``. Fake examples get labels drawn from the data's
    own labels (so classes appear as often as in the data); the default snapshots use
    labels 0, 1, 2, … cycling over the classes.

    **Objectives**: ``objective`` chooses how D and G are scored — :class:`StandardGAN`
    (the default, with ``config.g_loss``) or :class:`WGANGP`. ``d_loss_fn(real_logits,
    fake_logits)`` and ``g_loss_fn(fake_logits)`` are a shortcut for a StandardGAN with
    losses of your own (for example the ones a student wrote).

    Safety nets: a NaN/inf loss raises :class:`TrainingDiverged` (with the history); a
    KeyboardInterrupt (the ■ button in Jupyter) stops cleanly and returns the history so
    far, with ``history.interrupted = True`` and the models as they were.
    """
    cfg = config or GANTrainConfig()
    data, labels = _check_gan_data(data)
    if objective is not None and (d_loss_fn or g_loss_fn):
        raise ValueError("give either objective= or d_loss_fn/g_loss_fn, not both "
                         "(StandardGAN(d_loss_fn=..., g_loss_fn=...) combines them).")
    objective = objective or StandardGAN(cfg.g_loss, d_loss_fn, g_loss_fn)
    if device is None:
        device = next(generator.parameters()).device
    device = torch.device(device)
    G, D = generator.to(device).train(), discriminator.to(device).train()
    data = data.to(device)
    conditional = labels is not None
    if conditional:
        labels = labels.to(device)
        n_classes = getattr(getattr(G, "config", None), "n_classes", None) or int(labels.max()) + 1
        if int(labels.max()) >= n_classes:
            raise ValueError(f"labels go up to {int(labels.max())} but the generator has n_classes={n_classes}; "
                             f"labels must lie in 0 … {n_classes - 1}.")

    rng = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    schedulers = []
    if cfg.lr_schedule == "linear":  # factor 1 at step 1, falling to 0 after the last step
        decay = lambda i: max(0.0, 1.0 - i / cfg.steps)  # noqa: E731
        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, decay) for opt in (opt_d, opt_g)]
    n = len(data)

    def draw(size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(n, (size,), generator=rng).to(device)
        return data[idx], (labels[idx] if conditional else None)

    def fake_labels(size: int) -> torch.Tensor | None:
        return labels[torch.randint(n, (size,), generator=rng).to(device)] if conditional else None

    def run_g(z, y):
        return G(z, y) if conditional else G(z)

    def run_d(x, y):
        return D(x, y) if conditional else D(x)

    fixed_z = G.sample_noise(512, device, rng)
    fixed_y = torch.arange(512, device=device) % n_classes if conditional else None
    if snapshot_fn is None:
        def snapshot_fn(G, D, step):  # noqa: E306 — the default: where fixed noise lands
            with torch.no_grad():
                out = {"step": step, "samples": run_g(fixed_z, fixed_y).cpu()}
            if conditional:
                out["labels"] = fixed_y.cpu()
            return out

    history = History()
    bar = tqdm(total=cfg.steps, desc=objective.name, disable=not cfg.progress, mininterval=0.5)
    start = time.perf_counter()
    step = 0
    try:
        if cfg.snapshot_every:
            history.snapshots.append(snapshot_fn(G, D, 0))
        for step in range(1, cfg.steps + 1):
            # (1) update D: maximise log D(x) + log(1 − D(G(z))), i.e. minimise −V
            #     (or, for WGAN-GP, the critic's loss)
            for _ in range(cfg.d_steps):
                real, y_real = draw(cfg.batch_size)
                z, y_fake = G.sample_noise(cfg.batch_size, device, rng), fake_labels(cfg.batch_size)
                fake = run_g(z, y_fake).detach()  # detach: D's loss must not send gradients into G
                real_logits, fake_logits = run_d(real, y_real), run_d(fake, y_fake)
                # the critic as a function of x alone, on the real batch's labels (for WGAN-GP's
                # interpolates, which lie between a real and a fake example)
                critic = (lambda x, y=y_real: run_d(x, y))
                d_loss, stats = objective.d_loss(critic, real, fake, real_logits, fake_logits)
                d_value = d_loss.item()
                if not math.isfinite(d_value):
                    raise _diverged("The discriminator loss", d_value, step, history,
                                    kept=f"both models keep their weights of step {step - 1}")
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()

            # (2) update G: make D call its samples real (loss chosen by the objective)
            z, y_fake = G.sample_noise(cfg.batch_size, device, rng), fake_labels(cfg.batch_size)
            g_loss = objective.g_loss(run_d(run_g(z, y_fake), y_fake))
            g_value = g_loss.item()
            if not math.isfinite(g_value):
                raise _diverged("The generator loss", g_value, step, history,
                                kept=f"the generator keeps its weights of step {step - 1} (the "
                                     f"discriminator has taken its update of step {step})")
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()  # also fills D's .grad; harmless, D's next zero_grad clears it
            opt_g.step()
            for scheduler in schedulers:
                scheduler.step()

            # (3) record
            history.step.append(step)
            history.d_loss.append(d_value)
            history.g_loss.append(g_value)
            history.d_real.append(objective.probability(real_logits))
            history.d_fake.append(objective.probability(fake_logits))
            for key, value in stats.items():
                history.extras.setdefault(key, []).append(value)
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                history.snapshots.append(snapshot_fn(G, D, step))
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(d_loss=f"{d_value:.3f}", g_loss=f"{g_value:.3f}", refresh=False)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Training interrupted at step {step}: returning the history of {len(history)} "
              f"completed steps; the models keep their current weights.")
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


# --------------------------------------------------------------------------- language models
#
# An autoregressive model factorises p(x₁…xₙ) = Π p(xᵢ | x₍<ᵢ₎); its loss is the mean
# negative log-likelihood −log p(xᵢ | x₍<ᵢ₎) of every target token, in nats (a cross-entropy).
# The model computes it: ``model(inputs, targets) -> (logits, loss)``, with targets of -1
# skipped (padding). ``train_lm`` only feeds batches and steps the optimiser.


def _place(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """Move ``model`` to ``device`` (default: where its parameters already are), in train mode."""
    device = torch.device(device if device is not None else next(model.parameters()).device)
    model.to(device).train()
    return device


def _optimiser_step(opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float, model: nn.Module,
                    grad_clip: float | None) -> None:
    """One update of ``model`` on ``loss`` at learning rate ``lr`` (set on every parameter group):
    clear the old gradients, back-propagate, clip the gradient norm to ``grad_clip`` (None: no
    clipping), step."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def scheduled_lr(step: int, lr: float, steps: int, warmup_steps: int = 0, schedule: str = "cosine",
                 min_lr_ratio: float = 0.1) -> float:
    """The learning rate of update number ``step`` (1-based) out of ``steps``: a linear
    warm-up from 0 over ``warmup_steps``, then a cosine decay to ``min_lr_ratio·lr`` at the
    last step (``schedule="cosine"``) or the constant ``lr`` (``"constant"``)."""
    if step <= warmup_steps:
        return lr * step / warmup_steps
    if schedule == "constant":
        return lr
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)  # 0 → 1
    floor = min_lr_ratio * lr
    return floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@dataclass
class LMTrainConfig:
    steps: int = 2000  # optimiser updates
    batch_size: int = 64
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.01  # on weight matrices and embeddings only, not on biases or LayerNorms
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 100  # lr rises linearly from 0 over these steps ...
    schedule: Literal["cosine", "constant"] = "cosine"  # ... then decays to min_lr_ratio·lr, or stays
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0  # clip the gradient's norm (None: never)
    eval_every: int = 200  # validation loss every N steps, and at the end (0: only at the end)
    progress: bool = True  # show a tqdm progress bar
    seed: int | None = None  # seeds the batch sampling; None: the global RNG

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"LMTrainConfig.{name} must be a positive int, got {value!r}.")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}.")
        if self.warmup_steps < 0 or self.eval_every < 0:
            raise ValueError("warmup_steps and eval_every must be ≥ 0.")

    def lr_at(self, step: int) -> float:
        """The learning rate of update number ``step`` (1-based): linear warm-up, then cosine decay."""
        return scheduled_lr(step, self.lr, self.steps, self.warmup_steps, self.schedule, self.min_lr_ratio)


@dataclass
class LMHistory:
    """Training loss per step (nats per token), and the validation loss where it was measured."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def __len__(self) -> int:
        return len(self.step)

    def as_dict(self) -> dict[str, Any]:
        """The curves as plain lists (for checkpoint metadata or JSON)."""
        return {k: getattr(self, k) for k in ("step", "loss", "lr", "val_step", "val_loss", "seconds", "interrupted")}


def _check_pairs(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    ok = isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)
    if not ok or data[0].shape != data[1].shape or data[0].ndim != 2 or len(data[0]) == 0:
        got = tuple(tuple(t.shape) for t in data) if ok else type(data).__name__
        raise ValueError(
            f"{name} must be a pair (inputs, targets) of long tensors of the same shape (N, T), "
            f"e.g. from gankit.text.lm_examples; got {got}."
        )
    return data[0].long(), data[1].long()


@torch.no_grad()
def evaluate_lm(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int = 512,
    device: torch.device | str | None = None,
) -> float:
    """Mean −log p(target | context) in nats over every target token of ``data`` (targets of
    -1 skipped), in eval mode. Each token counts once, however the batches fall."""
    x, y = _check_pairs(data, "data")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        n = int((yb != -1).sum())
        if n:
            _, loss = model(xb, yb)  # mean over this batch's n targets
            total += loss.item() * n
            count += n
    model.train(was_training)
    if count == 0:
        raise ValueError("data has no targets to score (every target is -1).")
    return total / count


def train_lm(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    config: LMTrainConfig | None = None,
    device: torch.device | str | None = None,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> LMHistory:
    """Train a language model on ``data = (inputs, targets)``, both (N, T) token ids.

    ``model(inputs, targets)`` must return ``(logits, loss)`` (as gankit's GPT does). Each
    step draws a random batch, takes one AdamW step with the scheduled learning rate and
    records the loss; with ``val_data`` the validation loss is measured every
    ``config.eval_every`` steps and at the end (:func:`evaluate_lm`).

    Safety nets as in :func:`train_gan`: a NaN/inf loss raises :class:`TrainingDiverged`
    (the bad update is not applied; the history is on the error), and a KeyboardInterrupt
    returns the history so far with ``history.interrupted = True``.
    """
    cfg = config or LMTrainConfig()
    x, y = _check_pairs(data, "data")
    if val_data is not None:
        _check_pairs(val_data, "val_data")
    device = _place(model, device)
    x, y = x.to(device), y.to(device)

    # weight decay pulls weight matrices and embeddings towards 0; biases and LayerNorm gains keep theirs
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    if not decay and not no_decay:  # frozen parameters (requires_grad=False) are left out of the optimiser
        raise ValueError("The model has no trainable parameters: every one has requires_grad=False. "
                         "Unfreeze the part to train (p.requires_grad_(True)) before calling train_lm.")
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=cfg.betas,
    )
    rng = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None

    history = LMHistory()
    bar = tqdm(total=cfg.steps, desc="language model", disable=not cfg.progress, mininterval=0.5)
    start = time.perf_counter()
    step = 0
    try:
        for step in range(1, cfg.steps + 1):
            # (1) a random batch of sequences
            idx = torch.randint(len(x), (cfg.batch_size,), generator=rng).to(device)
            # (2) the loss: mean −log p(next token | tokens so far), all positions at once
            _, loss = model(x[idx], y[idx])
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"The loss became {value} at step {step}; training stopped and the model keeps its "
                    f"weights of step {step - 1}. Likely causes: a learning rate that is too high "
                    f"(lr={cfg.lr}), or NaNs in the model's inputs. The history so far is on this "
                    f"error's .history.",
                    history,
                )
            # (3) one AdamW step at the scheduled learning rate
            lr = cfg.lr_at(step)
            _optimiser_step(opt, loss, lr, model, cfg.grad_clip)

            # (4) record
            history.step.append(step)
            history.loss.append(value)
            history.lr.append(lr)
            if val_data is not None and (step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)):
                history.val_step.append(step)
                history.val_loss.append(evaluate_lm(model, val_data, device=device))  # back in train mode after
                bar.set_postfix(loss=f"{value:.3f}", val=f"{history.val_loss[-1]:.3f}", refresh=False)
            elif step % 50 == 0:
                bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Training interrupted at step {step}: returning the history of {len(history)} "
              f"completed steps; the model keeps its current weights.")
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


# --------------------------------------------------------------------------- variational autoencoders
#
# A VAE maximises the evidence lower bound of every training image,
#     ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z))   (nats per image),
# so its loss is the batch mean of −ELBO (or of −(log p(x|z) − β·KL)). The model computes
# it: ``model.loss(x) -> (loss, stats)`` (``model.loss(x, y)`` for a conditional model),
# with stats holding "recon", "kl" and "nelbo"; ``train_vae`` feeds batches and steps Adam.


@dataclass
class VAETrainConfig:
    steps: int = 3000  # optimiser updates
    batch_size: int = 128
    lr: float = 1e-3  # peak learning rate (Adam)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0  # lr rises linearly from 0 over these steps ...
    schedule: Literal["cosine", "constant"] = "cosine"  # ... then decays to min_lr_ratio·lr, or stays
    min_lr_ratio: float = 0.05
    grad_clip: float | None = None  # clip the gradient's norm (None: never)
    eval_every: int = 0  # with val_data: validation −ELBO every N steps, and at the end (0: only at the end)
    keep_best: bool = True  # with val_data: end with the weights of the best validation −ELBO (early stopping)
    patience: int = 0  # with val_data: stop after this many evaluations without improvement (0: never)
    ema: float = 0.0  # > 0: validate and end with an exponential moving average of the weights (e.g. 0.999)
    progress: bool = True  # show a tqdm progress bar
    seed: int | None = None  # seeds the batch order; None: the global RNG (z is always drawn from the global RNG)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"VAETrainConfig.{name} must be a positive int, got {value!r}.")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}.")
        if self.warmup_steps < 0 or self.eval_every < 0 or self.patience < 0:
            raise ValueError("warmup_steps, eval_every and patience must be ≥ 0.")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1) (0: off; 0.999 averages over about 1,000 steps), got {self.ema}.")

    def lr_at(self, step: int) -> float:
        """The learning rate of update number ``step`` (1-based), see :func:`scheduled_lr`."""
        return scheduled_lr(step, self.lr, self.steps, self.warmup_steps, self.schedule, self.min_lr_ratio)


@dataclass
class VAEHistory:
    """Per step: the training loss (batch mean of −ELBO, or of the β-weighted loss), its
    reconstruction term −log p(x|z) and its KL term, nats per image; and the validation
    −ELBO where it was measured. ``best_step`` is the step whose weights the model ends
    with when ``keep_best`` restored them (0: the last step's)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    recon: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_nelbo: list[float] = field(default_factory=list)
    best_step: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.step)

    def as_dict(self) -> dict[str, Any]:
        """The curves as plain lists (for checkpoint metadata or JSON)."""
        keys = ("step", "loss", "recon", "kl", "lr", "val_step", "val_nelbo", "best_step", "seconds",
                "interrupted", "stopped_early")
        return {k: getattr(self, k) for k in keys}


def _check_images(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images, labels or None) from ``data``: a tensor of images, or a pair (images, labels)."""
    labels = None
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"{name} must be a tensor of images or a pair (images, labels); got {len(data)} items.")
        data, labels = data
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point:
            raise ValueError(f"{name}: labels must be a 1-D tensor of integer class indices.")
    if not isinstance(data, torch.Tensor) or data.ndim < 2 or len(data) == 0:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"{name} must be a non-empty tensor of images, shape (N, C, H, W); got {shape}.")
    if labels is not None and len(labels) != len(data):
        raise ValueError(f"{name}: {len(data)} images but {len(labels)} labels; give one label per image.")
    if not torch.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or inf values; clean it before training.")
    return data, labels


@torch.no_grad()
def evaluate_vae(
    model: nn.Module, data: Any, batch_size: int = 500, device: torch.device | str | None = None, seed: int = 0,
) -> dict[str, float]:
    """Mean −ELBO, −log p(x|z) ("recon") and KL over every image of ``data`` (a tensor, or
    (images, labels) for a conditional model), nats per image, in eval mode, with one code
    z per image drawn from a fixed seed (so the same model always gets the same number;
    the global random state is left as it was)."""
    x, y = _check_images(data, "data")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = {"nelbo": 0.0, "recon": 0.0, "kl": 0.0}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            args = (xb,) if y is None else (xb, y[i:i + batch_size].to(device))
            _, stats = model.loss(*args)
            for key in totals:
                totals[key] += stats[key] * len(xb)
    model.train(was_training)
    return {key: value / len(x) for key, value in totals.items()}


def _epoch_batches(n: int, batch_size: int, gen: torch.Generator | None):
    """Endless minibatch indices: each epoch visits every example once, in a new random order."""
    while True:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


def train_vae(
    model: nn.Module,
    data: Any,
    config: VAETrainConfig | None = None,
    device: torch.device | str | None = None,
    val_data: Any = None,
) -> VAEHistory:
    """Train a VAE on ``data``: a tensor of images (N, C, H, W), or a pair (images, labels)
    for a conditional VAE, whose loss is then ``model.loss(x, y)``.

    ``model.loss(x) -> (loss, stats)`` must return the batch-mean loss and a dict with
    "recon", "kl" and "nelbo" (as gankit's VAE does). Each step takes a minibatch (every
    image once per epoch), one Adam step at the scheduled learning rate
    (:meth:`VAETrainConfig.lr_at`), and records loss, recon and KL.

    With ``val_data`` (same form as ``data``) the validation −ELBO is measured every
    ``config.eval_every`` steps and at the end (:func:`evaluate_vae`); ``keep_best``
    restores the weights of the best evaluation at the end, and ``patience`` stops
    training after that many evaluations without improvement — early stopping.

    Safety nets as in :func:`train_gan`: a NaN/inf loss raises :class:`TrainingDiverged`
    (the bad update is not applied; the history is on the error), and a KeyboardInterrupt
    returns the history so far with ``history.interrupted = True``.
    """
    cfg = config or VAETrainConfig()
    x, y = _check_images(data, "data")
    if val_data is not None:
        _check_images(val_data, "val_data")
    device = _place(model, device)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    rng = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
    batches = _epoch_batches(len(x), cfg.batch_size, rng)
    # the averaged weights: θ̄ ← ema·θ̄ + (1 − ema)·θ after every step (Polyak averaging); a
    # smoother estimate than the last noisy step, validated and kept in its place
    averaged = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema))
                if cfg.ema else None)
    judged = averaged.module if averaged is not None else model  # the weights validation measures

    history = VAEHistory()
    best_val, best_state, since_best = math.inf, None, 0
    bar = tqdm(total=cfg.steps, desc="VAE", disable=not cfg.progress, mininterval=0.5)
    start = time.perf_counter()
    step = 0
    try:
        for step in range(1, cfg.steps + 1):
            # (1) a minibatch of images (and labels, for a conditional model)
            idx = next(batches).to(device)
            args = (x[idx],) if y is None else (x[idx], y[idx])
            # (2) the loss: batch mean of −log p(x|z) + β·KL(q(z|x) ‖ p(z)), z reparameterised
            loss, stats = model.loss(*args)
            value = loss.item()
            if not math.isfinite(value):
                raise _diverged("The VAE loss", value, step, history,
                                kept=f"the model keeps its weights of step {step - 1}")
            # (3) one Adam step at the scheduled learning rate
            lr = cfg.lr_at(step)
            _optimiser_step(opt, loss, lr, model, cfg.grad_clip)
            if averaged is not None:
                averaged.update_parameters(model)

            # (4) record; validate, and keep the best weights so far
            history.step.append(step)
            history.loss.append(value)
            history.recon.append(stats["recon"])
            history.kl.append(stats["kl"])
            history.lr.append(lr)
            bar.update(1)
            if val_data is not None and (step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)):
                val = evaluate_vae(judged, val_data, device=device)["nelbo"]  # back in train mode after
                history.val_step.append(step)
                history.val_nelbo.append(val)
                bar.set_postfix(loss=f"{value:.2f}", val=f"{val:.2f}", refresh=False)
                if val < best_val:
                    best_val, since_best, history.best_step = val, 0, step
                    if cfg.keep_best:
                        best_state = {k: v.detach().clone() for k, v in judged.state_dict().items()}
                else:
                    since_best += 1
                    if cfg.patience and since_best >= cfg.patience:
                        history.stopped_early = True
                        break
            elif step % 50 == 0:
                bar.set_postfix(loss=f"{value:.2f}", recon=f"{stats['recon']:.2f}", kl=f"{stats['kl']:.2f}", refresh=False)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Training interrupted at step {step}: returning the history of {len(history)} "
              f"completed steps; the model keeps its current weights.")
    finally:
        bar.close()
        if best_state is not None and not history.interrupted:
            model.load_state_dict(best_state)
        else:
            history.best_step = 0
            if averaged is not None and not history.interrupted:
                model.load_state_dict(averaged.module.state_dict())
        history.seconds = time.perf_counter() - start
    return history
