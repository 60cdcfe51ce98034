"""The GAN loop, written out step by step, on the shared core (:mod:`gankit.train.core`).

The GAN game (Goodfellow et al., 2014) is

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))].

``train_gan`` plays it with alternating updates: (1) a step of D up the value, then
(2) a step of G. The losses are written in terms of D's *logit* ``a`` (D(x) = σ(a)),
using log σ(a) = −softplus(−a) and log(1 − σ(a)) = −softplus(a), which is exactly what
``BCEWithLogitsLoss`` computes and never takes the log of 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from gankit.train.core import (
    Callback,
    History,
    TrainConfig,
    TrainingRun,
    WeightAverage,
    check_examples,
    check_finite,
    display_range,
    make_optimizer,
    optimizer_step,
    place,
    refresh_batch_norm,
    scale_to_unit,
)
from gankit.utils import check_positive_int, eval_mode

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
    "train_gan",
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


# --------------------------------------------------------------------------- config


@dataclass
class GANTrainConfig(TrainConfig):
    """:class:`~gankit.train.core.TrainConfig` for two players. ``lr`` is both players' learning
    rate, or the generator's when ``lr_d`` gives the discriminator its own (the two
    time-scale rule of Heusel et al., 2017). Both follow ``lr_schedule``."""

    steps: int = 3000  # generator updates
    batch_size: int = 256
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam; β1 = 0.5 as in DCGAN (Radford et al.)
    lr_d: float | None = None  # the discriminator's learning rate (None: lr)
    d_steps: int = 1  # D updates per G update
    g_loss: Literal["nonsaturating", "saturating"] = "nonsaturating"
    snapshot_every: int = 0  # call snapshot_fn every N steps (0: never)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.g_loss not in GENERATOR_LOSSES:
            raise ValueError(f"g_loss must be one of {', '.join(GENERATOR_LOSSES)}, got {self.g_loss!r}.")
        check_positive_int(self.d_steps, "GANTrainConfig.d_steps")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be ≥ 0, got {self.snapshot_every}.")
        if self.keep_best or self.patience:
            raise ValueError("keep_best and patience need a validation loss to minimise, which a GAN does not "
                             "have; leave them at False and 0.")


GAN_CAUSES = ("a learning rate that is too high, a log of 0 (use the logit losses in gankit.train, or "
              "BCEWithLogitsLoss, rather than log(sigmoid(...)) or BCELoss on raw outputs), or NaNs in the data")


# --------------------------------------------------------------------------- the loop


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    config: GANTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    val_data: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    callback: Callback | None = None,
    objective: GANObjective | None = None,
    snapshot_fn: Callable[[nn.Module, nn.Module, int], Any] | None = None,
    d_loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    g_loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> History:
    """Train a GAN on ``data`` (a tensor of real examples, first dimension = examples).

    ``generator`` needs ``sample_noise(n, device, generator)`` and ``forward(z)``;
    ``discriminator`` returns one logit (or critic score) per example. Both are moved to
    ``device`` (default: where the generator already is). The history's extras hold, per
    step, ``d_loss``, ``g_loss`` and ``d_real`` / ``d_fake`` (D's mean probability on the
    real and generated batch, before its update), also readable as ``history.d_loss`` etc.

    **Conditional GANs**: pass ``data=(examples, labels)`` with integer labels; the loop
    then calls ``G(z, y)`` and ``D(x, y)``. Fake examples get labels drawn from the data's
    own labels (so classes appear as often as in the data).

    **Objectives**: ``objective`` chooses how D and G are scored — :class:`StandardGAN`
    (the default, with ``config.g_loss``) or :class:`WGANGP`. ``d_loss_fn(real_logits,
    fake_logits)`` and ``g_loss_fn(fake_logits)`` are a shortcut for a StandardGAN with
    losses of your own (for example the ones a student wrote).

    **Watching**: every ``config.snapshot_every`` steps (and at step 0), ``snapshot_fn(G, D,
    step)`` is called and its result kept in ``history.snapshots`` (by default: 512 samples
    from a fixed noise batch, on the CPU; the default snapshots of a conditional GAN use
    labels 0, 1, 2, … cycling over the classes). ``callback(step, models, history)`` is
    called after every step with ``models = {"generator": G, "discriminator": D}`` (and
    ``"ema"``). With ``val_data`` (held-out real examples), D's mean probability on them is
    recorded every ``config.eval_every`` steps and at the end, in ``history.val_loss``: far
    below ``d_real``, it says D memorises the training examples (Karras et al., 2020, use
    the same gap to detect an overfitting discriminator).

    **TensorBoard**: with ``config.log_dir`` the run writes ``train/d_loss``, ``train/g_loss``,
    ``train/d_real``, ``train/d_fake`` (and WGAN-GP's extras), ``train/lr`` (the generator's),
    and ``val/d_real`` for ``val_data`` (:class:`~gankit.train.core.TrainingLog`). For image
    data (N, C, H, W) it also shows ``samples``: G on the first 64 of the fixed noise batch
    (with ``ema``, the averaged G) in eval mode, mapped from the data's range to [0, 1] —
    the same noise every time, so the grid shows the same samples taking shape. Data that
    are not images (the 2-D toy sets) get no grid.

    **Averaging**: with ``config.ema > 0`` a :class:`~gankit.train.core.WeightAverage` of G
    is kept; at the end G takes the averaged weights, with its batch-norm statistics
    re-measured (:func:`~gankit.train.core.refresh_batch_norm`, seed ``config.seed``).

    Safety nets: a NaN/inf loss raises :class:`~gankit.train.core.TrainingDiverged` (with
    the history); a KeyboardInterrupt (the ■ button in Jupyter) stops cleanly and returns
    the history so far, with ``history.interrupted = True`` and the models as they were.
    """
    cfg = config or GANTrainConfig()
    data, labels = check_examples(data)
    if val_data is not None:
        val_data, val_labels = check_examples(val_data, "val_data")
    if objective is not None and (d_loss_fn or g_loss_fn):
        raise ValueError("give either objective= or d_loss_fn/g_loss_fn, not both "
                         "(StandardGAN(d_loss_fn=..., g_loss_fn=...) combines them).")
    objective = objective or StandardGAN(cfg.g_loss, d_loss_fn, g_loss_fn)
    device = place(generator, device)
    place(discriminator, device)
    G, D = generator, discriminator
    data = data.to(device)
    conditional = labels is not None
    n_classes = None
    if conditional:
        labels = labels.to(device)
        n_classes = getattr(getattr(G, "config", None), "n_classes", None) or int(labels.max()) + 1
        if int(labels.max()) >= n_classes:
            raise ValueError(f"labels go up to {int(labels.max())} but the generator has n_classes={n_classes}; "
                             f"labels must lie in 0 … {n_classes - 1}.")
    if val_data is not None and (val_labels is not None) != conditional:
        raise ValueError("val_data must have the same form as data: both plain tensors, or both (examples, labels).")

    rng = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
    opt_d = make_optimizer(D, cfg, lr=cfg.lr_d if cfg.lr_d is not None else cfg.lr)
    opt_g = make_optimizer(G, cfg)
    average = WeightAverage(G, cfg.ema) if cfg.ema else None
    models = {"generator": G, "discriminator": D, **({"ema": average.model} if average is not None else {})}
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

    grid = None
    if cfg.log_dir is not None and data.ndim == 4:
        lo, hi = display_range(data)

        def grid() -> torch.Tensor:  # the TensorBoard grid: fixed noise through the G the run ends with
            shown = average.model if average is not None else G
            with eval_mode(shown):  # eval: batch norm uses, and leaves, its running statistics
                out = shown(fixed_z[:64], fixed_y[:64]) if conditional else shown(fixed_z[:64])
            return scale_to_unit(out.float().cpu(), lo, hi)

    @torch.no_grad()
    def d_on_val() -> float:
        with eval_mode(D):
            x = val_data.to(device)
            return objective.probability(run_d(x, val_labels.to(device) if conditional else None))

    history = History()
    with TrainingRun(history, cfg, objective.name, what="the models keep their", images=grid,
                     val_name="d_real") as run:
        if cfg.snapshot_every:
            history.snapshots.append(snapshot_fn(G, D, 0))
        for step in run.steps():
            lr_g = cfg.lr_at(step)
            lr_d = cfg.lr_at(step, cfg.lr_d) if cfg.lr_d is not None else lr_g
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
                check_finite(d_value, "The discriminator loss", step, history,
                             f"both models keep their weights of step {step - 1}", GAN_CAUSES)
                optimizer_step(opt_d, d_loss, lr_d, D, cfg.grad_clip)

            # (2) update G: make D call its samples real (loss chosen by the objective)
            z, y_fake = G.sample_noise(cfg.batch_size, device, rng), fake_labels(cfg.batch_size)
            g_loss = objective.g_loss(run_d(run_g(z, y_fake), y_fake))
            g_value = g_loss.item()
            check_finite(g_value, "The generator loss", step, history,
                         f"the generator keeps its weights of step {step - 1} (the discriminator has taken its "
                         f"update of step {step})", GAN_CAUSES)
            optimizer_step(opt_g, g_loss, lr_g, G, cfg.grad_clip)  # also fills D's .grad; D's next step clears it
            if average is not None:
                average.update(G)

            # (3) record, and watch
            history.record(step, lr_g, d_loss=d_value, g_loss=g_value, d_real=objective.probability(real_logits),
                           d_fake=objective.probability(fake_logits), **stats)
            if val_data is not None and (step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)):
                history.val_step.append(step)
                history.val_loss.append(d_on_val())
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                history.snapshots.append(snapshot_fn(G, D, step))
            if callback is not None:
                callback(step, models, history)
            run.show(d_loss=f"{d_value:.3f}", g_loss=f"{g_value:.3f}")

    if average is not None and not history.interrupted:
        G.load_state_dict(average.model.state_dict())
        refresh_batch_norm(G, seed=cfg.seed or 0)
    return history
