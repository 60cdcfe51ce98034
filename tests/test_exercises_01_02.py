"""The exercise checks added to lessons 01 and 02 (issue 15): a right answer passes, and each
typical mistake gets its own hint. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.checks import (
    CheckFailed,
    check_checkerboard,
    check_head_start_change,
    check_parameter_prediction,
    check_saturation_prediction,
)
from gankit.models import DCGANGenerator, DCGANGeneratorConfig


def fails(check, *args) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args)
    return str(info.value)


# --------------------------------------------------------------------------- lesson 01, exercise 2 (predict)

D = 1e-4                    # mean D(G(z)) against a confident D
MEASURED = 0.9 * (1 - D) / D  # what lesson 01 measures: about (1 - D)/D = 9,999, a little less


@pytest.mark.parametrize("prediction", [(1 - D) / D, 1 / D, 10_000, 6_000, torch.tensor(9_000.0)])
def test_saturation_prediction_accepts_predictions_within_a_factor_of_two(prediction, capsys):
    check_saturation_prediction(prediction, MEASURED, D)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, hint", [
    (D / (1 - D), "the other way round"),        # saturating / non-saturating
    (D, "the other way round"),
    (1.0, "about the same size"),                # "both losses are the same game"
    (0.5, "about the same size"),
    (-9_000, "positive"),
    (1 / D ** 2, "small but not zero"),           # far too big: 10^8
    (100, "bigger than you predicted"),          # the right direction, far too small
])
def test_saturation_prediction_names_the_mistake(prediction, hint):
    message = fails(check_saturation_prediction, prediction, MEASURED, D)
    assert hint in message and f"{MEASURED:,.4g}" in message


def test_saturation_prediction_stub_non_number_and_infinity():
    assert "not written yet" in fails(check_saturation_prediction, ..., MEASURED, D)
    assert "should be a number" in fails(check_saturation_prediction, "10000", MEASURED, D)
    assert "finite" in fails(check_saturation_prediction, math.inf, MEASURED, D)
    assert "measurement itself" in fails(check_saturation_prediction, 1e4, MEASURED, 0.0)


# --------------------------------------------------------------------------- lesson 01, exercise 3 (change and measure)

BEFORE = (1e-4, 9_000.0)   # the confident D's mean D(G(z)) and the ratio measured against it


def measured(d, ratio):
    """A stand-in for the lesson's measurement: records the head starts it is asked for."""
    def measure(steps):
        measure.calls.append(steps)
        return d, ratio
    measure.calls = []
    return measure


def test_head_start_change_passes_when_the_ratio_follows_one_minus_d_over_d(capsys):
    d = 0.02                                      # (1 - 0.02)/0.02 = 49
    measure = measured(d, 47.0)
    check_head_start_change(30, measure, *BEFORE)
    out = capsys.readouterr().out
    assert "✓" in out and "49" in out and measure.calls == [30]


@pytest.mark.parametrize("steps, d, ratio, hint", [
    (300, 1e-4, 9_000.0, "already had"),          # unchanged
    (1000, 1e-5, 90_000.0, "even more confident"),
    (2, 0.45, 1.2, "hardly started"),             # D near 1/2: the ratio says little
    (250, 2e-4, 4_500.0, "fewer steps"),          # still almost as confident
    (-1, 0.02, 47.0, "whole number"),
    (12.5, 0.02, 47.0, "whole number"),
])
def test_head_start_change_names_the_mistake(steps, d, ratio, hint):
    assert hint in fails(check_head_start_change, steps, measured(d, ratio), *BEFORE)


def test_head_start_change_measures_only_a_sensible_number():
    measure = measured(0.02, 47.0)
    for steps in (..., 300, 1000, -1, "30"):
        with pytest.raises(CheckFailed):
            check_head_start_change(steps, measure, *BEFORE)
    assert measure.calls == []                    # the stub's `...` never reaches the training
    assert "not written yet" in fails(check_head_start_change, ..., measure, *BEFORE)


def test_head_start_change_fails_when_the_lesson_claim_does_not_hold():
    # D = 0.02 predicts a ratio of 49; a measured 200 is off by more than 1.5x: the lesson check fails
    message = fails(check_head_start_change, 30, measured(0.02, 200.0), *BEFORE)
    assert "Lesson check failed" in message and "did not describe this run" in message


# --------------------------------------------------------------------------- lesson 02, exercise 2 (predict)

@pytest.fixture(scope="module")
def G():
    return DCGANGenerator(DCGANGeneratorConfig(latent_dim=64, width=24))


