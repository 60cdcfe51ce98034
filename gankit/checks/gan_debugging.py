"""Lesson 05: debugging a broken GAN training loop.

The lesson takes a GAN training script written the way many tutorials write it — with
the classic mistakes in it — and fixes it one symptom at a time. The script is split into
small pieces, and each piece has a check here that *runs* the student's version on a
tiny problem with a known answer and says which mistake it sees:

=========================  =====================================================  ==========================
piece                      the mistake                                            check
=========================  =====================================================  ==========================
``make_optimizers(G, D)``  optimisers built from the model *classes*              :func:`check_optimizers`
``criterion``              ``BCELoss`` on a discriminator that returns logits     :func:`check_criterion`
``d_step(gan, real, fake)``  fake batch not detached: D's loss reaches G          :func:`check_d_step`
``update(opt, loss)``      ``zero_grad()`` after ``backward()``                   :func:`check_update`
``g_step(gan, fake)``      G's loss steps D's optimiser                           :func:`check_g_step`
``real_batch(data, n)``    random noise passed off as the real batch             :func:`check_real_batch`
``generator_loss(logits)`` G's loss identical to D's loss on the fakes (target 0)  :func:`check_generator_loss`
an image generator         a last layer that cannot be reshaped into the image    :func:`check_image_generator`
=========================  =====================================================  ==========================

The checks look at behaviour, not at source code: which weights changed after one step,
whether a gradient arrived where it should (and nowhere else), the loss value against
a hand computation, the shape of what comes out.

:func:`show_error` runs a piece of the buggy script and prints the error it raises (the
lines of your code it went through, and the message) instead of stopping the notebook;
:func:`show_run` draws what a short training run did.
"""

from __future__ import annotations

import functools
import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from gankit import viz
from gankit._i18n import tr
from gankit.checks.core import CheckFailed, not_written, run_student
from gankit.data import mixture
from gankit.models.gan import (
    MLPDiscriminator,
    MLPDiscriminatorConfig,
    MLPGenerator,
    MLPGeneratorConfig,
)

__all__ = [
    "GANParts",
    "show_error",
    "show_run",
    "check_optimizers",
    "check_criterion",
    "check_d_step",
    "check_update",
    "check_g_step",
    "check_real_batch",
    "check_generator_loss",
    "check_image_generator",
]


@dataclass
class GANParts:
    """Everything one training step needs: the two players, their optimisers and the loss
    function ``criterion(logits, targets)``."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- seeing symptoms

_TORCH_DIR = str(Path(torch.__file__).parent)


def show_error(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Exception | None:
    """Call ``fn(*args, **kwargs)``; if it raises, print where (the frames outside PyTorch's
    own code, most recent last) and the error message, and return the exception instead of
    stopping the notebook. Returns None (and says so) when nothing was raised."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 — showing any error is the point
        frames = traceback.extract_tb(exc.__traceback__)[1:]  # [0] is this function
        print(tr("Traceback (most recent call last), PyTorch's internals left out:"))
        for frame in frames:
            if frame.filename.startswith(_TORCH_DIR):
                continue
            print(tr("  in {function}(), line {lineno}:   {code}", function=frame.name, lineno=frame.lineno,
                     code=(frame.line or "").strip()))
        print(type(exc).__name__ + ": " + str(exc))  # Python's own error line, as Python writes it: not translated
        return exc
    print(tr("No error: this piece runs."))
    return None


