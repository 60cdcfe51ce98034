"""The exercise checks of lesson 12 (gankit/checks/diffusion.py): the reference solution
passes, each named mistake fails with its own hint, the stub's NotImplementedError and
``...`` are "not written yet"."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from gankit import checks
from gankit.checks import CheckFailed, check_ddim_step, check_eps_loss, check_one_step_prediction
from gankit.checks import diffusion as diffusion_checks
from gankit.models.diffusion import MLPDenoiser, MLPDenoiserConfig, ddim_step, make_schedule


def fails(words: str):
    return pytest.raises(CheckFailed, match=re.escape(words))


def test_the_checks_are_registered():
    assert diffusion_checks in checks._FAMILIES
    for name in ("check_eps_loss", "check_ddim_step", "check_one_step_prediction"):
        assert getattr(checks, name) is getattr(diffusion_checks, name)


# --------------------------------------------------------------------------- the ε-prediction loss


def eps_loss_with(signal=lambda ab: ab.sqrt(), noise_factor=lambda ab: (1 - ab).sqrt(), index=lambda t: t,
                  time=lambda t, T: t.float() / T, target="noise", reduce=lambda err: err.pow(2).mean(),
                  table="alpha_bars", cast=True, reshape=True):
    """The loss as the lesson's solution writes it, with one knob per mistake."""

    def fn(model, x0, t, noise, schedule):
        ab = getattr(schedule, table)[index(t)]
        if cast:
            ab = ab.to(x0.dtype)
        if reshape:
            ab = ab[:, None]
        x_t = signal(ab) * x0 + noise_factor(ab) * noise
        pred = model(x_t, time(t, schedule.timesteps))
        goal = {"noise": noise, "x0": x0, "x_t": x_t}[target]
        return reduce(pred - goal)

    return fn


def test_eps_loss_reference_passes(capsys):
    check_eps_loss(eps_loss_with())
    assert "ε-prediction loss correct" in capsys.readouterr().out


def test_eps_loss_reference_in_the_lessons_words_passes(capsys):
    def my_eps_loss(model, x0, t, noise, schedule):
        ab = schedule.alpha_bars[t].to(x0.dtype).view(-1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        return F.mse_loss(model(x_t, t / schedule.timesteps), noise)

    check_eps_loss(my_eps_loss)
    assert "correct" in capsys.readouterr().out


def test_eps_loss_agrees_with_gankits_loss_on_a_real_denoiser():
    """The check's reference is DDPM's loss: the solution above, with the same t and ε, equals
    what gankit's eps_loss computes for a real MLPDenoiser."""
    from gankit.models.diffusion import q_sample

    schedule = make_schedule("cosine", 50)
    torch.manual_seed(0)
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16, time_dim=8))
    x0, noise = torch.randn(7, 2), torch.randn(7, 2)
    t = torch.randint(1, 51, (7,))
    ours = eps_loss_with()(model, x0, t, noise, schedule)
    theirs = F.mse_loss(model(q_sample(x0, t, schedule, noise), t.float() / 50), noise)
    assert math.isclose(ours.item(), theirs.item(), rel_tol=1e-6)


@pytest.mark.parametrize("fn, words", [
    (eps_loss_with(signal=lambda ab: ab, noise_factor=lambda ab: 1 - ab), "their square roots belong there"),
    (eps_loss_with(noise_factor=lambda ab: 1 - ab), "only the noise's factor lacks its square root"),
    (eps_loss_with(signal=lambda ab: ab), "only the signal's factor lacks its square root"),
    (eps_loss_with(index=lambda t: t - 1), "take alpha_bars[t], not alpha_bars[t - 1]"),
    (eps_loss_with(table="alphas"), "schedule.alpha_bars, not schedule.alphas"),
    (eps_loss_with(target="x0"), "not the clean x₀"),
    (eps_loss_with(target="x_t"), "the target is the noise ε, not x_t"),
    (eps_loss_with(reduce=lambda err: err.pow(2).sum()), "a sum over the batch"),
    (eps_loss_with(reduce=lambda err: err.pow(2).sum(1).mean()), "averages over the coordinates too"),
    (eps_loss_with(reduce=lambda err: err.abs().mean()), "the error is not squared"),
    (eps_loss_with(reduce=lambda err: err.mean() ** 2), "square each difference first"),
    (eps_loss_with(reduce=lambda err: err.pow(2)), "finish with .mean()"),
    (eps_loss_with(time=lambda t, T: t), "pass t / T"),
    (eps_loss_with(time=lambda t, T: (t - 1).float() / T), "one step off"),
    (eps_loss_with(time=lambda t, T: t.float() / (T + 1)), "so that step T is time 1"),
    (eps_loss_with(cast=False), "convert what you take from them with .to(x0.dtype)"),
    (eps_loss_with(reshape=False), "reshape it to (B, 1)"),
    (eps_loss_with(index=lambda t: t + 1), "no +1 or −1"),
])
def test_eps_loss_names_each_mistake(fn, words):
    with fails(words):
        check_eps_loss(fn)


