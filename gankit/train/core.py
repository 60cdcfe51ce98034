"""The training core: what every loop of the kit shares, written once.

"Nothing in this file really has anything to do with a GAN, a VAE or a GPT": it places a
model on its device, chooses the learning rate of each step, takes one optimiser step
(with clipping), keeps an exponential moving average of the weights, shows a progress bar,
times the run, turns a NaN loss into an error that keeps the history, and turns the ■
button (KeyboardInterrupt) into a clean stop that keeps the model and its history. With
``config.log_dir`` it also writes what the history records (and a grid of samples, for the
image models) to TensorBoard as training goes (:class:`TrainingLog`).

The family loops build on it: :mod:`gankit.train.gan` (two players), and
:func:`fit`, the loop of one model minimising one loss, under :mod:`gankit.train.lm`,
:mod:`gankit.train.vae` and :mod:`gankit.train.classifier`. Every loop has one signature,

    train_X(model(s), data, config=None, *, device=None, val_data=None, callback=None) -> History

and every config shares the names of what it shares (:class:`TrainConfig`).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from gankit.utils import check_positive_int, eval_mode

__all__ = [
    "TrainConfig",
    "History",
    "TrainingDiverged",
    "Callback",
    "scheduled_lr",
    "place",
    "prepare_examples",
    "make_optimizer",
    "optimizer_step",
    "WeightAverage",
    "refresh_batch_norm",
    "epoch_batches",
    "TrainingRun",
    "TrainingLog",
    "open_summary_writer",
    "display_range",
    "scale_to_unit",
    "check_finite",
    "check_examples",
    "fit",
]

LR_SCHEDULES = ("constant", "linear", "cosine")


# --------------------------------------------------------------------------- config


@dataclass
class TrainConfig:
    """What every loop's config holds, by the same names. Each family's config
    (:class:`~gankit.train.GANTrainConfig`, :class:`~gankit.train.LMTrainConfig`,
    :class:`~gankit.train.VAETrainConfig`, ...) sets its own defaults and adds its own fields."""

    steps: int = 1000  # optimiser updates (for a GAN: generator updates)
    batch_size: int = 64
    lr: float = 1e-3  # peak learning rate (AdamW)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0  # decoupled (AdamW), on weight matrices and embeddings only, not on biases or norms
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"  # after warm-up; see scheduled_lr
    warmup_steps: int = 0  # lr rises linearly from 0 over these steps ...
    min_lr_ratio: float = 0.0  # ... then a linear or cosine decay ends at min_lr_ratio·lr
    grad_clip: float | None = None  # clip the gradient's norm (None: never)
    ema: float = 0.0  # > 0: keep an exponential moving average of the weights with this decay (0.999: ~1,000 steps)
    eval_every: int = 0  # with val_data: validate every N steps, and at the end (0: only at the end)
    keep_best: bool = False  # with val_data: end with the weights of the best validation (early stopping)
    patience: int = 0  # with val_data: stop after this many validations without improvement (0: never)
    seed: int | None = None  # seeds the batch order (and a GAN's noise); None: the global RNG
    progress: bool = True  # show a tqdm progress bar
    log_dir: str | Path | None = None  # a folder: write a TensorBoard log there (None: no log; see TrainingLog)
    log_every: int = 10  # with log_dir: the history's numbers every N steps (and at the last step)
    image_every: int = 100  # with log_dir, for image models: a grid of samples every N steps and at the end (0: never)

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_positive_int(self.steps, f"{name}.steps")
        check_positive_int(self.batch_size, f"{name}.batch_size")
        check_positive_int(self.log_every, f"{name}.log_every")
        if not isinstance(self.image_every, int) or self.image_every < 0:
            raise ValueError(f"{name}.image_every must be an int ≥ 0 (0: no sample grids), got {self.image_every!r}.")
        if self.log_dir is not None and not isinstance(self.log_dir, (str, Path)):
            raise ValueError(f"{name}.log_dir must be a folder (a str or a Path) or None (no TensorBoard log), "
                             f"got {type(self.log_dir).__name__}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"{name}.lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, "
                             f"got {self.lr_schedule!r}.")
        if self.warmup_steps < 0 or self.eval_every < 0 or self.patience < 0:
            raise ValueError(f"{name}: warmup_steps, eval_every and patience must be ≥ 0.")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"{name}.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}.")
        if not 0 <= self.ema < 1:
            raise ValueError(f"{name}.ema must be in [0, 1) (0: off; 0.999 averages over about 1,000 steps), "
                             f"got {self.ema}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"{name}.grad_clip must be > 0 or None (no clipping), got {self.grad_clip}.")

    def lr_at(self, step: int, lr: float | None = None) -> float:
        """The learning rate of update number ``step`` (1-based), for peak ``lr`` (default
        ``self.lr``): see :func:`scheduled_lr`."""
        return scheduled_lr(step, self.lr if lr is None else lr, self.steps, self.warmup_steps,
                            self.lr_schedule, self.min_lr_ratio)


def scheduled_lr(step: int, lr: float, steps: int, warmup_steps: int = 0, schedule: str = "cosine",
                 min_lr_ratio: float = 0.1) -> float:
    """The learning rate of update number ``step`` (1-based) out of ``steps``.

    A linear warm-up from 0 over ``warmup_steps``, then

    * ``"constant"``: ``lr``;
    * ``"cosine"``: a half cosine from ``lr`` down to ``min_lr_ratio·lr`` at the last step;
    * ``"linear"``: a straight line from ``lr`` at the first update after warm-up, falling
      by the same amount each update, to ``min_lr_ratio·lr`` one step after the last (so
      with ``min_lr_ratio = 0`` the last update still moves, by ``lr/steps``).
    """
    if step <= warmup_steps:
        return lr * step / warmup_steps
    if schedule == "constant":
        return lr
    floor = min_lr_ratio * lr
    if schedule == "linear":
        progress = (step - 1 - warmup_steps) / max(1, steps - warmup_steps)  # 0 at the first update
        return floor + (lr - floor) * max(0.0, 1.0 - progress)
    if schedule != "cosine":
        raise ValueError(f"schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, got {schedule!r}.")
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)  # 0 → 1 at the last step
    return floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What happened during training, one entry per step, for every loop of the kit.

    * ``step``, ``lr``: the step number (1-based) and its learning rate;
    * ``loss``: the loss the model minimised (nats per token for a language model, the
      batch mean of −ELBO for a VAE, ...); a GAN has two, ``d_loss`` and ``g_loss``;
    * ``extras``: the family's own curves, one value per step, by name — a GAN's
      ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` (and WGAN-GP's ``wasserstein``, ``gp``,
      ``grad_norm``), a VAE's ``recon`` and ``kl``; each is also an attribute
      (``history.d_loss``), which a loop written by hand may append to;
    * ``val_step``, ``val_loss``: the validation measure where it was taken (a language
      model's loss, a VAE's −ELBO as ``val_nelbo`` too, a classifier's error rate);
    * ``snapshots``: what a GAN's ``snapshot_fn`` returned (lesson 01's figures);
    * ``best_step``: the step whose weights the model ends with when ``keep_best``
      restored them (0: the last step's);
    * ``seconds``, ``interrupted`` (■ pressed), ``stopped_early`` (patience ran out).
    """

    step: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    extras: dict[str, list[float]] = field(default_factory=dict)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    snapshots: list[Any] = field(default_factory=list)
    best_step: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.step)

    def record(self, step: int, lr: float, loss: float | None = None, **extras: float) -> None:
        """Append one step: its number, learning rate, loss (if the loop has one) and extras."""
        self.step.append(step)
        self.lr.append(lr)
        if loss is not None:
            self.loss.append(loss)
        for key, value in extras.items():
            self.extras.setdefault(key, []).append(value)

    def _extra(self, name: str) -> list[float]:
        return self.extras.setdefault(name, [])  # a loop written by hand may append to history.d_loss

    # the families' curves under their own names
    d_loss = property(lambda self: self._extra("d_loss"), doc="A GAN's discriminator (critic) loss per step.")
    g_loss = property(lambda self: self._extra("g_loss"), doc="A GAN's generator loss per step.")
    d_real = property(lambda self: self._extra("d_real"),
                      doc="D's mean probability on the real batch, before its update (a WGAN critic: its mean score).")
    d_fake = property(lambda self: self._extra("d_fake"), doc="D's mean probability on the generated batch.")
    recon = property(lambda self: self._extra("recon"), doc="A VAE's reconstruction term −log p(x|z) per step.")
    kl = property(lambda self: self._extra("kl"), doc="A VAE's KL(q(z|x) ‖ p(z)) per step.")
    val_nelbo = property(lambda self: self.val_loss, doc="A VAE's validation −ELBO (the same list as val_loss).")

    def as_dict(self) -> dict[str, Any]:
        """The curves as plain lists (for checkpoint metadata or JSON); snapshots left out."""
        keys = ("step", "lr", "loss", "extras", "val_step", "val_loss", "best_step", "seconds", "interrupted",
                "stopped_early")
        return {k: getattr(self, k) for k in keys}


