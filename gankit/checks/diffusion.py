"""Exercise checks of lesson 12 (diffusion and flow matching on 2-D data).

* :func:`check_eps_loss` — the student's ε-prediction loss (Ho et al. 2020, eq. 14) on a
  fixed batch, times and noise, against the reference worked out here with the kit's own
  schedule; it looks at what the network was shown (x_t and the time) as well as at the
  value, so it can name the slip: ᾱ_t where √ᾱ_t belongs, α_t for ᾱ_t, t off by one, the
  step t instead of the fraction t / T, x₀ as the target instead of ε, a sum instead of a mean;
* :func:`check_ddim_step` — one deterministic DDIM step x_t → x_s (Song et al. 2021, eq. 12)
  against :func:`gankit.models.diffusion.ddim_step`, naming a missing square root, α_t for
  ᾱ_t, a dropped noise direction, t and s swapped, fresh noise added;
* :func:`check_one_step_prediction` — the predict exercise: where a single Euler step of a
  flow-matching network puts the samples, against what the lesson measured.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from gankit.checks.core import CheckFailed, not_written, student_number, tr
from gankit.models.diffusion import NoiseSchedule, ddim_step, make_schedule

__all__ = ["check_eps_loss", "check_ddim_step", "check_one_step_prediction"]

_T = 20  # a short schedule: neighbouring steps differ enough that an off-by-one shows


def _call(fn: Callable, name: str, *args):
    """The student's function called, with the stub and the usual crashes explained."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise not_written(name) from None
    except IndexError as exc:
        raise CheckFailed(tr("{name} raised IndexError ({exc}): the schedule's tensors have T + 1 entries, index t "
                             "is step t (index 0 is the clean data), so schedule.alpha_bars[t] is ᾱ_t — no +1 or −1.",
                             name=name, exc=exc)) from exc
    except RuntimeError as exc:
        text = str(exc)
        if "dtype" in text or "Double" in text:
            raise CheckFailed(tr("{name} raised RuntimeError ({text}): the schedule's tensors are float64 (so that a "
                                 "product of a thousand factors stays exact); convert what you take from them with "
                                 ".to(x0.dtype) before mixing them with the float32 data.",
                                 name=name, text=text)) from exc
        if "must match the size" in text:
            raise CheckFailed(tr("{name} raised RuntimeError ({text}): ᾱ_t holds one value per example, shape (B,); "
                                 "reshape it to (B, 1) so that it multiplies every coordinate of its own example.",
                                 name=name, text=text)) from exc
        raise CheckFailed(tr("{name} raised RuntimeError: {text}", name=name, text=text)) from exc
    except Exception as exc:
        raise CheckFailed(tr("{name} raised {error}: {exc}", name=name, error=exc.__class__.__name__, exc=exc)) from exc


# --------------------------------------------------------------------------- lesson 12: the ε-prediction loss