def test_eps_loss_other_slips():
    def swapped(model, x0, t, noise, schedule):
        return eps_loss_with()(model, noise, t, x0, schedule)  # x0 and noise exchanged throughout

    with fails("x₀ and ε are swapped"):
        check_eps_loss(swapped)

    def clean(model, x0, t, noise, schedule):
        return F.mse_loss(model(x0, t / schedule.timesteps), noise)

    with fails("shown the clean x₀"):
        check_eps_loss(clean)

    def own_noise(model, x0, t, noise, schedule):
        return eps_loss_with()(model, x0, t, torch.randn_like(noise), schedule)

    with fails("use the given noise and steps"):
        check_eps_loss(own_noise)

    def detached(model, x0, t, noise, schedule):
        return eps_loss_with()(model, x0, t, noise, schedule).detach()

    with fails("does not depend on the network's weights"):
        check_eps_loss(detached)

    def no_model(model, x0, t, noise, schedule):
        return (noise ** 2).mean()

    with fails("never called the model"):
        check_eps_loss(no_model)

    def stub(model, x0, t, noise, schedule):
        raise NotImplementedError

    with fails("my_eps_loss is not written yet"):
        check_eps_loss(stub)
    with fails("should return a torch tensor"):
        check_eps_loss(lambda *args: 0.5)


# --------------------------------------------------------------------------- one DDIM step


def ddim_with(sqrt=True, noise_level="s", swap=False, table="alpha_bars", direction=True, to_x0=False, fresh=False):
    """One DDIM step as the lesson's solution writes it, with one knob per mistake."""
    root = math.sqrt if sqrt else (lambda v: v)

    def fn(x_t, eps, t, s, schedule):
        values = getattr(schedule, table)
        a_t, a_s = float(values[t]), float(values[s])
        if swap:
            a_t, a_s = a_s, a_t
        x0_hat = (x_t - root(1 - a_t) * eps) / root(a_t)
        if to_x0:
            return x0_hat
        level = a_s if noise_level == "s" else a_t
        x_s = root(a_s) * x0_hat + (root(1 - level) * eps if direction else 0)
        return x_s + (0.1 * torch.randn_like(x_t) if fresh else 0)

    return fn


def test_ddim_reference_passes(capsys):
    check_ddim_step(ddim_with())
    assert "DDIM step correct" in capsys.readouterr().out


def test_ddim_reference_is_gankits_step():
    schedule = make_schedule("cosine", 100)
    x, e = torch.randn(4, 2), torch.randn(4, 2)
    assert torch.allclose(ddim_with()(x, e, 70, 30, schedule), ddim_step(x, e, 70, 30, schedule), atol=1e-6)


@pytest.mark.parametrize("fn, words", [
    (ddim_with(to_x0=True), "it lands on x̂₀ itself"),
    (ddim_with(direction=False), "the noise direction is missing"),
    (ddim_with(sqrt=False), "the square roots are missing"),
    (ddim_with(noise_level="t"), "not √(1 − ᾱ_t)"),
    (ddim_with(swap=True), "t and s are swapped"),
    (ddim_with(table="alphas"), "schedule.alphas"),
    (ddim_with(fresh=True), "adds fresh noise"),
])
def test_ddim_names_each_mistake(fn, words):
    with fails(words):
        check_ddim_step(fn)


def test_ddim_other_slips():
    def half_root(x_t, eps, t, s, schedule):
        a_t, a_s = float(schedule.alpha_bars[t]), float(schedule.alpha_bars[s])
        x0_hat = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        return a_s * x0_hat + (1 - a_s) * eps

    with fails("x̂₀ is right, but the new point lacks its square roots"):
        check_ddim_step(half_root)

    def stub(x_t, eps, t, s, schedule):
        raise NotImplementedError

    with fails("my_ddim_step is not written yet"):
        check_ddim_step(stub)
    with fails("shaped like x_t"):
        check_ddim_step(lambda x_t, eps, t, s, schedule: x_t[0])
    with fails("compute x̂₀ = "):
        check_ddim_step(lambda x_t, eps, t, s, schedule: 2 * x_t)


# --------------------------------------------------------------------------- predict one Euler step


def test_one_step_prediction_right_answers_pass(capsys):
    check_one_step_prediction(0.0, 0.0, 0.0, 0.12)
    check_one_step_prediction(0.05, torch.tensor(0.4), 0.0, 0.12)
    assert "the centre of the ring" in capsys.readouterr().out


@pytest.mark.parametrize("hq, radius, words", [
    (0.9, 0.0, "high-quality share: you predicted 90%"),
    (0.0, 2.0, "the *average* velocity"),
    (0.0, 1.2, "v(x₁, 1) = E[ε − x₀ | x₁]"),
    (50, 0.0, "a share: 10 % is 0.1"),
    (0.0, -1.0, "a distance, ≥ 0"),
])
def test_one_step_prediction_names_the_slips(hq, radius, words):
    with fails(words):
        check_one_step_prediction(hq, radius, 0.0, 0.12)


def test_one_step_prediction_not_written():
    with fails("predicted_hq_one_step is not written yet"):
        check_one_step_prediction(..., 0.0, 0.0, 0.12)
    with fails("predicted_radius_one_step is not written yet"):
        check_one_step_prediction(0.0, None, 0.0, 0.12)
    with fails("should be a number"):
        check_one_step_prediction("0", 0.0, 0.0, 0.12)