# by hand, latent 64, width 24: projection 64 · (48 · 7 · 7) = 150,528 weights, no bias;
# first transposed conv 48 · 24 · 4 · 4 = 18,432 weights, no bias
PROJECT, CONV = 150_528, 18_432


def test_parameter_prediction_accepts_the_counts(G, capsys):
    check_parameter_prediction(PROJECT, CONV, G)
    out = capsys.readouterr().out
    assert "✓" in out and "150,528" in out and "18,432" in out


@pytest.mark.parametrize("project, conv, hint", [
    (64 * 48, CONV, "not just the 48 maps"),                   # forgot the 7x7 positions
    (PROJECT + 48 * 49, CONV, "bias=False"),                   # a bias per output
    (64 * 24 * 49, CONV, "2·width = 48"),                      # width instead of 2·width
    (64 * 48 * 28 * 28, CONV, "not 28×28"),
    (PROJECT, 48 * 24, "4×4 patch"),                           # no kernel
    (PROJECT, 48 * 24 * 4, "not 4"),                           # k instead of k²
    (PROJECT, CONV * 49, "shares its kernel"),                 # times the 7x7 input positions
    (PROJECT, CONV * 196, "shares its kernel"),                # times the 14x14 output positions
    (PROJECT, CONV + 24, "bias=False"),
    (PROJECT, 48 * 16, "48 × 24 of them"),                     # one kernel per input channel only
    (PROJECT, 12_345, "in_channels × out_channels × kernel × kernel"),
])
def test_parameter_prediction_names_the_mistake(G, project, conv, hint):
    assert hint in fails(check_parameter_prediction, project, conv, G)


def test_parameter_prediction_reports_both_layers_and_the_stub(G):
    message = fails(check_parameter_prediction, 64 * 48, 48 * 24, G)
    assert message.startswith("Projection:") and "Transposed convolution:" in message
    assert "not written yet" in fails(check_parameter_prediction, ..., CONV, G)
    assert "not written yet" in fails(check_parameter_prediction, PROJECT, ..., G)


# --------------------------------------------------------------------------- lesson 02, exercise 3 (change and measure)

@pytest.mark.parametrize("k, p, op, ratio", [(3, 1, 1, "4:1"), (5, 2, 1, "2:1"), (7, 3, 1, "2:1"), (9, 4, 1, "2:1")])
def test_checkerboard_accepts_odd_kernels_that_keep_14(k, p, op, ratio, capsys):
    # kernel 3: per dimension 1 or 2 taps, so 1, 2 or 4 in 2-D (4:1); kernel 5: 2 or 3, so 4 to 9 (9/4 ≈ 2:1);
    # kernel 7: 3 or 4, so 9 to 16 (16/9 ≈ 2:1); kernel 9: 4 or 5, so 16 to 25 (≈ 2:1). A kernel of 7 or more
    # used to crop the whole 14×14 map away before measuring (found while translating the check)
    check_checkerboard(k, p, op)
    assert f"a {ratio} checkerboard" in capsys.readouterr().out


@pytest.mark.parametrize("k, p, op, hint", [
    (4, 1, 0, "divisible by the stride"),          # the lesson's own kernel: even taps (4 everywhere)
    (2, 0, 0, "divisible by the stride"),
    (3, 1, 0, "not 14×14"),                        # forgot output_padding: 13
    (3, 0, 0, "not 14×14"),                        # 15
    (1, 0, 1, "no tap at all"),                    # kernel below the stride: holes
    (3, 1, 2, "below the stride"),
    (3, 3, 1, "not smaller than the kernel"),
    (3.5, 1, 1, "whole number"),
])
def test_checkerboard_names_the_mistake(k, p, op, hint):
    assert hint in fails(check_checkerboard, k, p, op)


def test_checkerboard_stub():
    assert "not written yet" in fails(check_checkerboard, ..., 1, 1)
    assert "not written yet" in fails(check_checkerboard, 3, 1, ...)


def test_the_new_lesson_02_checks_leave_the_random_stream_alone(G):
    """Lesson 02 trains right after its exercises: a check that drew random numbers would change
    every seeded figure of the lesson (its benchmarks compare them across sessions)."""
    torch.manual_seed(0)
    check_parameter_prediction(PROJECT, CONV, G)
    check_checkerboard(3, 1, 1)
    with pytest.raises(CheckFailed):
        check_checkerboard(4, 1, 0)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
