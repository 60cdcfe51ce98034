"""Measures of what a generative model makes, one home per measure:

* :mod:`~gankit.metrics.toy` — mode coverage on 2-D mixtures (the 3σ / 2,500 / 20 protocol);
* :mod:`~gankit.metrics.pixels` — PSNR and SSIM of reconstructions;
* :mod:`~gankit.metrics.judge` — the digit judge's scores: confident share, class coverage,
  Fréchet distance next to a real-vs-real reference, label agreement;
* :mod:`~gankit.metrics.sets` — precision/recall, nearest neighbours and memorisation, a
  real-vs-fake detector (any feature space);
* :mod:`~gankit.metrics.text` — BLEU, edit distance and novelty of generated text;
* :mod:`~gankit.metrics.family` — every digit model scored the same way (the rows of lesson 12's
  kit-wide table and of ``make bench``'s).

Every name is also here, so a lesson writes ``metrics.mode_coverage`` or
``metrics.precision_recall`` without knowing which file holds it.
"""

from gankit.metrics.judge import (
    JUDGE_FILE,
    JudgeScores,
    RealReference,
    frechet_distance,
    gaussian_stats,
    judge_fd,
    judge_scores,
    label_agreement,
    load_judge,
    real_reference,
    style_transfer_agreement,
)
from gankit.metrics.family import FamilyRow, format_family_table, score_digit_images
from gankit.metrics.pixels import psnr, ssim
from gankit.metrics.sets import (
    PrecisionRecall,
    detector_accuracy,
    knn_radii,
    memorisation_ratio,
    nearest_neighbours,
    pairwise_distances,
    precision_recall,
)
from gankit.metrics.text import bleu, edit_distance, nearest_training_names, novelty
from gankit.metrics.toy import Coverage, mode_coverage, nearest_mode_distance

__all__ = [
    # toy mixtures
    "Coverage",
    "mode_coverage",
    "nearest_mode_distance",
    # pixels
    "psnr",
    "ssim",
    # the digit judge
    "JUDGE_FILE",
    "JudgeScores",
    "RealReference",
    "load_judge",
    "judge_scores",
    "judge_fd",
    "frechet_distance",
    "gaussian_stats",
    "real_reference",
    "label_agreement",
    "style_transfer_agreement",
    # sets of samples
    "PrecisionRecall",
    "pairwise_distances",
    "knn_radii",
    "precision_recall",
    "nearest_neighbours",
    "memorisation_ratio",
    "detector_accuracy",
    # every bundled digit model on one judge
    "FamilyRow",
    "score_digit_images",
    "format_family_table",
    # text
    "bleu",
    "edit_distance",
    "nearest_training_names",
    "novelty",
]
