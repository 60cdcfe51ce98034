"""gankit.checks: exercise checks accept right answers and name the mistake in wrong ones."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from gankit.checks import CheckFailed, check_discriminator_loss, check_generator_loss, lesson_check
from gankit.train import discriminator_loss, generator_loss_nonsaturating, generator_loss_saturating


def check_fails(check, fn) -> str:
    with pytest.raises(CheckFailed) as info:
        check(fn)
    return str(info.value)


# --------------------------------------------------------------------------- discriminator


def d_by_hand(real, fake):
    return -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())


def d_with_bce(real, fake):
    return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)
    )


@pytest.mark.parametrize("fn", [discriminator_loss, d_by_hand, d_with_bce], ids=["gankit", "by_hand", "bce"])
def test_discriminator_check_accepts_correct_losses(fn, capsys):
    check_discriminator_loss(fn)
    assert "✓" in capsys.readouterr().out


def test_discriminator_check_swapped_arguments():
    message = check_fails(check_discriminator_loss, lambda r, f: discriminator_loss(f, r))
    assert "swapped" in message


def test_discriminator_check_flipped_sign():
    message = check_fails(check_discriminator_loss, lambda r, f: -discriminator_loss(r, f))
    assert "sign" in message


def test_discriminator_check_sum_instead_of_mean():
    message = check_fails(check_discriminator_loss, lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum())
    assert "sum" in message


def test_discriminator_check_rejects_flipped_sign_and_sum_at_all():
    """Whatever the hint, these wrong answers must not pass."""
    check_fails(check_discriminator_loss, lambda r, f: -discriminator_loss(r, f))
    check_fails(check_discriminator_loss, lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum())


def test_discriminator_check_log_d_for_fake():
    message = check_fails(
        check_discriminator_loss, lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(torch.sigmoid(f)).mean())
    )
    assert "log(1 − D) was written as log(D)" in message


def test_discriminator_check_not_written_yet():
    def todo(real, fake):
        raise NotImplementedError

    assert "not written yet" in check_fails(check_discriminator_loss, todo)


def test_discriminator_check_other_exception_is_reported():
    def broken(real, fake):
        raise ZeroDivisionError("oops")

    message = check_fails(check_discriminator_loss, broken)
    assert "ZeroDivisionError" in message and "oops" in message


def test_discriminator_check_per_example_tensor():
    message = check_fails(check_discriminator_loss, lambda r, f: F.softplus(-r) + F.softplus(f).mean())
    assert "one number" in message


def test_discriminator_check_item_loses_autograd():
    message = check_fails(check_discriminator_loss, lambda r, f: torch.tensor(discriminator_loss(r, f).item()))
    assert "autograd" in message


def test_discriminator_check_detach_loses_autograd():
    message = check_fails(check_discriminator_loss, lambda r, f: discriminator_loss(r.detach(), f.detach()))
    assert "autograd" in message


def test_discriminator_check_plain_float():
    message = check_fails(check_discriminator_loss, lambda r, f: discriminator_loss(r, f).item())
    assert "torch tensor" in message


def test_checks_on_correct_answers_emit_no_warnings():
    # torch warns only once per process, so run the checks in a fresh interpreter
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "from gankit.checks import check_discriminator_loss, check_generator_loss\n"
        "from gankit.train import discriminator_loss, generator_loss_nonsaturating\n"
        "check_discriminator_loss(discriminator_loss)\n"
        "check_generator_loss(generator_loss_nonsaturating)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# --------------------------------------------------------------------------- generator


def g_by_hand(fake):
    return -torch.log(torch.sigmoid(fake)).mean()


@pytest.mark.parametrize("fn", [generator_loss_nonsaturating, g_by_hand], ids=["gankit", "by_hand"])
def test_generator_check_accepts_nonsaturating(fn, capsys):
    check_generator_loss(fn)
    assert "✓" in capsys.readouterr().out


def test_generator_check_rejects_saturating():
    assert "saturating" in check_fails(check_generator_loss, generator_loss_saturating)


def test_generator_check_rejects_saturating_plus_nonsaturating():
    message = check_fails(check_generator_loss, lambda f: generator_loss_saturating(f) + generator_loss_nonsaturating(f))
    assert "added together" in message and "gradient is −1 for every sample" in message


def test_the_summed_generator_loss_is_minus_the_logit_with_gradient_minus_one():
    """What lessons 01 and 05 say of log(1 − D) − log D, by hand: with D = σ(a) it equals −a,
    so its gradient is −1 whatever D says (it does not saturate; it is not the game's loss)."""
    a = torch.tensor([-8.0, -2.0, 0.0, 1.5, 6.0], requires_grad=True)
    per_example = torch.log1p(-torch.sigmoid(a)) - torch.log(torch.sigmoid(a))
    assert torch.allclose(per_example, -a.detach(), atol=1e-5)
    (grad,) = torch.autograd.grad(per_example.sum(), a)
    assert torch.allclose(grad, torch.full_like(a, -1.0), atol=1e-5)
    # the non-saturating loss, by contrast: −(1 − σ(a)), near −1 only where D rejects (a ≪ 0)
    (grad_ns,) = torch.autograd.grad(generator_loss_nonsaturating(a) * len(a), a)
    assert grad_ns[0] < -0.99 and grad_ns[-1] > -0.01


def test_generator_check_rejects_sum_over_batch():
    check_fails(check_generator_loss, lambda f: F.softplus(-f).sum())


def test_generator_check_rejects_wrong_formula_with_right_value_at_zero():
    # log 2 at zero logits, but not −log σ(a) elsewhere
    message = check_fails(check_generator_loss, lambda f: 0 * f.mean() + math.log(2))
    assert "expected" in message


def test_generator_check_not_written_and_per_example():
    def todo(fake):
        raise NotImplementedError

    assert "not written yet" in check_fails(check_generator_loss, todo)
    assert "one number" in check_fails(check_generator_loss, lambda f: F.softplus(-f))
    assert "autograd" in check_fails(check_generator_loss, lambda f: torch.tensor(F.softplus(-f).mean().item()))


def test_generator_check_flipped_sign_is_not_called_saturating():
    message = check_fails(check_generator_loss, lambda f: -generator_loss_nonsaturating(f))
    assert "sign" in message


# --------------------------------------------------------------------------- lesson_check


def test_lesson_check_passes(capsys):
    assert lesson_check(True, "8 modes found", "fewer than 8 modes") is None
    out = capsys.readouterr().out
    assert out.strip() == "✓ 8 modes found"


def test_lesson_check_accepts_tensor_condition(capsys):
    lesson_check(torch.tensor(True), "ok", "bad")
    assert "✓ ok" in capsys.readouterr().out


def test_lesson_check_fails(capsys):
    with pytest.raises(CheckFailed, match="fewer than 8 modes") as info:
        lesson_check(1 > 2, "8 modes found", "fewer than 8 modes")
    assert "✗" in str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "✓" not in capsys.readouterr().out


def test_transposed_conv_size_check():
    from gankit.checks import check_transposed_conv_size
    check_transposed_conv_size(lambda n, k, s, p: (n - 1) * s - 2 * p + k)
    assert "invert" not in check_fails(check_transposed_conv_size, lambda n, k, s, p: n * s)
    def stub(n, k, s, p):
        raise NotImplementedError

    assert "not written yet" in check_fails(check_transposed_conv_size, stub)


def test_one_hot_concat_check_names_the_slips():
    from gankit.checks import check_one_hot_concat
    check_one_hot_concat(lambda z, y, n: torch.cat([z, F.one_hot(y, n).float()], 1))
    assert "comes first" in check_fails(check_one_hot_concat, lambda z, y, n: torch.cat([F.one_hot(y, n).float(), z], 1))
    assert "label number itself" in check_fails(check_one_hot_concat, lambda z, y, n: torch.cat([z, y[:, None].float()], 1))
    assert "dim 0" in check_fails(check_one_hot_concat, lambda z, y, n: torch.cat([z, z], 0))
    assert "wrong values" in check_fails(check_one_hot_concat, lambda z, y, n: torch.cat([z, 2 * F.one_hot(y, n).float()], 1))


def test_prediction_written_stops_on_a_stub_and_names_it():
    from gankit.checks import prediction_written

    prediction_written(predicted_a=0.5, predicted_b=0)  # written: nothing happens
    with pytest.raises(CheckFailed, match=r"predicted_b is not written yet"):
        prediction_written(predicted_a=1.0, predicted_b=...)
    with pytest.raises(CheckFailed, match=r"predicted_a, predicted_b are not written yet"):
        prediction_written(predicted_a=None, predicted_b=...)
