"""gankit.metrics (sets and text): precision/recall, nearest neighbours, memorisation, BLEU, edit
distance, the real-vs-fake detector — each on inputs with a known answer."""

from __future__ import annotations

import math
import re

import pytest
import torch

from gankit.metrics import (
    bleu,
    detector_accuracy,
    edit_distance,
    knn_radii,
    memorisation_ratio,
    nearest_neighbours,
    nearest_training_names,
    novelty,
    precision_recall,
)


def test_knn_radii_by_hand():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # neighbours of 0: 1 (1), 3 (3), 7 (7); of 1: 0 (1), 3 (2); of 3: 1 (2), 0 (3); of 7: 3 (4), 1 (6)
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, k=2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(x, k=4)


def test_identical_sets_have_full_precision_and_recall():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    pr = precision_recall(x, x.clone(), k=3)
    assert pr.precision == 1.0 and pr.recall == 1.0


def test_a_single_repeated_sample_has_recall_near_zero():
    real = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    fake = real[:1].repeat(300, 1)  # one real example, 300 times: looks real, covers nothing
    pr = precision_recall(real, fake, k=3)
    assert pr.precision == 1.0
    assert pr.recall < 0.02  # only the real examples at distance 0 from it are "covered"


def test_precision_recall_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0]])  # radii (k=1): 1, 1, 1
    fake = torch.tensor([[0.5], [10.0], [11.0]])  # radii (k=1): 9.5, 1, 1
    pr = precision_recall(real, fake, k=1)
    assert pr.precision == pytest.approx(1 / 3)  # only 0.5 lies within 1 of a real point
    assert pr.recall == 1.0  # the ball of radius 9.5 around 0.5 holds every real point


def test_precision_recall_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 3))


def test_nearest_neighbours_on_a_line():
    ref = torch.tensor([[0.0], [10.0], [20.0]])
    dist, idx = nearest_neighbours(torch.tensor([[1.0], [18.0]]), ref, k=2)
    assert idx.tolist() == [[0, 1], [2, 1]]
    assert dist.tolist() == [[1.0, 9.0], [2.0, 8.0]]


def test_memorisation_ratio_catches_copies_and_passes_fresh_data():
    g = torch.Generator().manual_seed(0)
    train, heldout, fresh = (torch.randn(400, 16, generator=g) for _ in range(3))
    copies = train[torch.randint(400, (400,), generator=g)] + 0.01 * torch.randn(400, 16, generator=g)
    assert memorisation_ratio(copies, train, heldout) < 0.05
    assert memorisation_ratio(fresh, train, heldout) == pytest.approx(1.0, abs=0.1)


def test_memorisation_ratio_refuses_overlapping_heldout():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="must not overlap"):
        memorisation_ratio(x, x, x)


def test_bleu_by_hand():
    assert bleu(["abcab"], ["abcab"]) == pytest.approx(100.0)
    # characters: 1-grams 4/5, 2-grams 3/4, 3-grams 2/3, 4-grams 1/2, same length (no brevity penalty)
    expected = 100 * (0.8 * 0.75 * (2 / 3) * 0.5) ** 0.25
    assert bleu(["abcde"], ["abcdf"]) == pytest.approx(expected, rel=1e-6)
    # a hypothesis of 3 characters against a reference of 6: brevity penalty exp(1 − 6/3) times
    # (1 · 1 · 1 · smoothed 4-gram) — check just the penalty's effect by comparing lengths
    assert bleu(["abcde"], ["abcdf", "zzzzzzzzz"]) == pytest.approx(expected, rel=1e-6)


def test_bleu_rewards_copying():
    train = ["anna", "emma", "olivia", "sophia", "isabella", "mia"]
    assert bleu(train, train) == pytest.approx(100.0)
    nonsense = bleu(["xqzkw", "kjxgf"], train)  # letters barely seen in the list
    new_but_plausible = bleu(["emmia", "sophie"], train)
    assert nonsense < 10 < new_but_plausible < 100


