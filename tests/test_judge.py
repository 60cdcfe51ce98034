"""The digit judge and its measures, on inputs with a known answer."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

from gankit import metrics
from gankit.data import load_mnist_subset
from gankit.metrics import (
    JUDGE_FILE,
    frechet_distance,
    gaussian_stats,
    judge_fd,
    judge_scores,
    label_agreement,
    load_judge,
    real_reference,
)
from gankit.models import DigitJudge, DigitJudgeConfig, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def judge():
    return load_judge()


@pytest.fixture(scope="module")
def test_digits():
    return load_mnist_subset("test")


# --------------------------------------------------------------------------- the bundled judge


def test_bundled_judge_is_small_and_documented():
    assert JUDGE_FILE.stat().st_size < 400 * 1024
    readme = (JUDGE_FILE.parent / "README.md").read_text(encoding="utf-8")
    sha = hashlib.sha256(JUDGE_FILE.read_bytes()).hexdigest()
    assert sha in readme, "data/README.md must record the sha256 of data/judge.pt"
    assert "scripts/train_judge.py" in readme


def test_bundled_judge_accuracy_on_held_out_digits(judge, test_digits):
    images, labels = test_digits
    assert label_agreement(images, labels, judge) >= 0.97
    assert judge.checkpoint_metadata["test_accuracy"] >= 0.97


def test_metrics_module_re_exports_the_judge_measures():
    assert metrics.judge_scores is judge_scores
    assert metrics.judge_fd is judge_fd
    assert metrics.frechet_distance is frechet_distance
    assert metrics.label_agreement is label_agreement


def test_judge_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = DigitJudge(DigitJudgeConfig(width=4, feature_dim=8)).eval()
    path = save_checkpoint(tmp_path / "j.pt", model, test_accuracy=0.5)
    loaded = load_checkpoint(path, expected=DigitJudge)
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(loaded(x), model(x))
    assert loaded.embed(x).shape == (3, 8)
    assert loaded.checkpoint_metadata == {"test_accuracy": 0.5}


# --------------------------------------------------------------------------- confidence and coverage


def test_one_repeated_image_covers_one_class(judge, test_digits):
    images, labels = test_digits
    seven = images[labels == 7][:1].repeat(200, 1, 1, 1)
    scores = judge_scores(seven, judge)
    assert scores.classes_covered == 1
    assert scores.class_shares[7] == 1.0
    assert scores.min_class_share == 0.0
    assert scores.confident in (0.0, 1.0)  # every copy is judged the same way
    assert scores.n == 200


def test_real_digits_cover_every_class_evenly(judge, test_digits):
    images, _ = test_digits
    scores = judge_scores(images, judge)
    assert scores.classes_covered == 10
    assert scores.min_class_share >= 0.08
    assert scores.confident >= 0.9
    assert math.isclose(sum(scores.class_shares), 1.0)
    assert "10/10 classes covered" in str(scores)


def test_blank_images_are_not_judged_confidently(judge):
    scores = judge_scores(torch.zeros(50, 1, 28, 28), judge)
    assert scores.confident < 0.5 and scores.classes_covered == 1


def test_threshold_one_is_stricter(judge, test_digits):
    images, _ = test_digits
    assert judge_scores(images[:100], judge, threshold=0.999).confident <= judge_scores(images[:100], judge).confident


def test_label_agreement_known_answers(judge, test_digits):
    images, labels = test_digits
    assert label_agreement(images[:100], labels[:100], judge) >= 0.95
    assert label_agreement(images[:100], (labels[:100] + 1) % 10, judge) <= 0.05


def test_label_agreement_rejects_bad_labels(judge, test_digits):
    images, labels = test_digits
    with pytest.raises(ValueError, match="classes 0–9"):
        label_agreement(images[:3], torch.tensor([0, 10, 2]), judge)
    with pytest.raises(ValueError, match="one per image"):
        label_agreement(images[:3], labels[:2], judge)


def test_images_in_tanh_range_give_a_clear_error(judge):
    with pytest.raises(ValueError, match="to_unit_range"):
        judge_scores(torch.rand(4, 1, 28, 28) * 2 - 1, judge)


@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 3, 28, 28), (4, 1, 32, 32)])
def test_wrong_image_shape_is_refused(judge, shape):
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        judge_scores(torch.rand(shape), judge)


# --------------------------------------------------------------------------- Fréchet distance


def _closed_form_diagonal(mu1, var1, mu2, var2) -> float:
    # For diagonal covariances the matrix square roots are element-wise:
    # FD = |mu1 - mu2|^2 + sum (sqrt(var1) - sqrt(var2))^2
    return float(((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum())


def test_frechet_distance_of_identical_gaussians_is_zero():
    a = torch.randn(6, 6, dtype=torch.float64)
    cov = a @ a.T + 0.1 * torch.eye(6, dtype=torch.float64)
    mu = torch.randn(6, dtype=torch.float64)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_diagonal_gaussians_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    var1, var2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    # hand computed: |mu1 - mu2|^2 = 1 + 0 + 4 = 5; (1-2)^2 + (2-1)^2 + 0 = 2
    assert _closed_form_diagonal(mu1, var1, mu2, var2) == pytest.approx(7.0)
    assert frechet_distance(mu1, torch.diag(var1), mu2, torch.diag(var2)) == pytest.approx(7.0, abs=1e-9)


def test_frechet_distance_is_rotation_invariant():
    # rotating both Gaussians by the same orthogonal matrix changes nothing: a non-diagonal case
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    cov1, cov2 = torch.diag(torch.tensor([1.0, 4.0, 9.0])), torch.diag(torch.tensor([4.0, 1.0, 9.0]))
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))
    got = frechet_distance(q @ mu1, q @ cov1 @ q.T, q @ mu2, q @ cov2 @ q.T)
    assert got == pytest.approx(7.0, abs=1e-6)


def test_frechet_distance_one_dimension():
    # N(0, 1) vs N(3, 4): (0 - 3)^2 + (1 - 2)^2 = 10
    assert frechet_distance(torch.zeros(1), torch.ones(1, 1), torch.tensor([3.0]), torch.tensor([[4.0]])) == pytest.approx(10.0)


def test_frechet_distance_from_samples_approaches_the_closed_form():
    gen = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.tensor([0.0, 0.0]), torch.tensor([2.0, -1.0])
    std1, std2 = torch.tensor([1.0, 0.5]), torch.tensor([2.0, 0.5])
    x1 = mu1 + std1 * torch.randn(200_000, 2, generator=gen)
    x2 = mu2 + std2 * torch.randn(200_000, 2, generator=gen)
    expected = _closed_form_diagonal(mu1, std1**2, mu2, std2**2)  # 5 + 1 = 6
    got = frechet_distance(*gaussian_stats(x1), *gaussian_stats(x2))
    assert got == pytest.approx(expected, rel=0.02)


def test_frechet_distance_shape_mismatch():
    with pytest.raises(ValueError, match="Shapes do not fit"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))


def test_gaussian_stats_needs_two_samples():
    with pytest.raises(ValueError, match="N ≥ 2"):
        gaussian_stats(torch.zeros(1, 4))


def test_judge_fd_identical_sets_is_zero(judge, test_digits):
    images, _ = test_digits
    assert judge_fd(images[:300], images[:300], judge) == pytest.approx(0.0, abs=1e-6)


def test_judge_fd_orders_real_blank_and_noise(judge, test_digits):
    images, _ = test_digits
    ref = real_reference(judge)
    assert len(ref.half_a) == len(ref.half_b) == 500
    assert 0.0 < ref.fd < 50
    noise = judge_fd(torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)), ref.half_b, judge)
    assert noise > 10 * ref.fd
    assert ref.confident >= 0.9