class _RecordingDenoiser(nn.Module):
    """A fixed linear 'network' ε_θ(x, t) = W x + t·b for 2-D points that remembers what it was
    called with, so the check can see which x_t and which time the loss gave it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.time = nn.Parameter(torch.tensor([0.7, -1.3]))
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.6, -0.4], [0.3, 0.8]]))
            self.lin.bias.copy_(torch.tensor([0.1, -0.2]))
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(t, torch.Tensor):
            t = torch.as_tensor(t)
        self.calls.append((x.detach().clone(), t.detach().clone()))
        if t.ndim == 0:
            t = t.expand(len(x))
        return self.lin(x) + t.to(x.dtype)[:, None] * self.time  # (B, 2)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5)


def check_eps_loss(fn: Callable) -> None:
    """Check ``fn(model, x0, t, noise, schedule)`` = DDPM's simplified loss on the given batch
    (Ho et al. 2020, eq. 14), with the given steps t (integers 1 … T) and noise ε:

        x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε,     loss = mean over batch and coordinates of (ε_θ(x_t, t / T) − ε)².

    The network is told the time as the fraction t / T."""
    schedule = make_schedule("cosine", _T)
    gen = torch.Generator().manual_seed(12)
    x0 = 2 * torch.randn(6, 2, generator=gen)  # six examples: B ≠ 2, so a (B,) factor cannot broadcast by luck
    noise = torch.randn(6, 2, generator=gen)
    t = torch.tensor([1, 4, 9, 13, 17, _T])
    model = _RecordingDenoiser()
    got = _call(fn, "my_eps_loss", model, x0, t, noise, schedule)

    def mix(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor = x0, e: torch.Tensor = noise) -> torch.Tensor:
        return a.float()[:, None] * x + b.float()[:, None] * e

    ab = schedule.alpha_bars
    ab_t, ab_prev = ab[t], ab[t - 1]
    x_t = mix(ab_t.sqrt(), (1 - ab_t).sqrt())
    with torch.no_grad():
        pred = model.lin(x_t) + (t.float() / _T)[:, None] * model.time
    expected = float(((pred - noise) ** 2).mean())

    # (1) what came back: one differentiable number
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(tr("my_eps_loss should return a torch tensor (the loss), got {kind}.",
                             kind=type(got).__name__))
    if got.numel() != 1:
        raise CheckFailed(tr("my_eps_loss should return one number, the mean over the batch and the coordinates; got a "
                             "tensor of shape {shape}: finish with .mean() (or F.mse_loss(prediction, noise)).",
                             shape=tuple(got.shape)))
    # (2) what the network was shown
    if not model.calls:
        raise CheckFailed(tr("my_eps_loss never called the model: the loss compares model(x_t, t / T) with the noise."))
    seen_x, seen_t = model.calls[-1]
    if seen_x.shape != x0.shape:
        raise CheckFailed(tr("The model was called on a batch of shape {shape}; expected x_t, one noised "
                             "example per example of x0: shape {expected}.", shape=tuple(seen_x.shape),
                             expected=tuple(x0.shape)))
    if not _same(seen_x, x_t):
        hint = next((h for h, v in [
            (tr("x_t mixes x₀ and ε with ᾱ_t and 1 − ᾱ_t: their square roots belong there, √ᾱ_t and √(1 − ᾱ_t) "
                "(ᾱ_t is the share of the *variance* that is signal)."), mix(ab_t, 1 - ab_t)),
            (tr("only the noise's factor lacks its square root: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε."),
             mix(ab_t.sqrt(), 1 - ab_t)),
            (tr("only the signal's factor lacks its square root: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε."),
             mix(ab_t, (1 - ab_t).sqrt())),
            (tr("this is ᾱ of step t − 1: schedule.alpha_bars has T + 1 entries and index t is step t (index 0 is the "
                "clean data), so take alpha_bars[t], not alpha_bars[t - 1]."),
             mix(ab_prev.sqrt(), (1 - ab_prev).sqrt())),
            (tr("this uses α_t = 1 − β_t, one step's share, where ᾱ_t, the product over steps 1 … t, belongs: "
                "schedule.alpha_bars, not schedule.alphas."),
             mix(schedule.alphas[t].sqrt(), (1 - schedule.alphas[t]).sqrt())),
            (tr("x₀ and ε are swapped: the signal x₀ gets √ᾱ_t, the noise ε gets √(1 − ᾱ_t)."),
             mix(ab_t.sqrt(), (1 - ab_t).sqrt(), noise, x0)),
            (tr("the model was shown the clean x₀: noise it first, x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε."), x0),
        ] if _same(seen_x, v)), tr("use the given noise and steps (the check passes them so that the answer is known) "
                                   "and x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε with ᾱ_t = schedule.alpha_bars[t], one per "
                                   "example, shaped (B, 1)."))
        raise CheckFailed(tr("The model was not shown the right x_t: {hint}", hint=hint))
    seen_t = seen_t.double()
    if seen_t.ndim == 0:
        seen_t = seen_t.expand(len(t))
    if not _same(seen_t, t.double() / _T):
        if _same(seen_t, t.double()):
            hint = tr("it got the step t itself (up to T = {T}); the network takes the time as a fraction in [0, 1]: "
                      "pass t / T (schedule.timesteps is T), as a float tensor.", T=_T)
        elif _same(seen_t, (t.double() - 1) / _T) or _same(seen_t, (t.double() + 1) / _T):
            hint = tr("it is one step off: pass t / T for the same t whose ᾱ_t made x_t.")
        elif _same(seen_t, t.double() / (_T + 1)) or _same(seen_t, t.double() / (_T - 1)):
            hint = tr("divide by T = schedule.timesteps ({T}), so that step T is time 1.", T=_T)
        else:
            hint = tr("pass the fraction t / T, one per example, shape (B,).")
        raise CheckFailed(tr("The model was shown x_t correctly but not the right time: {hint}", hint=hint))
    # (3) the value: the network's prediction against the noise
    value = float(got.detach())
    if not math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-6):
        p = pred
        hint = next((h for h, v in [
            (tr("the target is the noise ε that made x_t, not the clean x₀: this loss trains the network to predict x₀ "
                "(another parameterisation; DDPM's ε-prediction is what this lesson's samplers expect)."),
             ((p - x0) ** 2).mean()),
            (tr("the target is the noise ε, not x_t."), ((p - x_t) ** 2).mean()),
            (tr("it looks like a sum over the batch: average with .mean() so that the loss does not grow with the "
                "batch."), ((p - noise) ** 2).sum()),
            (tr("that is the squared error summed over each example's coordinates, then averaged: the kit (and "
                "F.mse_loss) averages over the coordinates too, so the loss does not grow with the data's dimension."),
             ((p - noise) ** 2).sum(1).mean()),
            (tr("the error is not squared: the loss is the mean of (ε_θ − ε)²."), (p - noise).abs().mean()),
            (tr("the error is squared after averaging: square each difference first, then take the mean."),
             (p - noise).mean() ** 2),
        ] if math.isclose(value, float(v), rel_tol=1e-4, abs_tol=1e-6)),
            tr("compare the model's prediction model(x_t, t / T) with the noise: the mean of the squared differences."))
        raise CheckFailed(tr("The model saw the right x_t and time, but the loss is {value:.5f}, expected "
                             "{expected:.5f}: {hint}", value=value, expected=expected, hint=hint))
    if not got.requires_grad:
        raise CheckFailed(tr("The value is right, but it does not depend on the network's weights through autograd: "
                             "keep to torch operations (no .item(), .detach() or numpy), or the loss cannot train "
                             "anything."))
    print(tr("✓ ε-prediction loss correct ({value:.4f} on the test batch): x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε from the given "
             "noise, the network told t / T, and the mean squared error against ε.", value=value))


# --------------------------------------------------------------------------- lesson 12: one DDIM step


def check_ddim_step(fn: Callable) -> None:
    """Check ``fn(x_t, eps, t, s, schedule)`` = one deterministic DDIM step (η = 0) from step t
    to an earlier step s (Song et al. 2021, eq. 12), against
    :func:`gankit.models.diffusion.ddim_step`:

        x̂₀ = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t,      x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s) ε."""
    schedule: NoiseSchedule = make_schedule("cosine", _T)
    gen = torch.Generator().manual_seed(21)
    x_t = torch.randn(5, 2, generator=gen)
    eps = torch.randn(5, 2, generator=gen)

    for t, s in [(15, 5), (_T - 2, 0), (1, 0)]:
        got = _call(fn, "my_ddim_step", x_t.clone(), eps.clone(), t, s, schedule)
        if not isinstance(got, torch.Tensor) or got.shape != x_t.shape:
            what = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(tr("my_ddim_step should return x_s, a tensor shaped like x_t {shape}; got {what}.",
                                 shape=tuple(x_t.shape), what=what))
        expected = ddim_step(x_t, eps, t, s, schedule)
        if _same(got, expected):
            continue
        again = _call(fn, "my_ddim_step", x_t.clone(), eps.clone(), t, s, schedule)
        if not _same(again, got):
            raise CheckFailed(tr("my_ddim_step gives another answer each time it is called: it adds fresh noise. DDIM "
                                 "with η = 0 is deterministic: x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s) ε, with the same ε the "
                                 "network predicted and no new draw."))
        a_t, a_s = float(schedule.alpha_bars[t]), float(schedule.alpha_bars[s])
        x0_hat = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        al_t, al_s = float(schedule.alphas[t]), float(schedule.alphas[s])
        hint = next((h for h, v in [
            (tr("it lands on x̂₀ itself: the step goes to step s, x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s) ε, not all the way to "
                "the data."), x0_hat),
            (tr("the noise direction is missing: x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s) ε keeps the predicted noise, at the level "
                "step s still has."), math.sqrt(a_s) * x0_hat),
            (tr("the square roots are missing: ᾱ is a share of the variance, so the mean is scaled by √ᾱ and the "
                "noise by √(1 − ᾱ), both in x̂₀ and in x_s."),
             a_s * (x_t - (1 - a_t) * eps) / a_t + (1 - a_s) * eps),
            (tr("x̂₀ is right, but the new point lacks its square roots: x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s) ε."),
             a_s * x0_hat + (1 - a_s) * eps),
            (tr("the noise is put back at step t's level: x_s takes √(1 − ᾱ_s), the noise that step s has, not "
                "√(1 − ᾱ_t)."), math.sqrt(a_s) * x0_hat + math.sqrt(1 - a_t) * eps),
            (tr("t and s are swapped: x̂₀ comes from x_t with ᾱ_t; the new point x_s is built with ᾱ_s."),
             math.sqrt(a_t) * (x_t - math.sqrt(1 - a_s) * eps) / math.sqrt(a_s) + math.sqrt(1 - a_t) * eps),
            (tr("this uses α (one step's share, schedule.alphas) where ᾱ (the product over the steps, "
                "schedule.alpha_bars) belongs."),
             math.sqrt(al_s) * (x_t - math.sqrt(1 - al_t) * eps) / math.sqrt(al_t) + math.sqrt(1 - al_s) * eps),
        ] if _same(got, v)), tr("compute x̂₀ = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t, then x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s) ε, "
                                "with ᾱ_t = schedule.alpha_bars[t] and ᾱ_s = schedule.alpha_bars[s]."))
        raise CheckFailed(tr("One DDIM step from t = {t} to s = {s} is not right: {hint}", t=t, s=s, hint=hint))
    print(tr("✓ DDIM step correct: the predicted x̂₀, moved to step s with the noise the network predicted and no new "
             "draw (with s = 0 it lands on x̂₀)."))


# --------------------------------------------------------------------------- lesson 12: predict one Euler step


def check_one_step_prediction(predicted_hq_one_step: object, predicted_radius_one_step: object, hq_one_step: float,
                              radius_one_step: float, ring_radius: float = 2.0) -> None:
    """Lesson 12's predict exercise: a flow-matching network sampled with a single Euler step
    (x₀ = x₁ − v_θ(x₁, 1)). ``predicted_hq_one_step`` (a share, 0–1) must lie within 0.1 of the
    measured high-quality share, ``predicted_radius_one_step`` (the samples' mean distance from
    the ring's centre) within 0.5 of the measured one."""
    hq = student_number(predicted_hq_one_step, "predicted_hq_one_step")
    radius = student_number(predicted_radius_one_step, "predicted_radius_one_step")
    problems = []
    if not 0 <= hq <= 1:
        if 1 < hq <= 100:
            problems.append(tr("predicted_hq_one_step should be a share between 0 and 1 (a share: 10 % is 0.1), got "
                               "{hq:g}.", hq=hq))
        else:
            problems.append(tr("predicted_hq_one_step should be a share between 0 and 1, got {hq:g}.", hq=hq))
    elif abs(hq - hq_one_step) > 0.1:
        problems.append(tr("high-quality share: you predicted {hq:.0%}, measured {measured:.1%}.", hq=hq,
                           measured=hq_one_step))
    if radius < 0:
        problems.append(tr("predicted_radius_one_step is a distance, ≥ 0; got {radius:g}.", radius=radius))
    elif abs(radius - radius_one_step) > 0.5:
        if abs(radius - ring_radius) <= 0.5:
            why = tr("One step would be exact if every sample's path were a straight line the network knew. But the "
                     "network learnt v(x, t), the *average* velocity of all the straight paths (x₀ → ε) that pass "
                     "through x at time t. At t = 1 the noise tells nothing about which data point it came from, so "
                     "the average runs to the average of the data.")
        else:
            why = tr("At t = 1, x₁ is pure noise, whatever x₀ it was paired with: v(x₁, 1) = E[ε − x₀ | x₁] = "
                     "x₁ − E[x₀]. Where does x₁ − v(x₁, 1) land?")
        problems.append(tr("mean distance from the centre: you predicted {radius:.2f}, measured {measured:.2f}. {why}",
                           radius=radius, measured=radius_one_step, why=why))
    if problems:
        raise CheckFailed(tr("Not quite. {problems}", problems=" ".join(problems)))
    print(tr("✓ Predicted {hq:.0%} high quality at distance {radius:.2f}; measured {measured_hq:.1%} at "
             "{measured_radius:.2f}. One Euler step from pure noise moves every sample to the network's guess of the "
             "average data point — the centre of the ring, where there is no data — because the learnt velocity "
             "averages over every path through x₁. The straight paths are the training pairs', not the model's.",
             hq=hq, radius=radius, measured_hq=hq_one_step, measured_radius=radius_one_step))
