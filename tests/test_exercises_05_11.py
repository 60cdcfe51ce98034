"""The exercise checks added to lessons 05 and 11 for issue 15: each passes the right answer
and fails each typical mistake with a hint that names it.

* lesson 05, ``check_generator_loss``: the articles' generator loss (D's loss on the fakes),
  the saturating loss, a flipped sign, the sum of both forms, a sum over the batch, a value
  with no gradient;
* lesson 11, ``check_bleu_prediction`` (predict: BLEU of a copy against references that
  hold it) and ``check_cold_names_novelty`` (change and measure: a lower sampling
  temperature makes fewer new names).
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from gankit.checks import CheckFailed, check_bleu_prediction, check_cold_names_novelty
from gankit.checks.gan_debugging import check_generator_loss


def fails(check, *args) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args)
    return str(info.value)


# --------------------------------------------------------------------------- lesson 05: G's loss

bce = torch.nn.BCEWithLogitsLoss()


def right(logits):
    return bce(logits, torch.ones_like(logits))


def test_generator_loss_check_passes_the_non_saturating_loss(capsys):
    check_generator_loss(right)
    check_generator_loss(lambda a: F.softplus(-a).mean())        # the same loss written by hand
    check_generator_loss(lambda a: -F.logsigmoid(a).mean())
    out = capsys.readouterr().out
    assert out.count("✓") == 3 and "non-saturating" in out


@pytest.mark.parametrize("loss, hint", [
    (lambda a: bce(a, torch.zeros_like(a)), "That is D's loss on the fakes"),               # the articles' loss
    (lambda a: torch.log(1 - torch.sigmoid(a)).mean(), "saturating (minimax) loss"),
    (lambda a: -F.softplus(a).mean(), "saturating (minimax) loss"),
    (lambda a: F.logsigmoid(a).mean(), "the sign flipped"),
    (lambda a: (torch.log(1 - torch.sigmoid(a)) - torch.log(torch.sigmoid(a))).mean(), "added"),
    (lambda a: F.softplus(-a).sum(), "summed over the batch"),
    (lambda a: bce(a, torch.full_like(a, 0.5)), "criterion(fake_logits, torch.ones_like"),   # anything else
])
def test_generator_loss_check_names_each_mistake(loss, hint):
    assert hint in fails(check_generator_loss, loss)


def test_the_sum_of_both_forms_is_named_with_its_constant_gradient():
    message = fails(check_generator_loss, lambda a: -a.mean())
    assert "−1/B for every sample" in message and "flat" not in message


def test_generator_loss_check_wants_a_tensor_with_a_gradient():
    assert "one-element tensor" in fails(check_generator_loss, lambda a: right(a).item())
    assert "carries no gradient" in fails(check_generator_loss, lambda a: right(a).detach())
    # the right value, the wrong gradient: a constant shifted onto a wrong expression
    def wrong_grad(a):
        return right(a).detach() + 0.0 * a.sum() + (a - a.detach()).mean()
    assert "not the right gradient" in fails(check_generator_loss, wrong_grad)


def test_generator_loss_check_stub():
    def stub(a):
        raise NotImplementedError("Exercise: write generator_loss (see the instructions above).")
    assert "not written yet" in fails(check_generator_loss, stub)


def test_the_articles_loss_trains_g_away_from_the_data():
    """The derivation in the lesson: d/da[-log(1 - sigmoid(a))] = sigmoid(a) > 0, so G lowers a;
    and for the non-saturating loss the gradient is sigmoid(a) - 1 < 0."""
    a = torch.tensor([-3.0, 0.0, 2.0], requires_grad=True)
    (g_bug,) = torch.autograd.grad(bce(a, torch.zeros_like(a)) * 3, a)
    (g_ok,) = torch.autograd.grad(right(a) * 3, a)
    assert torch.allclose(g_bug, torch.sigmoid(a.detach())) and (g_bug > 0).all()
    assert torch.allclose(g_ok, torch.sigmoid(a.detach()) - 1) and (g_ok < 0).all()
    (g_sum,) = torch.autograd.grad((torch.log(1 - torch.sigmoid(a)) - torch.log(torch.sigmoid(a))).sum(), a)
    assert torch.allclose(g_sum, -torch.ones(3), atol=1e-6)


# --------------------------------------------------------------------------- lesson 11: predict BLEU


def test_bleu_prediction_passes_within_one_point(capsys):
    check_bleu_prediction(100, 100.0)
    check_bleu_prediction(99.5, 100.0, 52.0)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("predicted, copies, hint", [
    (..., None, "not written yet"),
    ("high", None, "should be a number"),
    (1.0, None, "0–1 scale"),
    (52.0, 51.0, "copies scored against *other* training names"),
    (0.0, 51.0, "Work it out from the definition"),
])
def test_bleu_prediction_names_each_mistake(predicted, copies, hint):
    message = fails(check_bleu_prediction, predicted, 100.0, copies)
    assert hint in message


def test_bleu_prediction_compares_with_the_measurement_not_a_constant():
    """The check compares with what was measured: a prediction of 100 fails when the
    measurement says otherwise."""
    assert "measured 60.0" in fails(check_bleu_prediction, 100.0, 60.0)


def test_the_measurement_behind_the_prediction():
    from gankit.metrics import bleu
    names = ["emma", "olivia", "ava", "noah", "liam", "mia"]
    assert bleu(names, names) == pytest.approx(100.0)


# --------------------------------------------------------------------------- lesson 11: temperature


TRAINING = [f"name{i}" for i in range(100)]


def names_with_novelty(share: float, n: int = 300) -> list[str]:
    new = round(share * n)
    return [f"new{i}" for i in range(new)] + [TRAINING[i % 100] for i in range(n - new)]


def test_temperature_check_passes_a_clear_drop(capsys):
    names = names_with_novelty(0.33)
    check_cold_names_novelty(0.5, names, 0.33, 0.70, TRAINING, 300)
    out = capsys.readouterr().out
    assert out.startswith("✓") and "70.0%" in out and "33.0%" in out


@pytest.mark.parametrize("temperature, names, novelty, hint", [
    (..., ..., ..., "not all written yet"),
    (1.5, names_with_novelty(0.8), 0.8, "*lower* the temperature"),
    (1.0, names_with_novelty(0.7), 0.7, "*lower* the temperature"),
    (0.0, ["name1"] * 300, 0.0, "greedy decoding"),
    (0.5, names_with_novelty(0.33)[:100], 0.33, "holds 100 names"),
    (0.5, "emma", 0.0, "list of names"),
    (0.5, names_with_novelty(0.33), 0.67, "copy rate"),
    (0.5, names_with_novelty(0.33), 0.5, "against the *training* names"),
    (0.95, names_with_novelty(0.68), 0.68, "Did you pass temperature=cold_temperature"),   # no real drop
])
def test_temperature_check_names_each_mistake(temperature, names, novelty, hint):
    assert hint in fails(check_cold_names_novelty, temperature, names, novelty, 0.70, TRAINING, 300)


def test_temperature_check_names_the_share_of_distinct_names():
    names = [f"new{i}" for i in range(150)] + ["name1"] * 150      # 151 distinct of 300, 150 new
    assert "share of *distinct* names" in fails(check_cold_names_novelty, 0.5, names, 151 / 300, 0.7, TRAINING, 300)


def test_temperature_check_threshold_is_three_standard_errors():
    """A drop just under three standard errors fails, one just over passes: the threshold
    follows the sampling noise of two shares measured on n names, nothing else."""
    n, base = 300, 0.70
    def se(p):
        return (p * (1 - p) / n) ** 0.5
    for novelty, ok in ((0.62, False), (0.58, True)):
        margin = 3 * (se(novelty) ** 2 + se(base) ** 2) ** 0.5
        assert (base - novelty > margin) is ok
        names = names_with_novelty(novelty, n)
        if ok:
            check_cold_names_novelty(0.5, names, novelty, base, TRAINING, n)
        else:
            assert re.search("within three standard errors", fails(check_cold_names_novelty, 0.5, names, novelty,
                                                                    base, TRAINING, n))


def test_lesson_11_calls_its_own_checks_through_gankit_checks():
    """``checks.X`` in lesson 11 must reach evaluation.X: a check of the same name in another
    family module (gankit.checks collects them all with ``import *``) would shadow it."""
    from gankit import checks
    from gankit.checks import evaluation
    for name in ("check_precision_recall", "check_bleu_prediction", "check_cold_names_novelty"):
        assert getattr(checks, name) is getattr(evaluation, name), name
        others = [m.__name__ for m in checks._FAMILIES if m is not evaluation and name in m.__all__]
        assert not others, f"{name} is also exported by {others}"
