"""Every digit model on one judge: the rows of lesson 12's kit-wide table and ``make bench``.

Each model family of the kit has a bundled checkpoint trained on the same 4,000 digits
(``data/checkpoints/``, each reproduced by ``gankit train <recipe>``);
:func:`gankit.recipes.family_table` draws the same number of images from each, and this
module scores them the same way, so the rows can be read side by side:

* ``judge_confident`` — share of images the digit judge calls with probability ≥ 0.9
  (real held-out digits: about 0.96);
* ``rarest_class`` — the share of the digit the judge sees least often (0.10 is perfectly
  balanced; a model that drops a digit gets near 0);
* ``fd`` — Fréchet distance in the judge's feature space, 500 images against 500 held-out
  digits (real against real: :func:`~gankit.metrics.real_reference`'s ``fd``);
* ``precision`` / ``recall`` — Kynkäänniemi et al. (2019) in the judge's features against
  as many held-out digits (lesson 11);
* ``nn_ratio`` — :func:`~gankit.metrics.memorisation_ratio` in pixels: median distance to the
  nearest training digit against that of held-out digits (≈ 1: as new as fresh data);
* ``label_agreement`` — for a model asked for digits (0, 1, …, 9 in turn): the share the
  judge assigns to the digit asked for (``None`` for an unconditional model);
* ``train_cpu_s`` — the CPU seconds its recipe recorded for training (from the checkpoint's
  metadata), and ``sample_ms`` — wall-clock milliseconds per image to draw the ``n`` images
  here, in one batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from gankit.data import load_mnist_subset
from gankit.metrics.judge import DigitJudge, judge_fd, judge_scores, label_agreement, load_judge
from gankit.metrics.sets import memorisation_ratio, precision_recall

__all__ = ["FamilyRow", "score_digit_images", "format_family_table"]


@dataclass
class FamilyRow:
    model: str
    judge_confident: float
    rarest_class: float
    fd: float
    precision: float
    recall: float
    nn_ratio: float
    label_agreement: float | None = None
    train_cpu_s: float | None = None
    sample_ms: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _real_sets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The training digits and the held-out digits in a fixed shuffled order."""
    train, _ = load_mnist_subset("train")
    test, _ = load_mnist_subset("test")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    return train, test[order]  # the file is sorted by digit: shuffle once


def score_digit_images(name: str, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                       judge: DigitJudge | None = None, k: int = 3, seed: int = 0,
                       train_cpu_s: float | None = None, sample_ms: float | None = None) -> FamilyRow:
    """One row of the table for ``images`` (N, 1, 28, 28) in [0, 1], N ≤ 1,000 — at least 500
    for a Fréchet distance on the table's footing. ``labels``: the digits asked for, if any.
    Precision/recall and the NN ratio compare with the first N held-out digits (shuffled with
    ``seed``); the FD uses 500 samples against the last 500 of them, so the two halves of
    the held-out digits give the real-vs-real floor."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"score_digit_images expects images of shape (N, 1, 28, 28) in [0, 1], got {got}.")
    train, test = _real_sets(seed)
    n = len(images)
    if not 500 <= n <= len(test):
        raise ValueError(f"score_digit_images needs 500 to {len(test)} images (FD uses 500; precision/recall and "
                         f"the NN ratio compare with as many held-out digits), got {n}.")
    judge = judge or load_judge()
    images = images.detach().cpu().float()
    scores = judge_scores(images, judge)
    pr = precision_recall(judge.embed(test[:n]), judge.embed(images), k=k)
    return FamilyRow(
        model=name,
        judge_confident=scores.confident,
        rarest_class=scores.min_class_share,
        fd=judge_fd(images[:500], test[-500:], judge),
        precision=pr.precision,
        recall=pr.recall,
        nn_ratio=memorisation_ratio(images, train, test[:n]),
        label_agreement=label_agreement(images, labels, judge) if labels is not None else None,
        train_cpu_s=train_cpu_s,
        sample_ms=sample_ms,
    )


def format_family_table(rows: list[FamilyRow]) -> str:
    """The rows as a Markdown table (shares in %, FD and the NN ratio as numbers)."""
    head = ("| model | judge-confident | rarest digit | FD | precision | recall | NN ratio | label agreement "
            "| training CPU s | sampling ms/image |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        agree = f"{r.label_agreement:.1%}" if r.label_agreement is not None else "–"
        cpu = f"{r.train_cpu_s:,.0f}" if r.train_cpu_s is not None else "–"
        ms = f"{r.sample_ms:.2f}" if r.sample_ms is not None else "–"
        lines.append(f"| {r.model} | {r.judge_confident:.1%} | {r.rarest_class:.1%} | {r.fd:.1f} | {r.precision:.3f} "
                     f"| {r.recall:.3f} | {r.nn_ratio:.2f} | {agree} | {cpu} | {ms} |")
    return "\n".join(lines)
