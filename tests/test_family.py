"""The kit-wide table of lesson 12: every digit model scored on one judge
(gankit.metrics.family, gankit.recipes.family_table), on sets whose answers are known."""

from __future__ import annotations

import pytest
import torch

from gankit.data import load_mnist_subset
from gankit.metrics import FamilyRow, format_family_table, score_digit_images
from gankit.recipes import bundled_digit_models


@pytest.fixture(scope="module")
def train_digits():
    x, y = load_mnist_subset("train")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))  # the file is sorted by digit
    return x[order], y[order]


def test_copies_of_training_digits_are_confident_and_flagged_as_copies(train_digits):
    images, labels = train_digits[0][:500], train_digits[1][:500]
    row = score_digit_images("copies", images, labels, train_cpu_s=1.0, sample_ms=0.5)
    assert row.judge_confident > 0.9  # real digits: the judge is sure of almost all
    assert row.label_agreement > 0.95  # and reads them as their own labels
    assert row.nn_ratio < 1e-4  # every image IS a training digit: distance 0 (up to rounding)
    assert row.rarest_class > 0.05
    assert row.fd < 30  # real digits against other real digits: near the real-vs-real floor (12.6)
    assert row.precision > 0.8 and row.recall > 0.8
    assert (row.train_cpu_s, row.sample_ms) == (1.0, 0.5)


def test_noise_scores_as_noise(train_digits):
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    row = score_digit_images("noise", noise)
    copies = score_digit_images("copies", train_digits[0][:500])
    assert row.label_agreement is None  # nothing was asked for
    assert row.fd > 10 * copies.fd
    assert row.recall < 0.1  # no real digit's neighbourhood is reached
    assert row.nn_ratio > 1  # far from every training digit


def test_score_refuses_bad_images():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        score_digit_images("flat", torch.rand(500, 784))
    with pytest.raises(ValueError, match="500 to 1000 images"):
        score_digit_images("few", torch.rand(100, 1, 28, 28))


def test_format_family_table_marks_what_does_not_apply():
    rows = [FamilyRow("GAN", 0.75, 0.05, 94.2, 0.8, 0.5, 1.02, None, 1403.0, 0.01),
            FamilyRow("guided", 0.99, 0.1, 30.0, 0.9, 0.4, 0.98, 0.991, None, None)]
    text = format_family_table(rows)
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| model |")
    assert "| GAN | 75.0% | 5.0% | 94.2 | 0.800 | 0.500 | 1.02 | – | 1,403 | 0.01 |" in text
    assert "| guided | 99.0% | 10.0% | 30.0 | 0.900 | 0.400 | 0.98 | 99.1% | – | – |" in text


def test_every_bundled_digit_model_draws_images_in_the_judges_range():
    models = bundled_digit_models("cpu", sample_steps=2, guidance=1.0)
    assert set(models) == {"DCGAN", "VAE", "conditional VAE", "diffusion", "guided diffusion"}
    labels = torch.tensor([0, 3, 7, 9])
    for name, (draw, conditional, cpu_s) in models.items():
        images = draw(4, labels if conditional else None, torch.Generator().manual_seed(0))
        assert images.shape == (4, 1, 28, 28), name
        assert 0 <= images.min() and images.max() <= 1, name
        assert cpu_s is None or cpu_s > 0, name
    assert models["diffusion"][2] is not None  # the recipe records its training time