def show_run(gan: GANParts, history: Any, real: torch.Tensor, title: str,
             bounds: tuple[float, float, float, float] = (-3.5, 3.5, -3.5, 3.5)):
    """A short training run at a glance: the two losses per step, and where G's samples
    were at the start (grey) and are now (orange), over D's belief (blue = real).

    ``history`` is a :class:`gankit.train.History` whose first snapshot holds the samples
    of step 0 and whose last holds those of the last step (same noise batch)."""
    start, end = history.snapshots[0]["samples"], history.snapshots[-1]["samples"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    viz.plot_losses(history, ax=axes[0], smooth=10, title="Losses (moving average over 10 steps)")
    axes[0].axhline(2 * math.log(2), color="gray", ls=":", lw=1, label="D's loss when it cannot tell, 2 log 2")
    axes[0].legend(fontsize=8)
    viz.plot_2d(real, end, gan.D, bounds=bounds, ax=axes[1], title="Samples: start (grey) and end (orange)")
    axes[1].scatter(start[:, 0], start[:, 1], s=4, c="gray", alpha=0.5, label="G's samples at step 0")
    axes[1].legend(loc="upper right", fontsize=8, markerscale=3)
    fig.suptitle(title)
    fig.tight_layout()
    moved = (end - start).norm(dim=1).mean().item()
    print(tr("{title}: after {steps} steps, G's samples moved {moved:.3f} on average from where they started; "
             "D's loss went {d_first:.3f} -> {d_last:.3f} (first and last 10 steps).", title=title,
             steps=len(history), moved=moved, d_first=_mean(history.d_loss[:10]), d_last=_mean(history.d_loss[-10:])))
    return fig


def _mean(values: list[float]) -> float:
    return sum(values) / max(1, len(values))


# --------------------------------------------------------------------------- helpers for the checks


def _keeps_rng(check: Callable[..., None]) -> Callable[..., None]:
    """Run a check without moving the global random number generator, so a notebook that
    calls it draws the same numbers afterwards as one that does not."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)

    return wrapper


def _small_gan(seed: int = 0, lr: float = 1e-3) -> GANParts:
    """A tiny 2-D GAN with Adam optimisers and the right loss, always the same for a seed
    (built without disturbing the notebook's random number stream)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = MLPGenerator(MLPGeneratorConfig(latent_dim=2, data_dim=2, hidden_dim=16, n_hidden=2))
        D = MLPDiscriminator(MLPDiscriminatorConfig(data_dim=2, hidden_dim=16, n_hidden=2))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    return GANParts(G, D, opt_g, opt_d, nn.BCEWithLogitsLoss())


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _changed(model: nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before))


def _has_grad(model: nn.Module) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters())


def _number(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailed(tr("{what} should return the loss as a number (loss.item()) or a one-element tensor, "
                         "got {kind}: the loop records it to draw the loss curve.", what=what,
                         kind=type(value).__name__))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)


def _param_ids(opt: torch.optim.Optimizer) -> set[int]:
    return {id(p) for group in opt.param_groups for p in group["params"]}


# --------------------------------------------------------------------------- 1 · optimisers


@_keeps_rng
def check_optimizers(make_optimizers: Callable[[nn.Module, nn.Module, float], tuple]) -> None:
    """``make_optimizers(G, D, lr)`` must return ``(opt_g, opt_d)``: an optimiser over the
    parameters of the generator *instance* G and one over those of D, with learning rate lr."""
    gan = _small_gan()
    G, D = gan.G, gan.D
    try:
        out = make_optimizers(G, D, 3e-4)
    except NotImplementedError:
        raise not_written("make_optimizers") from None
    except TypeError as exc:
        if "parameters()" in str(exc) and "self" in str(exc):
            raise CheckFailed(tr(
                "make_optimizers raised TypeError: {exc}. The optimiser was given the parameters of the "
                "model's *class* (e.g. MLPGenerator.parameters()): a class is only the blueprint and holds no "
                "weights. Give each optimiser the parameters of the model you built: G.parameters() and "
                "D.parameters().", exc=exc
            )) from exc
        raise CheckFailed(tr("make_optimizers raised TypeError: {exc}", exc=exc)) from exc
    except Exception as exc:
        raise CheckFailed(tr("make_optimizers raised {error}: {exc}", error=type(exc).__name__, exc=exc)) from exc
    if not (isinstance(out, (tuple, list)) and len(out) == 2
            and all(isinstance(o, torch.optim.Optimizer) for o in out)):
        raise CheckFailed(tr("make_optimizers should return a pair (opt_g, opt_d) of torch optimisers, got {out!r}.",
                             out=out))
    opt_g, opt_d = out
    ids_g, ids_d = {id(p) for p in G.parameters()}, {id(p) for p in D.parameters()}
    if _param_ids(opt_g) == ids_d and _param_ids(opt_d) == ids_g:
        raise CheckFailed(tr("The two optimisers are swapped: return (opt_g, opt_d), G's first, in that order."))
    for name, opt, ids, model in (("opt_g", opt_g, ids_g, "G"), ("opt_d", opt_d, ids_d, "D")):
        if _param_ids(opt) != ids:
            raise CheckFailed(tr("{name} should hold exactly the parameters of {model} ({model}.parameters()): "
                                 "it holds {held} of {model}'s {total} parameter tensors and {others} others.",
                                 name=name, model=model, held=len(_param_ids(opt) & ids), total=len(ids),
                                 others=len(_param_ids(opt) - ids)))
        lrs = {group["lr"] for group in opt.param_groups}
        if lrs != {3e-4}:
            raise CheckFailed(tr("{name} has learning rate {rates}; use the lr argument (called with lr=3e-4).",
                                 name=name, rates=sorted(lrs)))
    print(tr("✓ make_optimizers: opt_g holds G's weights and opt_d holds D's, at the requested learning rate."))


