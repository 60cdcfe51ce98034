"""The exercise checks of lessons 03 and 04 added for issue 15 (gankit/checks/gan_variants.py):
a right answer passes, each typical mistake gets its own hint, the stub's ``...`` is "not
written yet", and the expected values are the ones worked out by hand here."""

from __future__ import annotations

import re

import pytest
import torch

from gankit.checks import (
    CheckFailed,
    check_label_predictions,
    check_lambda_change,
    check_shuffled_labels,
    check_slope_predictions,
)


def fails(words: str):
    return pytest.raises(CheckFailed, match=re.escape(words))


# --------------------------------------------------------------------------- lesson 03: predict


LABEL_PARAMS = 10 * 2 * 24 * 7 * 7  # ten vectors v_y as long as phi(x): 10 x 2352 = 23,520


def test_label_prediction_right_answer_passes(capsys):
    assert LABEL_PARAMS == 23_520
    check_label_predictions(23_520, LABEL_PARAMS, 0.1, 0.1)
    check_label_predictions(23_520, LABEL_PARAMS, 0.1, 0.132)  # within 0.05 of what was measured
    assert "Both right" in capsys.readouterr().out


@pytest.mark.parametrize("params, words", [
    (2352, "one per class"),
    (10, "as long as φ(x)"),
    (23_520 + 2352, "count only what the label adds"),
    (2362, "multiply, don't add"),
    (999, "count the v_y"),
])
def test_label_prediction_names_the_parameter_slips(params, words):
    with fails(words):
        check_label_predictions(params, LABEL_PARAMS, 0.1, 0.1)


@pytest.mark.parametrize("agreement, words", [
    (0.0, "by chance"),
    (0.9, "nothing ties G's drawing to y"),
    (10, "a share: 10 % is 0.1"),
    (0.3, "asked for every digit equally often"),
])
def test_label_prediction_names_the_agreement_slips(agreement, words):
    with fails(words):
        check_label_predictions(23_520, LABEL_PARAMS, agreement, 0.1)


def test_label_prediction_not_written_and_wrong_model():
    with fails("predicted_label_params is not written yet"):
        check_label_predictions(..., LABEL_PARAMS, 0.1, 0.1)
    with fails("predicted_untrained_agreement is not written yet"):
        check_label_predictions(23_520, LABEL_PARAMS, ..., 0.1)
    with fails("should be a number"):
        check_label_predictions("23520", LABEL_PARAMS, 0.1, 0.1)
    with fails("conditioning='projection'"):
        check_label_predictions(0, 0, 0.1, 0.1)


# --------------------------------------------------------------------------- lesson 03: change and measure


LABELS = torch.arange(1000) % 10


def test_shuffled_labels_right_answer_passes(capsys):
    shuffled = LABELS[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    assert (shuffled != LABELS).float().mean() > 0.85  # a permutation of balanced classes changes ~90 %
    check_shuffled_labels(shuffled, LABELS, 0.14, 0.65, 300)
    assert "shuffled ones" in capsys.readouterr().out


def test_shuffled_labels_names_the_slips():
    shuffled = LABELS[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    with fails("Only 0% of the labels changed"):  # images and labels shuffled together: pairs intact
        check_shuffled_labels(LABELS.clone(), LABELS, 0.6, 0.65, 300)
    with fails("expected near chance"):  # a measurement that does not show the effect
        check_shuffled_labels(shuffled, LABELS, 0.55, 0.65, 300)
    with fails("at least 20 points below"):  # the true-label run had not learnt to listen yet
        check_shuffled_labels(shuffled, LABELS, 0.12, 0.2, 300)
    with fails("shuffled_labels is not written yet"):
        check_shuffled_labels(..., LABELS, ..., 0.65, 300)
    with fails("agreement_shuffled is not written yet"):
        check_shuffled_labels(shuffled, LABELS, ..., 0.65, 300)
    with fails("shape (1000,)"):
        check_shuffled_labels(shuffled[:10], LABELS, 0.1, 0.65, 300)


# --------------------------------------------------------------------------- lesson 04: predict


def test_slope_prediction_right_answers_pass(capsys):
    check_slope_predictions(0.0, 1.0, 0.0004, 1.07)
    check_slope_predictions(0.01, 1.08, 0.0004, 1.07)
    assert "Predicted" in capsys.readouterr().out


@pytest.mark.parametrize("clip, penalty, words", [
    (1.0, 1.0, "Clipping does not aim at slope 1"),
    (0.2, 1.0, "Multiply the largest stretch"),
    (0.0, 0.0, "smallest at slope 1, not 0"),
    (0.0, 2.0, "the penalty dominates"),
])
def test_slope_prediction_names_the_slips(clip, penalty, words):
    with fails(words):
        check_slope_predictions(clip, penalty, 0.0004, 1.07)


def test_slope_prediction_not_written():
    with fails("predicted_slope_clip is not written yet"):
        check_slope_predictions(..., 1.0, 0.0004, 1.07)
    with fails("predicted_slope_penalty is not written yet"):
        check_slope_predictions(0.0, None, 0.0004, 1.07)


# --------------------------------------------------------------------------- lesson 04: change and measure

W1 = 1.6  # s* = 1 + W1 / (2 lambda): 1.8 at lambda = 1, 1.08 at lambda = 10


def test_lambda_change_right_measurement_passes(capsys):
    check_lambda_change(1.0, 1.9, 1.9 * W1, W1)          # measured (seed 0): slope 1.90 against 1.82
    check_lambda_change(torch.tensor(0.3), 3.87, 6.36, 1.64)  # 1 + 1.64 / 0.6 = 3.73, estimate 6.12
    out = capsys.readouterr().out
    assert "1 + W1/(2λ) = 1.80" in out and "steeper" in out


def test_lambda_change_names_the_slips():
    with fails("still the default 10"):
        check_lambda_change(10.0, 1.08, 1.08 * W1, W1)
    with fails("between 0.1 and 100"):
        check_lambda_change(0.0, 50.0, 80.0, W1)
    with fails("was the new critic trained with lam=my_lambda"):  # lambda changed, but the old critic measured
        check_lambda_change(0.3, 1.08, 1.08 * W1, W1)
    with fails("of the *new* critic"):
        check_lambda_change(1.0, 0.5, 0.5 * W1, W1)
    with fails("not about slope × W1"):
        check_lambda_change(1.0, 1.8, 1.8, W1)           # the slope passed as the estimate
    with fails("my_lambda is not written yet"):
        check_lambda_change(..., ..., ..., W1)
    with fails("slope_new is not written yet"):
        check_lambda_change(1.0, ..., ..., W1)
