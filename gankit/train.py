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
    "GANTrainConfig",
    "History",
    "TrainingDiverged",
    "train_gan",
    "LMTrainConfig",
    "LMHistory",
    "evaluate_lm",
    "train_lm",
]


# --------------------------------------------------------------------------- losses


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−V(D, G) on a batch: −[mean log D(x) + mean log(1 − D(G(z)))].

    Minimising it maximises V, so D learns to say "real" (σ → 1) for data and "fake"
    (σ → 0) for samples. Equal to BCE-with-logits with targets 1 for real and 0 for fake.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


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

    def __post_init__(self) -> None:
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
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def __len__(self) -> int:
        return len(self.step)

    def as_dict(self) -> dict[str, Any]:
        """The curves as plain lists (for checkpoints metadata or JSON); snapshots left out."""
        return {k: getattr(self, k) for k in ("step", "d_loss", "g_loss", "d_real", "d_fake", "seconds", "interrupted")}


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


def _batches(data: torch.Tensor, batch_size: int, gen: torch.Generator | None):
    """Endless minibatches of examples drawn uniformly at random (with replacement)."""
    n = len(data)
    while True:
        idx = torch.randint(n, (batch_size,), generator=gen)
        yield data[idx]


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor,
    config: GANTrainConfig | None = None,
    device: torch.device | str | None = None,
    snapshot_fn: Callable[[nn.Module, nn.Module, int], Any] | None = None,
    d_loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    g_loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> History:
    """Train a GAN on ``data`` (a tensor of real examples, first dimension = examples).

    ``generator`` needs ``sample_noise(n, device, generator)`` and ``forward(z)``;
    ``discriminator`` returns one logit per example. Both are moved to ``device``
    (default: where the generator already is). Every ``config.snapshot_every`` steps,
    ``snapshot_fn(G, D, step)`` is called and its result kept in ``history.snapshots``
    (by default: 512 samples from a fixed noise batch, on the CPU).

    Safety nets: a NaN/inf loss raises :class:`TrainingDiverged` (with the history); a
    KeyboardInterrupt (the ■ button in Jupyter) stops cleanly and returns the history so
    far, with ``history.interrupted = True`` and the models as they were.

    ``d_loss_fn(real_logits, fake_logits)`` and ``g_loss_fn(fake_logits)`` replace the
    built-in losses (default: :func:`discriminator_loss` and the loss named by
    ``config.g_loss``), for example to train with losses a student wrote.
    """
    cfg = config or GANTrainConfig()
    if not isinstance(data, torch.Tensor) or data.ndim < 2 or len(data) == 0:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a non-empty tensor of examples, shape (N, ...); got {shape}.")
    if not torch.isfinite(data).all():
        raise ValueError("data contains NaN or inf values; clean it before training.")
    if device is None:
        device = next(generator.parameters()).device
    device = torch.device(device)
    G, D = generator.to(device).train(), discriminator.to(device).train()
    data = data.to(device)

    rng = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    desc = "GAN (custom losses)" if d_loss_fn or g_loss_fn else f"GAN ({cfg.g_loss})"
    d_loss_fn = d_loss_fn or discriminator_loss
    g_loss_fn = g_loss_fn or GENERATOR_LOSSES[cfg.g_loss]
    batches = _batches(data, cfg.batch_size, rng)

    fixed_z = G.sample_noise(512, device, rng)
    if snapshot_fn is None:
        def snapshot_fn(G, D, step):  # noqa: E306 — the default: where fixed noise lands
            with torch.no_grad():
                return {"step": step, "samples": G(fixed_z).cpu()}

    history = History()
    bar = tqdm(total=cfg.steps, desc=desc, disable=not cfg.progress, mininterval=0.5)
    start = time.perf_counter()
    step = 0
    try:
        if cfg.snapshot_every:
            history.snapshots.append(snapshot_fn(G, D, 0))
        for step in range(1, cfg.steps + 1):
            # (1) update D: maximise log D(x) + log(1 − D(G(z))), i.e. minimise −V
            for _ in range(cfg.d_steps):
                real = next(batches)
                z = G.sample_noise(cfg.batch_size, device, rng)
                fake = G(z).detach()  # detach: D's loss must not send gradients into G
                real_logits, fake_logits = D(real), D(fake)
                d_loss = d_loss_fn(real_logits, fake_logits)
                d_value = d_loss.item()
                if not math.isfinite(d_value):
                    raise _diverged("The discriminator loss", d_value, step, history,
                                    kept=f"both models keep their weights of step {step - 1}")
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()

            # (2) update G: make D call its samples real (loss chosen by cfg.g_loss)
            z = G.sample_noise(cfg.batch_size, device, rng)
            g_loss = g_loss_fn(D(G(z)))
            g_value = g_loss.item()
            if not math.isfinite(g_value):
                raise _diverged("The generator loss", g_value, step, history,
                                kept=f"the generator keeps its weights of step {step - 1} (the "
                                     f"discriminator has taken its update of step {step})")
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()  # also fills D's .grad; harmless, D's next zero_grad clears it
            opt_g.step()

            # (3) record
            history.step.append(step)
            history.d_loss.append(d_value)
            history.g_loss.append(g_value)
            history.d_real.append(torch.sigmoid(real_logits.detach()).mean().item())
            history.d_fake.append(torch.sigmoid(fake_logits.detach()).mean().item())
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
        if step <= self.warmup_steps:
            return self.lr * step / self.warmup_steps
        if self.schedule == "constant":
            return self.lr
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)  # 0 → 1
        floor = self.min_lr_ratio * self.lr
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


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
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    model.to(device).train()
    x, y = x.to(device), y.to(device)

    # weight decay pulls weight matrices and embeddings towards 0; biases and LayerNorm gains keep theirs
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
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
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()

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