# --------------------------------------------------------------------------- 2 · the loss function


@_keeps_rng
def check_criterion(criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``criterion(logits, targets)`` must be the binary cross-entropy of sigmoid(logits),
    averaged over the batch: mean[softplus(a) − t·a], what ``nn.BCEWithLogitsLoss()`` computes."""
    if criterion is Ellipsis:
        raise not_written("criterion")
    logits = torch.tensor([-3.0, 0.5, 2.0, 40.0], requires_grad=True)  # D's raw outputs: any real number
    targets = torch.tensor([0.0, 1.0, 1.0, 0.0])
    a, t = logits.detach(), targets
    expected = float((F.softplus(a) - t * a).mean())
    try:
        out = criterion(logits, targets)
    except NotImplementedError:
        raise not_written("criterion") from None
    except RuntimeError as exc:
        if "between 0 and 1" in str(exc):
            raise CheckFailed(tr(
                "criterion raised RuntimeError: {exc}. nn.BCELoss expects probabilities in [0, 1], but D "
                "returns logits (here -3 and 40): D has no sigmoid at its end, on purpose. Use "
                "nn.BCEWithLogitsLoss(), which applies the sigmoid inside, in a numerically stable way.", exc=exc
            )) from exc
        raise CheckFailed(tr("criterion raised RuntimeError: {exc}", exc=exc)) from exc
    except Exception as exc:
        raise CheckFailed(tr("criterion raised {error}: {exc}", error=type(exc).__name__, exc=exc)) from exc
    got = _number(out, "criterion")
    if not _close(got, expected):
        clamped = float(F.binary_cross_entropy(torch.sigmoid(a), t))  # log clamped at −100 by BCELoss
        hints = {
            tr("It looks like sigmoid followed by BCELoss: the right idea, but for a confident logit such as 40 "
               "the sigmoid rounds to exactly 1.0, and BCELoss clamps log(1 − 1) = log 0 to −100 — a wrong loss "
               "and a zero gradient. nn.BCEWithLogitsLoss() computes the same thing stably."): clamped,
            tr("It looks like a sum over the batch: the loss should be the mean (BCEWithLogitsLoss's default)."):
                float((F.softplus(a) - t * a).sum()),
            tr("The targets look flipped: real examples have target 1, generated ones 0."):
                float((F.softplus(a) - (1 - t) * a).mean()),
        }
        hint = next((h for h, v in hints.items() if _close(got, v)),
                    tr("Use nn.BCEWithLogitsLoss(): with logit a and target t it gives mean[log(1 + e^a) − t·a]."))
        raise CheckFailed(tr("criterion(logits={logits}, targets={targets}) = {got:.4f}, expected {expected:.4f}. "
                             "{hint}", logits=a.tolist(), targets=t.tolist(), got=got, expected=expected, hint=hint))
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise CheckFailed(tr("criterion's result does not carry a gradient: keep it a torch expression "
                             "(no .item()), or D and G cannot learn from it."))
    grad = torch.autograd.grad(out, logits)[0]
    if not torch.allclose(grad, (torch.sigmoid(a) - t) / len(a), atol=1e-6):
        raise CheckFailed(tr("criterion's value is right but its gradient is not (expected (sigmoid(a) − t) / B): "
                             "use nn.BCEWithLogitsLoss()."))
    print(tr("✓ criterion works on logits: {got:.4f} on the test batch (by hand: mean[log(1 + e^a) − t·a] = "
             "{expected:.4f}), with the gradient (sigmoid(a) − t) / B.", got=got, expected=expected))


# --------------------------------------------------------------------------- 3 · D's step


@_keeps_rng
def check_d_step(d_step: Callable[[GANParts, torch.Tensor, torch.Tensor], Any]) -> None:
    """``d_step(gan, real, fake)`` must compute D's loss, criterion(D(real), 1) +
    criterion(D(fake), 0) (or their average), on a *detached* fake batch, update D with it,
    and return it. Checked: the loss value, that no gradient reached G, and that the graph
    of ``fake = G(z)`` is still there for G's step afterwards."""
    gan = _small_gan()
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(32, 2, generator=gen) + 2.0
    fake = gan.G(torch.randn(32, 2, generator=gen))  # attached to G's graph, as in the loop
    with torch.no_grad():
        lr_, lf = gan.D(real), gan.D(fake)
        expected = float(F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
                          + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
    out = run_student(d_step, "d_step", gan, real, fake)
    got = _number(out, "d_step")
    if not (_close(got, expected) or _close(got, expected / 2)):
        raise CheckFailed(tr("d_step returned {got:.4f}; D's loss on the test batch is criterion(D(real), 1) + "
                             "criterion(D(fake), 0) = {expected:.4f} (or half of it, if you average the two): real "
                             "examples have target 1, generated ones 0.", got=got, expected=expected))
    if _has_grad(gan.G):
        raise CheckFailed(tr(
            "D's loss sent gradients into G's weights: D saw the fake batch still attached to G's graph. Give D "
            "fake.detach() in d_step, so D's update does not touch G (and retain_graph=True is no fix: it hides "
            "the error but still pushes D's gradients into G and runs a wasted backward pass through G)."
        ))
    try:
        gan.criterion(gan.D(fake), torch.ones(len(fake))).backward()  # what G's step does next
    except RuntimeError as exc:
        raise CheckFailed(tr(
            "After d_step, G's step cannot backpropagate through fake any more ({error}: {message}...): D's "
            "backward pass went through G's graph and freed it. Give D fake.detach().",
            error=exc.__class__.__name__, message=str(exc)[:80]
        )) from exc
    print(tr("✓ d_step: D's loss {got:.4f} matches the hand computation, and it stops at fake.detach(): "
             "no gradient reached G, and G(z)'s graph is left for G's step.", got=got))


# --------------------------------------------------------------------------- 4 · one optimiser update


@_keeps_rng
def check_update(update: Callable[[torch.optim.Optimizer, torch.Tensor], Any],
                 d_step: Callable[[GANParts, torch.Tensor, torch.Tensor], Any] | None = None) -> None:
    """``update(optimizer, loss)`` must take one gradient step on ``loss``: clear the old
    gradients, backpropagate, step. Checked on a linear model with plain SGD, whose step
    is known exactly: w ← w − lr · ∂loss/∂w, with stale gradients left from before.

    With ``d_step``, also checks that D's step now changes D's weights, and only D's."""
    gen = torch.Generator().manual_seed(0)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 3, generator=gen))
        model.bias.fill_(0.5)
    x = torch.randn(8, 3, generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    expected_grads = torch.autograd.grad((model(x) ** 2).mean(), list(model.parameters()))
    for p in model.parameters():  # stale gradients, as the previous step leaves them
        p.grad = torch.full_like(p, 5.0)
    before = _weights(model)
    run_student(update, "update", opt, (model(x) ** 2).mean())
    deltas = [p.detach() - b for p, b in zip(model.parameters(), before)]
    if all(float(d.abs().max()) == 0 for d in deltas):
        if not _has_grad(model):
            raise CheckFailed(tr(
                "The weights did not change, and their gradients are empty: zero_grad() ran after backward() and "
                "wiped the fresh gradients before step() could use them. The order is zero_grad(), backward(), step()."
            ))
        raise CheckFailed(tr("The weights did not change: call optimizer.step() after loss.backward()."))
    if all(torch.allclose(d, -0.1 * (g + 5.0), atol=1e-6) for d, g in zip(deltas, expected_grads)):
        raise CheckFailed(tr(
            "The step used the new gradient *plus* the old one: PyTorch adds gradients up in .grad, so call "
            "optimizer.zero_grad() before loss.backward()."
        ))
    if not all(torch.allclose(d, -0.1 * g, atol=1e-6) for d, g in zip(deltas, expected_grads)):
        raise CheckFailed(tr("The weights changed, but not by one gradient step (w − lr·∂loss/∂w): "
                             "update should call zero_grad(), backward() and step(), once each, in that order."))
    if d_step is None:
        print(tr("✓ update: one clean gradient step (zero_grad, backward, step), the old gradients discarded first."))
    else:
        gan = _small_gan()
        gen = torch.Generator().manual_seed(1)
        real, fake = torch.randn(32, 2, generator=gen) + 2.0, gan.G(torch.randn(32, 2, generator=gen))
        g_before, d_before = _weights(gan.G), _weights(gan.D)
        try:
            d_step(gan, real, fake)
        except Exception as exc:
            raise CheckFailed(tr("update passes, but d_step now raised {error}: {exc}", error=type(exc).__name__,
                                 exc=exc)) from exc
        if not _changed(gan.D, d_before):
            raise CheckFailed(tr("update passes, but d_step did not change D's weights: does it call "
                                 "update(gan.opt_d, loss) with D's loss?"))
        if _changed(gan.G, g_before):
            raise CheckFailed(tr("update passes, but d_step changed G's weights: D's step must only step gan.opt_d."))
        print(tr("✓ update: one clean gradient step (zero_grad, backward, step), the old gradients discarded first; "
                 "and D's step now trains D (and only D)."))


# --------------------------------------------------------------------------- 5 · G's step


@_keeps_rng
def check_g_step(g_step: Callable[[GANParts, torch.Tensor], Any]) -> None:
    """``g_step(gan, fake)`` must compute G's (non-saturating) loss criterion(D(fake), 1),
    update **G** with it — G's weights change, D's do not — and return it."""
    gan = _small_gan()
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(2))
    fake = gan.G(z)
    with torch.no_grad():
        logits = gan.D(fake)
        expected = float(F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
        wrong_target = float(F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)))
    g_before, d_before = _weights(gan.G), _weights(gan.D)
    out = run_student(g_step, "g_step", gan, fake)
    got = _number(out, "g_step")
    if not _close(got, expected):
        hint = (tr("It uses target 0: G wants D to call its samples *real*, so its target is 1.")
                if _close(got, wrong_target) else
                tr("G's loss is criterion(D(fake), 1), the non-saturating −log D(G(z))."))
        raise CheckFailed(tr("g_step returned {got:.4f}, expected {expected:.4f}. {hint}", got=got, expected=expected,
                             hint=hint))
    g_moved, d_moved = _changed(gan.G, g_before), _changed(gan.D, d_before)
    if not g_moved and d_moved:
        raise CheckFailed(tr("G's loss stepped D's optimiser: after g_step, D's weights changed and G's did not — "
                             "the wrong network was trained. Step gan.opt_g with G's loss."))
    if not g_moved:
        raise CheckFailed(tr("G's weights did not change: g_step should call update(gan.opt_g, loss) "
                             "(and update should pass its own check above)."))
    if d_moved:
        raise CheckFailed(tr("D's weights changed during G's step: only gan.opt_g steps here."))
    with torch.no_grad():
        after = float(F.binary_cross_entropy_with_logits(gan.D(gan.G(z)), torch.ones(len(z))))
    if not after < expected:
        raise CheckFailed(tr("G's step made its loss worse ({expected:.4f} -> {after:.4f}): is the loss's sign right?",
                             expected=expected, after=after))
    print(tr("✓ g_step: G's loss {got:.4f} matches the hand computation; one step moved G (loss -> {after:.4f}) "
             "and left D alone.", got=got, after=after))


