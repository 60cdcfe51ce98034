"""gankit.metrics: mode coverage and nearest-mode distance on samples with a known answer."""

from __future__ import annotations

import pytest
import torch

from gankit.data import grid25, ring8
from gankit.metrics import Coverage, mode_coverage, nearest_mode_distance

MIX = ring8()
STD = MIX.std  # 0.02


def on_centre(k: int, n: int, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """n points on centre k of ring8, with noise clipped well below 3σ."""
    gen = torch.Generator().manual_seed(seed)
    jitter = (torch.rand(n, 2, generator=gen) * 2 - 1) * noise  # |each coord| < noise
    return MIX.centres[k] + jitter


def at_distance(k: int, n: int, distance: float) -> torch.Tensor:
    """n points exactly ``distance`` from centre k, pointing away from the origin."""
    c = MIX.centres[k]
    return (c + distance * c / c.norm()).repeat(n, 1)


def test_five_modes_of_eight_with_outliers():
    modes = [0, 2, 3, 5, 7]
    noise = 2 * STD / 2**0.5  # each coordinate < 1.42σ, so the distance < 2σ
    samples = [on_centre(k, 25, noise=noise, seed=k) for k in modes]
    samples.append(torch.full((10, 2), 10.0) + torch.randn(10, 2))  # far from every mode
    cov = mode_coverage(torch.cat(samples), MIX.centres, STD)
    assert isinstance(cov, Coverage)
    assert cov.modes == 5
    assert cov.n_modes == 8
    assert cov.hq_share == pytest.approx(125 / 135)
    assert cov.counts == [25, 0, 25, 25, 0, 25, 0, 25]
    assert str(cov).startswith("5/8 modes covered")


def test_hq_threshold_is_three_sigma():
    inside = mode_coverage(at_distance(1, 30, 2.9 * STD), MIX.centres, STD)
    assert inside.hq_share == 1.0 and inside.counts[1] == 30 and inside.modes == 1
    outside = mode_coverage(at_distance(1, 30, 3.1 * STD), MIX.centres, STD)
    assert outside.hq_share == 0.0 and outside.counts == [0] * 8 and outside.modes == 0


def test_hq_sigmas_parameter():
    cov = mode_coverage(at_distance(1, 30, 3.1 * STD), MIX.centres, STD, hq_sigmas=4.0)
    assert cov.modes == 1


def test_min_count_twenty():
    x19 = on_centre(4, 19)
    assert mode_coverage(x19, MIX.centres, STD).modes == 0
    x20 = on_centre(4, 20)
    cov = mode_coverage(x20, MIX.centres, STD)
    assert cov.modes == 1 and cov.counts[4] == 20
    assert mode_coverage(x19, MIX.centres, STD, min_count=19).modes == 1


def test_low_quality_samples_do_not_count_towards_a_mode():
    x = torch.cat([on_centre(0, 19), at_distance(0, 10, 4 * STD)])
    cov = mode_coverage(x, MIX.centres, STD)
    assert cov.modes == 0 and cov.counts[0] == 19
    assert cov.hq_share == pytest.approx(19 / 29)


def test_collapsed_generator_single_point():
    cov = mode_coverage(MIX.centres[6].repeat(2500, 1), MIX.centres, STD)
    assert cov.modes == 1 and cov.hq_share == 1.0 and cov.counts[6] == 2500


def test_all_samples_of_the_mixture_cover_every_mode():
    cov = mode_coverage(MIX.sample(2500, seed=0), MIX.centres, STD)
    assert cov.modes == 8 and cov.hq_share > 0.97
    g = grid25()
    cov = mode_coverage(g.sample(2500, seed=0), g.centres, g.std)
    assert cov.modes == 25 and cov.n_modes == 25


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_samples_count_as_low_quality(bad):
    x = torch.cat([on_centre(2, 30), torch.full((10, 2), bad)])
    x[-1, 0] = 2.0  # a half-finite point too
    cov = mode_coverage(x, MIX.centres, STD)
    assert cov.modes == 1
    assert cov.counts[2] == 30 and sum(cov.counts) == 30
    assert cov.hq_share == pytest.approx(30 / 40)


def test_mode_coverage_accepts_samples_needing_grad_and_double():
    x = on_centre(3, 25).double().requires_grad_(True)
    assert mode_coverage(x, MIX.centres, STD).modes == 1


@pytest.mark.parametrize("shape", [(10,), (10, 3), (10, 2, 1)])
def test_wrong_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        mode_coverage(torch.zeros(shape), MIX.centres, STD)
    with pytest.raises(ValueError):
        nearest_mode_distance(torch.zeros(shape), MIX.centres)


def test_empty_samples():
    with pytest.raises(ValueError, match="empty"):
        mode_coverage(torch.zeros(0, 2), MIX.centres, STD)
    with pytest.raises(ValueError, match="empty"):
        nearest_mode_distance(torch.zeros(0, 2), MIX.centres)


def test_nearest_mode_distance_hand_computed():
    x = MIX.centres + torch.tensor([0.3, 0.0])
    assert nearest_mode_distance(x, MIX.centres) == pytest.approx(0.3, abs=1e-5)
    assert nearest_mode_distance(MIX.centres, MIX.centres) == pytest.approx(0.0, abs=1e-3)
    # the mean over samples: 0.1 and 0.5 away → 0.3
    y = torch.stack([MIX.centres[0] + torch.tensor([0.0, 0.1]), MIX.centres[4] + torch.tensor([0.0, 0.5])])
    assert nearest_mode_distance(y, MIX.centres) == pytest.approx(0.3, abs=1e-5)


def test_nearest_mode_distance_from_origin_is_the_radius():
    assert nearest_mode_distance(torch.zeros(5, 2), MIX.centres) == pytest.approx(2.0, abs=1e-5)