Callback = Callable[[int, dict[str, nn.Module], History], None]
"""``callback(step, models, history)``, called after every step: ``models`` holds the
networks by role (``"model"``; a GAN's ``"generator"`` and ``"discriminator"``) and, with
``config.ema``, the averaged copy as ``"ema"``. Use it to measure, print or save as
training goes; whatever it returns is ignored."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite. ``history`` holds every completed step; the update
    computed from the bad loss is never applied (the message says which weights remain)."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def check_finite(value: float, what: str, step: int, history: History, kept: str, causes: str) -> None:
    """Raise :class:`TrainingDiverged` when ``value`` (the loss ``what`` at ``step``) is NaN
    or infinite, saying which weights remain (``kept``) and the family's likely ``causes``."""
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"{what} became {value} at step {step}; training stopped and {kept}. Likely causes: {causes}. "
            f"The history so far is on this error's .history.",
            history,
        )


# --------------------------------------------------------------------------- the parts of a step


def place(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """Move ``model`` to ``device`` (default: where its parameters already are), in train mode."""
    device = torch.device(device if device is not None else next(model.parameters()).device)
    model.to(device).train()
    return device


def make_optimizer(model: nn.Module, config: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """AdamW over ``model``'s trainable parameters: weight decay (``config.weight_decay``)
    pulls weight matrices and embeddings towards 0; biases and norm gains keep theirs.
    With ``weight_decay = 0`` this is Adam. Frozen parameters (requires_grad=False) are
    left out; a model with none to train is an error."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters: every one has requires_grad=False. "
                         f"Unfreeze the part to train (p.requires_grad_(True)) before training.")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr if lr is None else lr,
                             betas=config.betas)


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float, model: nn.Module,
                   grad_clip: float | None) -> None:
    """One update of ``model`` on ``loss`` at learning rate ``lr`` (set on every parameter
    group): clear the old gradients, back-propagate, clip the gradient norm to ``grad_clip``
    (None: no clipping), step."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def epoch_batches(n: int, batch_size: int, gen: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Endless minibatch indices: each epoch visits every example once, in a new random order."""
    while True:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


# --------------------------------------------------------------------------- the one EMA


class WeightAverage:
    """An exponential moving average (EMA) of a model's weights, kept in a frozen copy.

    Training never quite settles: every step pushes the weights a little, so the weights of
    the last step carry the noise of the last few batches. Averaging them over the recent past,

        θ̄ ← decay · θ̄ + (1 − decay) · θ      after every training step,

    gives a model that is usually better than any single step's (Polyak averaging; for GANs
    Yazıcı et al., 2019, "The Unusual Effectiveness of Averaging in GAN Training",
    arXiv:1806.04498, used by ProGAN, BigGAN and StyleGAN). ``decay = 0.999`` averages over
    roughly the last 1 / (1 − decay) = 1,000 steps. Early on the average would drag the
    random initial weights along, so the decay used at update ``n`` is
    ``min(decay, (1 + n) / (10 + n))``.

    Buffers (batch-norm running statistics) are not weights: :meth:`update` copies them from
    the model. They were measured with the *live* weights, so call
    :func:`refresh_batch_norm` on a generator's ``average.model`` before sampling from it.
    Every loop of the kit keeps one when ``config.ema > 0``::

        ema = WeightAverage(G, decay=0.999)
        ...after each optimiser step:  ema.update(G)
        refresh_batch_norm(ema.model); ema.model.sample(16)
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}; 0.999 averages over about 1,000 steps.")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()  # the averaged copy; never trained directly
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses (smaller during the first steps)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s weights: θ̄ ← d·θ̄ + (1 − d)·θ."""
        averaged, live = dict(self.model.named_parameters()), dict(model.named_parameters())
        if averaged.keys() != live.keys() or any(averaged[k].shape != live[k].shape for k in live):
            raise ValueError("WeightAverage.update got a model with other parameters than the one it was built from.")
        d = self.current_decay()
        for name, p in live.items():
            averaged[name].lerp_(p.detach().to(averaged[name].device), 1.0 - d)  # θ̄ + (1 − d)(θ − θ̄)
        for b_avg, b in zip(self.model.buffers(), model.buffers()):
            b_avg.copy_(b)  # batch-norm statistics: copied, then refreshed by refresh_batch_norm
        self.updates += 1


@torch.no_grad()
def refresh_batch_norm(generator: nn.Module, n_batches: int = 20, batch_size: int = 256, seed: int = 0) -> nn.Module:
    """Re-measure ``generator``'s batch-norm running statistics on its own noise.

    In eval mode batch norm normalises with running averages of the batch statistics seen in
    training. After averaging weights (:class:`WeightAverage`) or loading a checkpoint they may
    not match the weights; this runs ``n_batches`` batches of fresh noise
    (``generator.sample_noise``) through the generator in train mode with an exact
    (cumulative) average, then puts it back in eval mode. Only the statistics change, never
    the weights. Returns the generator.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return generator.eval()
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # None: a cumulative average over all batches, not an EMA
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    generator.train()
    for _ in range(n_batches):
        generator(generator.sample_noise(batch_size, generator=rng).to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return generator.eval()


# --------------------------------------------------------------------------- a TensorBoard log


ImageHook = Callable[[], torch.Tensor]
"""``images()``: a batch of samples to look at, (N, C, H, W) with values in [0, 1] — what a
loop gives :class:`TrainingRun` so that the log can show how samples change."""


def open_summary_writer(log_dir: str | Path) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` writing into ``log_dir`` (made if missing),
    flushed to disk every 10 s so that a TensorBoard open beside the notebook keeps up.

    TensorBoard is imported here, and only here: a run without ``log_dir`` never imports it.
    Without the package installed this is an ImportError that says how to install it."""
    try:
        # optional, heavy outside package: only a run with log_dir needs it
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ImportError(f"log_dir={str(log_dir)!r} asks for a TensorBoard log, which needs the tensorboard "
                          f"package: pip install tensorboard (it is in gankit's dependencies; `make setup` "
                          f"installs it), or leave log_dir=None to train without a log.") from err
    return SummaryWriter(log_dir=str(log_dir), flush_secs=10)


def display_range(data: torch.Tensor) -> tuple[float, float]:
    """The range ``(lo, hi)`` that a model trained on ``data`` draws in: (0, 1) for data
    within [0, 1], (−1, 1) for data within [−1, 1] (a tanh generator, a denoiser's images),
    else the data's own minimum and maximum. :func:`scale_to_unit` maps it to [0, 1]."""
    lo, hi = float(data.min()), float(data.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= -1.0 and hi <= 1.0:
        return -1.0, 1.0
    return lo, max(hi, lo + 1e-12)


def scale_to_unit(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``x`` mapped from [lo, hi] to [0, 1] (values outside clipped), for display."""
    return ((x - lo) / (hi - lo)).clamp(0.0, 1.0)


class TrainingLog:
    """A TensorBoard log of one run, written as training goes (``config.log_dir``).

    * **scalars**: every number the :class:`History` records, each ``config.log_every``
      steps and at the last completed step — ``train/lr``, ``train/loss`` (a loop with one
      loss), and each extra as ``train/<name>`` (a GAN's ``train/d_loss``, ``train/g_loss``,
      ``train/d_real``, ``train/d_fake``; a VAE's ``train/recon``, ``train/kl``) — and every
      validation, at its own step, as ``val/<val_name>`` (``val/nelbo`` for a VAE). The
      values are the history's own, unsmoothed: TensorBoard's smoothing slider averages them;
    * **images**: with an image hook, a grid of its samples as ``samples`` every
      ``config.image_every`` steps and at the end of a run that finished (not after ■ or a
      NaN: then you want the run to stop, not to draw);
    * **text**: the run's config as ``config``, so runs side by side say how they differ.

    Give each run a folder of its own (``runs/vae-lr2e-3``, ``runs/vae-lr1e-3``, ...):
    ``tensorboard --logdir runs`` draws each folder as one run, side by side with the others,
    and two runs written into one folder as one tangled curve.

    The hook runs under ``torch.no_grad()`` with the global random state saved and restored,
    so a run with a log takes exactly the steps it takes without one. :meth:`close` writes
    what is left and closes the file, also after an interrupt or a divergence.
    """

    def __init__(self, log_dir: str | Path, history: History, config: TrainConfig, desc: str,
                 images: ImageHook | None = None, val_name: str = "loss"):
        self.writer = open_summary_writer(log_dir)
        self.log_dir, self.history, self.images, self.val_name = Path(log_dir), history, images, val_name
        self.log_every, self.image_every = config.log_every, config.image_every
        self.seen = self.val_seen = 0  # history entries (and validations) already looked at
        self.last_logged = self.last_imaged = 0  # steps last written
        self.writer.add_text("config", f"{desc}: `{config!r}`", 0)

    def after_step(self, step: int) -> None:
        """Write what the history gained in this step: its numbers every ``log_every`` steps,
        new validations, and the grid every ``image_every`` steps."""
        self._write_scalars(final=False)
        if self.images is not None and self.image_every and step % self.image_every == 0:
            self._write_images(step)

    def close(self, finished: bool) -> None:
        """Write the last completed step (and, when the run ``finished``, its grid), then
        flush and close the file."""
        try:
            self._write_scalars(final=True)
            step = self.history.step[-1] if len(self.history) else 0
            if finished and self.images is not None and self.image_every and step and step != self.last_imaged:
                self._write_images(step)
        finally:
            self.writer.close()

    def _write_scalars(self, final: bool) -> None:
        n = len(self.history.step)
        for i in range(self.seen, n):
            if self.history.step[i] % self.log_every == 0:
                self._write_entry(i)
        self.seen = n
        if final and n and self.history.step[-1] != self.last_logged:
            self._write_entry(n - 1)  # the last completed step, wherever the run stopped
        h = self.history
        for i in range(self.val_seen, min(len(h.val_step), len(h.val_loss))):
            self.writer.add_scalar(f"val/{self.val_name}", h.val_loss[i], h.val_step[i])
            self.val_seen = i + 1

    def _write_entry(self, i: int) -> None:
        """The numbers the history holds for its ``i``-th step."""
        h = self.history
        n, step = len(h.step), h.step[i]
        for name, values in {"lr": h.lr, "loss": h.loss, **h.extras}.items():
            j = i - (n - len(values))  # every curve ends at the latest step; one a loop added late starts later
            if 0 <= j < len(values):
                self.writer.add_scalar(f"train/{name}", values[j], step)
        self.last_logged = step

    def _write_images(self, step: int) -> None:
        devices = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):  # the run's random numbers stay as they were
            grid = self.images()
        if not isinstance(grid, torch.Tensor) or grid.ndim != 4 or grid.shape[1] not in (1, 3):
            got = tuple(grid.shape) if isinstance(grid, torch.Tensor) else type(grid).__name__
            raise ValueError(f"The image hook of this TensorBoard log must return images (N, C, H, W) with C = 1 "
                             f"or 3 and values in [0, 1]; got {got}. Set image_every=0 to log no images.")
        self.writer.add_images("samples", grid.detach().float().cpu().clamp(0, 1), step)
        self.last_imaged = step


# --------------------------------------------------------------------------- a run: progress, time, interrupt


class TrainingRun:
    """The frame around a loop: a progress bar, the clock, the ■ button, and the log.

    ::

        with TrainingRun(history, config, "VAE") as run:
            for step in run.steps():
                ...
                run.show(loss=f"{value:.2f}")

    On KeyboardInterrupt the block ends quietly: ``history.interrupted`` is set, a line says
    how many steps were completed, and the models keep their current weights. On any other
    error (a :class:`TrainingDiverged`, say) the bar is closed and the error goes on. Either
    way ``history.seconds`` holds the time spent.

    With ``config.log_dir`` the run also keeps a :class:`TrainingLog` (TensorBoard): after
    each step it writes what the history recorded, and a grid from ``images`` (the loop's
    :data:`ImageHook`, None for a model that draws no images) under the name ``samples``;
    validations are written as ``val/<val_name>``. The log is closed however the block ends.
    """

    def __init__(self, history: History, config: TrainConfig, desc: str, what: str = "the model keeps its",
                 images: ImageHook | None = None, val_name: str = "loss"):
        self.history, self.config, self.desc, self.what = history, config, desc, what
        self.images, self.val_name = images, val_name
        self.step = 0
        self.log: TrainingLog | None = None

    def __enter__(self) -> "TrainingRun":
        log_dir = getattr(self.config, "log_dir", None)
        if log_dir is not None:  # before the bar and the clock: a missing tensorboard stops the run before step 1
            self.log = TrainingLog(log_dir, self.history, self.config, self.desc, self.images, self.val_name)
        self.bar = tqdm(total=self.config.steps, desc=self.desc, disable=not self.config.progress, mininterval=0.5)
        self.start = time.perf_counter()
        return self

    def steps(self) -> Iterator[int]:
        """Step numbers 1 … config.steps; after each, the bar moves on and the log is written."""
        for self.step in range(1, self.config.steps + 1):
            yield self.step
            if self.log is not None:
                self.log.after_step(self.step)
            self.bar.update(1)

    def show(self, force: bool = False, **postfix: str) -> None:
        """Numbers beside the bar, every 50 steps (or now, with ``force``)."""
        if force or self.step % 50 == 0:
            self.bar.set_postfix(refresh=False, **postfix)

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.bar.close()
        self.history.seconds = time.perf_counter() - self.start
        if self.log is not None:
            self._close_log(finished=exc_type is None)
        if exc_type is KeyboardInterrupt:
            self.history.interrupted = True
            print(f"Training interrupted at step {self.step}: returning the history of {len(self.history)} "
                  f"completed steps; {self.what} current weights.")
            return True
        return False

    def _close_log(self, finished: bool) -> None:
        if finished:  # a failure to write is an error of its own
            self.log.close(finished=True)
            return
        try:  # after ■ or a NaN: never hide why the run stopped behind a failure to write
            self.log.close(finished=False)
        except Exception as err:  # noqa: BLE001 — reported, and the run's own exception goes on
            warnings.warn(f"The TensorBoard log in {self.log.log_dir} could not be completed: {err}", stacklevel=3)


# --------------------------------------------------------------------------- one model, one loss


def fit(
    model: nn.Module,
    config: TrainConfig,
    *,
    batch_indices: Iterator[torch.Tensor],
    loss_fn: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]],
    evaluate: Callable[[nn.Module], float] | None,
    device: torch.device,
    desc: str,
    causes: str,
    callback: Callback | None = None,
    images: Callable[[nn.Module], torch.Tensor] | None = None,
    val_name: str = "loss",
) -> History:
    """The loop of one model minimising one loss — what :func:`~gankit.train.train_lm`,
    :func:`~gankit.train.train_vae` and :func:`~gankit.train.train_classifier` share.

    Each step: (1) the next minibatch ``idx`` from ``batch_indices``; (2) ``loss, stats =
    loss_fn(idx)``; (3) one AdamW step at the scheduled learning rate; (4) record the loss
    and ``stats`` (as extras), update the EMA, call ``callback``. With ``evaluate`` (a
    function of the model giving the validation measure, lower is better), validate every
    ``config.eval_every`` steps and at the end, keep the best weights (``keep_best``) and
    stop after ``patience`` validations without improvement.

    At the end (unless interrupted) the model takes the best validated weights when
    ``keep_best`` found some, else the averaged weights when ``config.ema > 0``. ``causes``
    names the likely causes of a NaN loss for this family.

    With ``config.log_dir`` the run writes a TensorBoard log (:class:`TrainingLog`): the
    loss, the learning rate and ``stats`` as ``train/…``, validations as ``val/<val_name>``,
    and, when the family can draw, ``images(model)`` — samples (N, C, H, W) in [0, 1] from
    the weights validation measures (the averaged copy with ``ema``) — every
    ``config.image_every`` steps.
    """
    cfg = config
    opt = make_optimizer(model, cfg)
    average = WeightAverage(model, cfg.ema) if cfg.ema else None
    judged = average.model if average is not None else model  # the weights that validation measures
    models = {"model": model, **({"ema": average.model} if average is not None else {})}
    history = History()
    best_val, best_state, since_best = math.inf, None, 0

    grid = (lambda: images(judged)) if images is not None else None
    with TrainingRun(history, cfg, desc, images=grid, val_name=val_name) as run:
        for step in run.steps():
            # (1) a minibatch, (2) its loss
            idx = next(batch_indices).to(device)
            loss, stats = loss_fn(idx)
            value = loss.item()
            check_finite(value, "The loss", step, history, f"the model keeps its weights of step {step - 1}", causes)
            # (3) one step at the scheduled learning rate
            lr = cfg.lr_at(step)
            optimizer_step(opt, loss, lr, model, cfg.grad_clip)
            if average is not None:
                average.update(model)
            # (4) record; validate, and keep the best weights so far
            history.record(step, lr, value, **stats)
            if evaluate is not None and (step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)):
                val = evaluate(judged)
                history.val_step.append(step)
                history.val_loss.append(val)
                run.show(force=True, loss=f"{value:.3f}", val=f"{val:.3f}")
                if val < best_val:
                    best_val, since_best, history.best_step = val, 0, step
                    if cfg.keep_best:
                        best_state = {k: v.detach().clone() for k, v in judged.state_dict().items()}
                else:
                    since_best += 1
                    if cfg.patience and since_best >= cfg.patience:
                        history.stopped_early = True
                        break
            else:
                run.show(loss=f"{value:.3f}", **{k: f"{v:.2f}" for k, v in stats.items()})
            if callback is not None:
                callback(step, models, history)

    if best_state is not None and not history.interrupted:
        model.load_state_dict(best_state)
    else:
        history.best_step = 0
        if average is not None and not history.interrupted:
            model.load_state_dict(average.model.state_dict())
    return history



# --------------------------------------------------------------------------- data


def check_examples(data: Any, name: str = "data") -> tuple[torch.Tensor, torch.Tensor | None]:
    """(examples, labels or None) from ``data``: a tensor of examples (N, ...), or a pair
    (examples, labels) with one integer class index ≥ 0 per example — or a ValueError that
    says what was wrong."""
    labels = None
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"{name} must be a tensor of examples or a pair (examples, labels); got {len(data)} items.")
        data, labels = data
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point:
            raise ValueError(f"{name}: labels must be a 1-D tensor of integer class indices (0 … n_classes − 1).")
    if not isinstance(data, torch.Tensor) or data.ndim < 2 or len(data) == 0:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"{name} must be a non-empty tensor of examples, shape (N, ...) — images (N, C, H, W) — "
                         f"got {shape}.")
    if labels is not None:
        if len(labels) != len(data):
            raise ValueError(f"{name}: {len(data)} examples but {len(labels)} labels; give one label per example.")
        if len(labels) and labels.min() < 0:
            raise ValueError(f"{name}: labels must be ≥ 0, got {labels.min().item()}.")
    if not torch.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or inf values; clean it before training.")
    return data, labels



def prepare_examples(
    model: nn.Module, data: Any, val_data: Any, device: torch.device | str | None, seed: int | None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.device, torch.Generator | None]:
    """What a one-model loop does before its first step: check ``data`` (and ``val_data``)
    with :func:`check_examples`, :func:`place` the model, move the examples (and labels, if
    any) to its device, and make the loop's generator, seeded with ``seed`` (None without a
    seed). Returns ``(x, y, device, generator)``; ``y`` is None for unlabelled data."""
    x, y = check_examples(data, "data")
    if val_data is not None:
        check_examples(val_data, "val_data")
    device = place(model, device)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return x, y, device, generator