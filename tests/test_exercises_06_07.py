"""Lessons 06 and 07's new exercise checks (gankit.checks.vae): a right answer passes, and
each usual mistake gets its own hint — the two ELBO terms predicted by hand, the β that the
pixel-mean slip amounts to, the agreement of two cheating decoders, and a β that makes a
roomy conditional VAE listen to its label. The runs the lessons pass in are faked here with
figures of the shape the lessons measure, so each branch of a check is reached in
milliseconds; the lessons' own runs exercise the real measurements."""

from __future__ import annotations

import math

import pytest

from gankit.checks import (
    CheckFailed,
    check_beta_listens,
    check_elbo_terms_prediction,
    check_ignoring_decoders_prediction,
    check_pixel_mean_beta,
)

HALF = 784 * math.log(2)                 # −ELBO of a decoder saying ½ everywhere, q = prior
KL = 0.5 * (1 + 4 - 1 - math.log(4))     # KL(N((1, 0), diag(4, 1)) ‖ N(0, I))


def fails(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- 06: predict the two terms


def test_elbo_terms_prediction_passes_when_right(capsys):
    check_elbo_terms_prediction(HALF, KL, HALF, KL)
    check_elbo_terms_prediction(543.4, 1.31, HALF, KL)  # rounded by hand is fine
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("half, kl, hint", [
    (math.log(2), KL, "one pixel's share"),
    (784.0, KL, "bits"),
    (392.0, KL, "sum of probabilities"),
    (-HALF, KL, "sign is flipped"),
    (784 * math.log10(2), KL, "log₁₀"),
    (300.0, KL, "probability ½ either way"),   # no known slip: the fallback explains
    (HALF, 2 * KL, "The ½ in front is missing"),
    (HALF, 0.5 * (1 + 2 - 1 - math.log(2)), "σ = 2 went in"),
    (HALF, 0.5 * (4 - 1 - math.log(4)), "μ² term is missing"),
    (HALF, 0.5 * (4 + math.log(4)), "sign of log σ² is flipped"),
    (HALF, 0.5, "σ² − 1 − log σ² part"),
    (HALF, 0.5 * (4 - math.log10(4)), "log₁₀ 4"),
])
def test_elbo_terms_prediction_names_the_mistake(half, kl, hint):
    assert hint in fails(check_elbo_terms_prediction, half, kl, HALF, KL)


def test_elbo_terms_prediction_not_written_and_bad_values():
    assert "not written yet" in fails(check_elbo_terms_prediction, ..., KL, HALF, KL)
    assert "not written yet" in fails(check_elbo_terms_prediction, HALF, ..., HALF, KL)
    assert "one finite number" in fails(check_elbo_terms_prediction, "543", KL, HALF, KL)
    assert "one finite number" in fails(check_elbo_terms_prediction, HALF, float("nan"), HALF, KL)


def test_elbo_terms_prediction_refuses_a_wrong_measurement():
    # a measurement that does not match the formulas is not compared with anything
    assert "measurement itself is off" in fails(check_elbo_terms_prediction, HALF, KL, HALF / 784, KL)


# --------------------------------------------------------------------------- 06: the pixel-mean slip as a β


TABLE = [(0.5, 80.0, 30.0, 110.0), (1.0, 85.0, 25.0, 110.0), (4.0, 105.0, 12.0, 153.0)]


def fake_vae_run(beta: float) -> dict:
    """The shape of lesson 06's beta_run: more β, less KL, worse reconstruction; β = 784 collapses."""
    kl = 25.0 / beta if beta < 100 else 0.001
    recon = 85.0 + 20 * math.log(max(beta, 1e-3)) if beta < 100 else 208.0
    return {"recon": recon, "kl": kl, "nelbo": recon + kl}


def test_pixel_mean_beta_passes_when_the_run_collapses(capsys):
    check_pixel_mean_beta(784.0, fake_vae_run, TABLE)
    assert "✓ Collapse measured" in capsys.readouterr().out


@pytest.mark.parametrize("beta, hint", [
    (1 / 784, "weakens the KL"),
    (1.0, "summed ELBO"),
    (28.0, "image's side"),
    (10.0, "only the weight on the KL"),
])
def test_pixel_mean_beta_names_the_mistake(beta, hint):
    assert hint in fails(check_pixel_mean_beta, beta, fake_vae_run, TABLE)


def test_pixel_mean_beta_fails_when_the_measurement_shows_no_collapse():
    no_collapse = lambda beta: {"recon": 90.0, "kl": 5.0, "nelbo": 95.0}  # noqa: E731
    assert "did not collapse" in fails(check_pixel_mean_beta, 784.0, no_collapse, TABLE)


def test_pixel_mean_beta_not_written_and_negative():
    assert "not written yet" in fails(check_pixel_mean_beta, ..., fake_vae_run, TABLE)
    assert "≥ 0" in fails(check_pixel_mean_beta, -784.0, fake_vae_run, TABLE)


# --------------------------------------------------------------------------- 07: two cheating decoders


def test_ignoring_decoders_prediction_passes_when_right(capsys):
    check_ignoring_decoders_prediction(0.1, 1.0, 0.1, 1.0)
    check_ignoring_decoders_prediction(0.1, 0.95, 0.1, 0.9)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("label, code, hint", [
    (0.0, 1.0, "not scored 0"),
    (10.0, 1.0, "percentage"),
    (1.0, 1.0, "nine of the ten targets are other digits"),
    (0.9, 1.0, "ONE of ten"),
    (0.3, 1.0, "only the target 3 matches"),
    (0.1, 0.1, "still reads the label"),
    (0.1, 100.0, "percentage"),
    (0.1, 0.5, "in one typical handwriting"),
])
def test_ignoring_decoders_prediction_names_the_mistake(label, code, hint):
    assert hint in fails(check_ignoring_decoders_prediction, label, code, 0.1, 1.0)


def test_ignoring_decoders_prediction_not_written_and_a_changed_measurement():
    assert "not written yet" in fails(check_ignoring_decoders_prediction, ..., 1.0, 0.1, 1.0)
    assert "not written yet" in fails(check_ignoring_decoders_prediction, 0.1, ..., 0.1, 1.0)
    assert "exactly 0.1" in fails(check_ignoring_decoders_prediction, 0.1, 1.0, 0.25, 1.0)


# --------------------------------------------------------------------------- 07: β for a roomy code


def fake_cvae_run(beta: float) -> dict:
    """The shape of lesson 07's short_run at latent 16: β = 1 follows the code; 2 < β < 10 listens; β ≥ 10 collapses."""
    if beta >= 10:
        return {"agreement": 0.99, "recon": 190.0, "kl": 0.05}
    if beta > 2:
        return {"agreement": 0.97, "recon": 145.0, "kl": 2.5}
    return {"agreement": 0.5 + 0.2 * (beta - 1), "recon": 120.0, "kl": 11.0 / beta}


def test_beta_listens_passes_when_the_code_listens_and_still_carries_nats(capsys):
    check_beta_listens(4.0, fake_cvae_run)
    assert "✓ With β = 4" in capsys.readouterr().out


@pytest.mark.parametrize("beta, hint", [
    (0.5, "cheaper"),
    (1.0, "no dearer"),
    (50.0, "collapsed the code"),
    (1.5, "the goal is at least 90%"),
])
def test_beta_listens_names_the_mistake(beta, hint):
    assert hint in fails(check_beta_listens, beta, fake_cvae_run)


def test_beta_listens_needs_a_gain_over_beta_one_in_the_same_run():
    always_high = lambda beta: {"agreement": 0.95, "recon": 120.0, "kl": 5.0}  # noqa: E731
    assert "10 points above" in fails(check_beta_listens, 4.0, always_high)


def test_beta_listens_not_written_and_negative():
    assert "not written yet" in fails(check_beta_listens, ..., fake_cvae_run)
    assert "≥ 0" in fails(check_beta_listens, -1.0, fake_cvae_run)