# --------------------------------------------------------------------------- 6 · the real batch


@_keeps_rng
def check_real_batch(real_batch: Callable[[torch.Tensor, int, torch.Generator | None], torch.Tensor]) -> None:
    """``real_batch(data, batch_size, generator)`` must return ``batch_size`` examples of
    ``data`` (rows of it), drawn at random — a fresh draw each call, reproducible from the
    generator."""
    data = mixture("ring8").sample(400, seed=3)
    batch = run_student(real_batch, "real_batch", data, 64, torch.Generator().manual_seed(0))
    if not isinstance(batch, torch.Tensor) or batch.shape != (64, 2):
        shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise CheckFailed(tr("real_batch(data, 64, ...) should return 64 rows of data, shape (64, 2); got {shape}.",
                             shape=shape))
    in_data = (batch.float()[:, None, :] - data[None]).abs().amax(dim=2).min(dim=1).values < 1e-6  # (64,)
    if not in_data.all():
        looks_like_noise = abs(float(batch.mean())) < 0.4 and 0.6 < float(batch.std()) < 1.4
        if looks_like_noise:
            raise CheckFailed(tr(
                "{outside} of the 64 rows are not in the data set, and the batch looks like "
                "N(0, 1) noise (mean {mean:.2f}, std {std:.2f}): random noise was "
                "passed off as the real batch, so D learns to tell G's samples from noise, and G learns to "
                "imitate noise. Draw rows of data: data[torch.randint(len(data), (batch_size,), generator=generator)].",
                outside=int((~in_data).sum()), mean=float(batch.mean()), std=float(batch.std())
            ))
        raise CheckFailed(tr("{outside} of the 64 rows are not examples of data: the real batch must be "
                             "rows of the data set, unchanged.", outside=int((~in_data).sum())))
    gen = torch.Generator().manual_seed(0)
    again = torch.cat([real_batch(data, 64, gen) for _ in range(10)])
    if torch.equal(again[:64], again[64:128]):
        raise CheckFailed(tr("real_batch returns the same rows at every call: draw fresh random indices each time, "
                             "or D and G only ever see a few examples of the data."))
    if not torch.equal(real_batch(data, 64, torch.Generator().manual_seed(7)),
                       real_batch(data, 64, torch.Generator().manual_seed(7))):
        raise CheckFailed(tr("Two calls with identically seeded generators gave different batches: draw the indices "
                             "with the generator argument (torch.randint(..., generator=generator)), so a seed "
                             "reproduces the run."))
    seen = len(torch.unique(again, dim=0))
    if seen < 250:
        raise CheckFailed(tr("640 draws from 400 examples hit only {seen} distinct ones: draw indices from the whole "
                             "data set, torch.randint(len(data), ...).", seen=seen))
    print(tr("✓ real_batch: rows of the data set, drawn at random ({seen} distinct examples in 10 batches of 64), "
             "reproducible from the generator.", seen=seen))