def test_bleu_rejects_empty_and_non_strings():
    with pytest.raises(ValueError, match="at least one"):
        bleu([], ["a"])
    with pytest.raises(TypeError, match="strings"):
        bleu([1], ["a"])


@pytest.mark.parametrize("a, b, d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "abc", 0),
                                     ("flaw", "lawn", 2), ("anna", "hanna", 1)])
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_nearest_training_names():
    train = ["anna", "emma", "olivia", "sophia"]
    assert nearest_training_names(["emma", "hanna", "oliver", "sofia"], train) == [
        ("emma", 0), ("anna", 1), ("olivia", 2), ("sophia", 2)]


def test_novelty():
    assert novelty(["anna", "bob", "cleo", "anna"], ["anna", "bob"]) == 0.25
    with pytest.raises(ValueError):
        novelty([], ["a"])


def test_detector_is_at_chance_on_the_same_distribution_and_perfect_on_an_obvious_fake():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(1200, 64, generator=g)
    same = torch.rand(1200, 64, generator=g)
    assert detector_accuracy(real[:800], same[:800], real[800:], same[800:]) == pytest.approx(0.5, abs=0.08)
    bright = (torch.rand(1200, 64, generator=g) + 1) / 2  # pixels in [0.5, 1]: an easy give-away
    assert detector_accuracy(real[:800], bright[:800], real[800:], bright[800:]) > 0.95


# --------------------------------------------------------------------------- the exercise check


def _student_pr(self_count=False, swap=False):
    def fn(real, fake, k):
        from gankit.metrics import pairwise_distances as _pairwise
        pos = k - 1 if self_count else k
        rr = _pairwise(real, real).sort(1).values[:, pos]
        fr = _pairwise(fake, fake).sort(1).values[:, pos]
        d = _pairwise(fake, real)
        p = (d <= rr[None, :]).any(1).float().mean().item()
        r = (d <= fr[:, None]).any(0).float().mean().item()
        return (r, p) if swap else (p, r)
    return fn


def test_check_precision_recall_passes_a_correct_version(capsys):
    from gankit.checks import check_precision_recall
    check_precision_recall(_student_pr())
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("kw, message", [({"self_count": True}, "its own nearest neighbour"),
                                         ({"swap": True}, "(recall, precision)")])
def test_check_precision_recall_names_the_mistake(kw, message):
    from gankit.checks import CheckFailed, check_precision_recall
    with pytest.raises(CheckFailed, match=re.escape(message)):
        check_precision_recall(_student_pr(**kw))


def test_check_precision_recall_stub():
    from gankit.checks import CheckFailed, check_precision_recall

    def stub(real, fake, k):
        raise NotImplementedError
    with pytest.raises(CheckFailed, match="not written yet"):
        check_precision_recall(stub)


def test_gankit_metrics_has_one_home_per_measure_and_re_exports_each():
    from gankit import metrics
    from gankit.metrics import sets, text
    for name in ("precision_recall", "memorisation_ratio", "detector_accuracy", "nearest_neighbours"):
        assert getattr(metrics, name) is getattr(sets, name)
    for name in ("bleu", "novelty", "edit_distance", "nearest_training_names"):
        assert getattr(metrics, name) is getattr(text, name)


def test_memorisation_ratio_with_max_shift_sees_shifted_copies():
    gen = torch.Generator().manual_seed(0)
    train = (torch.rand(20, 1, 12, 12, generator=gen) > 0.7).float()
    heldout = (torch.rand(40, 1, 12, 12, generator=gen) > 0.7).float()
    from gankit.data import random_shift
    copies = train[torch.randint(20, (40,), generator=gen)]
    moved = random_shift(copies, 1, gen)                        # copies of training images, each moved up to 1 px
    assert memorisation_ratio(moved, train, heldout) > 0.5    # a pixel distance is fooled by the shift ...
    assert memorisation_ratio(moved, train, heldout, max_shift=1) < 0.05   # ... a shift-forgiving one is not
    assert memorisation_ratio(heldout[:20], train, heldout[20:], max_shift=1) == pytest.approx(1.0, abs=0.15)