# --------------------------------------------------------------------------- 7 · G's loss


@_keeps_rng
def check_generator_loss(generator_loss: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``generator_loss(fake_logits)`` must be G's non-saturating loss, −log D(G(z)) averaged
    over the batch, i.e. criterion(fake_logits, 1) = mean softplus(−a) for D(G(z)) = σ(a),
    as a differentiable tensor. Tells apart the mistakes with their own values: the articles'
    loss identical to D's loss on the fakes (target 0, mean softplus(a)), the saturating
    minimax loss log(1 − D) (mean −softplus(a)), a flipped sign (mean log D), the sum of the
    saturating and non-saturating terms (mean −a, whose gradient is the constant −1/B), and a
    sum over the batch instead of a mean."""
    logits = torch.tensor([-6.0, -1.5, 0.3, 2.5, 8.0], requires_grad=True)  # D's logits on 5 generated points
    a, B = logits.detach(), len(logits)
    expected = float(F.softplus(-a).mean())
    out = run_student(generator_loss, "generator_loss", logits)
    if not (isinstance(out, torch.Tensor) and out.numel() == 1):
        raise CheckFailed(tr("generator_loss should return the loss as a one-element tensor (no .item()): g_step calls "
                             "backward() on it; got {kind}.", kind=type(out).__name__))
    got = float(out.detach())
    mistakes = {
        tr("That is D's loss on the fakes, criterion(fake_logits, 0) = −log(1 − D(G(z))), the articles' generator "
           "loss: minimising it pushes D(G(z)) towards 0, so G learns to make its samples look *more* fake — the "
           "run above, where D(G(z)) fell to 0 and the samples left the ring. G wants D to call its samples real: "
           "target 1."): float(F.softplus(a).mean()),
        tr("That is the saturating (minimax) loss log(1 − D(G(z))) of the original game: it points the right way, "
           "but its gradient −σ(a) vanishes exactly when D confidently rejects the samples (a ≪ 0), which is how "
           "training starts. Use the non-saturating −log D(G(z)) = criterion(fake_logits, 1)."):
            float(-F.softplus(a).mean()),
        tr("That is log D(G(z)), the sign flipped: minimising it drives D(G(z)) to 0. G minimises −log D(G(z))."):
            float(-F.softplus(-a).mean()),
        tr("That is the saturating and the non-saturating terms added, log(1 − D) − log D: with D = σ(a) it equals "
           "−a, whose gradient is −1/B for every sample whatever D thinks of it — not G's loss in either form of "
           "the game. Keep only −log D(G(z))."): float(-a.mean()),
        tr("That is the right loss summed over the batch instead of averaged: its size (and the step it asks for) "
           "grows with the batch size. criterion averages; so should you."): float(F.softplus(-a).sum()),
    }
    if not _close(got, expected):
        hint = next((h for h, v in mistakes.items() if _close(got, v)),
                    tr("G's loss is −log D(G(z)) averaged over the batch: "
                       "criterion(fake_logits, torch.ones_like(fake_logits))."))
        raise CheckFailed(tr("generator_loss on the test logits {logits} returned {got:.4f}, expected {expected:.4f}. "
                             "{hint}", logits=a.tolist(), got=got, expected=expected, hint=hint))
    if not out.requires_grad:
        raise CheckFailed(tr("generator_loss has the right value but carries no gradient: keep it a torch expression "
                             "of fake_logits (no .item(), no torch.tensor(...) around it), or G cannot learn from it."))
    grad = torch.autograd.grad(out, logits)[0]
    if not torch.allclose(grad, (torch.sigmoid(a) - 1) / B, atol=1e-6):
        raise CheckFailed(tr("generator_loss has the right value but not the right gradient (expected (σ(a) − 1) / B): "
                             "compute it as criterion(fake_logits, torch.ones_like(fake_logits))."))
    print(tr("✓ generator_loss is the non-saturating −log D(G(z)) = {got:.4f} on the test logits, with the gradient "
             "(σ(a) − 1) / B: largest where D rejects the samples, vanishing only where D already calls them real.",
             got=got))


# --------------------------------------------------------------------------- 8 · an image generator


def _last_linear(model: nn.Module) -> nn.Linear | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


@_keeps_rng
def check_image_generator(generator_class: Callable[..., nn.Module]) -> None:
    """``generator_class(latent_dim=..., image_shape=(C, H, W))`` must build a generator
    whose output for noise (B, latent_dim) has shape (B, C, H, W) — for any batch size and
    for image shapes other than the default, i.e. its last layer makes C·H·W numbers."""
    for image_shape in [(1, 28, 28), (3, 8, 8)]:
        latent_dim = 16
        try:
            G = generator_class(latent_dim=latent_dim, image_shape=image_shape)
        except NotImplementedError:
            raise not_written(getattr(generator_class, "__name__", tr("the generator"))) from None
        except Exception as exc:
            raise CheckFailed(tr("Building the generator with latent_dim={latent_dim}, image_shape={image_shape} "
                                 "raised {error}: {exc}", latent_dim=latent_dim, image_shape=image_shape,
                                 error=type(exc).__name__, exc=exc)) from exc
        size = math.prod(image_shape)
        dims = " x ".join(map(str, image_shape))
        last = _last_linear(G)
        made = last.out_features if last is not None else None  # numbers per sample from the last linear layer
        for batch in (1, 49, 64):
            z = torch.randn(batch, latent_dim)
            try:
                with torch.no_grad():
                    out = G(z)
            except NotImplementedError:
                raise not_written(getattr(generator_class, "__name__", tr("the generator"))) from None
            except RuntimeError as exc:
                if "is invalid for input of size" in str(exc):
                    values = dict(batch=batch, exc=exc, made=made, image_shape=image_shape, dims=dims, size=size)
                    raise CheckFailed(
                        tr("G(z) for a batch of {batch} failed with RuntimeError: {exc}. The last layer makes {made} "
                           "numbers per sample, but an image of shape {image_shape} holds {dims} = {size}: make the "
                           "last layer's size follow the image, nn.Linear(..., math.prod(image_shape)).", **values)
                        if made is not None else
                        tr("G(z) for a batch of {batch} failed with RuntimeError: {exc}. The output does not hold one "
                           "image per sample: an image of shape {image_shape} holds {dims} = {size} numbers. Make the "
                           "last layer's size follow the image, nn.Linear(..., math.prod(image_shape)).", **values)
                    ) from exc
                raise CheckFailed(tr("G(z) for a batch of {batch} raised RuntimeError: {exc}", batch=batch,
                                     exc=exc)) from exc
            except Exception as exc:
                raise CheckFailed(tr("G(z) for a batch of {batch} raised {error}: {exc}", batch=batch,
                                     error=type(exc).__name__, exc=exc)) from exc
            if tuple(out.shape) == (batch, *image_shape):
                continue
            if tuple(out.shape[1:]) == image_shape:
                values = dict(batch=batch, images=out.shape[0], made=made, size=size, dims=dims)
                raise CheckFailed(
                    tr("{batch} noise vectors gave {images} images: the last layer makes {made} numbers per sample, "
                       "not {size} (the image's {dims}), and view(-1, ...) silently regrouped the numbers into a "
                       "different number of images. Make the last layer's size math.prod(image_shape).", **values)
                    if made is not None else
                    tr("{batch} noise vectors gave {images} images: the output does not hold {size} numbers per "
                       "sample (the image's {dims}), and view(-1, ...) silently regrouped the numbers into a "
                       "different number of images. Make the last layer's size math.prod(image_shape).", **values)
                )
            raise CheckFailed(tr("G(z) for {batch} noise vectors of size {latent_dim} should have shape {expected}, "
                                 "got {shape}.", batch=batch, latent_dim=latent_dim, expected=(batch, *image_shape),
                                 shape=tuple(out.shape)))
    print(tr("✓ The image generator's last layer fits the image: (B, latent_dim) -> (B, C, H, W) for every batch "
             "size tried (1, 49, 64), for 28x28 digits and for 3x8x8 colour images alike."))
