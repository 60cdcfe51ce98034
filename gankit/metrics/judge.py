"""What the digit judge measures: a small classifier that scores what an image model makes.

Looking at a grid of samples is not measuring them. The judge is a convolutional
classifier trained by the kit on the bundled MNIST training split (4,000 digits) and
shipped as ``data/judge.pt`` (``scripts/train_judge.py`` reproduces it; its held-out
accuracy is in data/README.md). On top of it, three measures:

* **confident share and class coverage** (:func:`judge_scores`): the share of samples the
  judge classifies with max probability ≥ 0.9 (a rough "looks like *some* digit"), and how
  the samples spread over the ten classes (a collapsed generator covers few);
* **Fréchet distance** (:func:`judge_fd`) between generated and real images in the judge's
  feature space (its penultimate layer): fit a Gaussian to each set of features and
  compare them in closed form (:func:`frechet_distance`). This is FID (Heusel et al.,
  2017) with the small judge in place of Inception, as commonly done for MNIST. The number
  depends on the network and on the sample size, so it means something only next to a
  reference: the distance between two halves of the real held-out digits
  (:func:`real_reference`);
* **label agreement** (:func:`label_agreement`): for a conditional model, the share of
  samples that the judge assigns to the label that was asked for.

Every function here takes images in [0, 1] with shape (N, 1, 28, 28), like
:func:`gankit.data.load_mnist_subset`; map a tanh generator's output with
:func:`gankit.models.dcgan.to_unit_range` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gankit.data import DATA_DIR, load_mnist_subset
from gankit.models import ConditionalVAE, DigitJudge, load_checkpoint
from gankit.models.cvae import Labels, style_transfer_grid

__all__ = [
    "JUDGE_FILE",
    "load_judge",
    "JudgeScores",
    "judge_scores",
    "gaussian_stats",
    "frechet_distance",
    "judge_fd",
    "RealReference",
    "real_reference",
    "label_agreement",
    "style_transfer_agreement",
]

JUDGE_FILE = DATA_DIR / "judge.pt"


_cached: dict[str, DigitJudge] = {}


def load_judge(path: str | Path | None = None, device: str | torch.device | None = "cpu") -> DigitJudge:
    """The bundled judge (``data/judge.pt``), or the one at ``path``, in eval mode.

    Its training record (test accuracy, seed, command) is at ``judge.checkpoint_metadata``.
    """
    path = Path(path) if path is not None else JUDGE_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"No judge at {path}. The bundled one is part of the repository (restore it with "
            f"`git checkout -- data/judge.pt`), or rebuild it with `python scripts/train_judge.py`."
        )
    return load_checkpoint(path, expected=DigitJudge, device=device)


def _default(judge: DigitJudge | None) -> DigitJudge:
    if judge is not None:
        return judge
    if "default" not in _cached:
        _cached["default"] = load_judge()
    return _cached["default"]


# --------------------------------------------------------------------------- confidence and coverage


@dataclass(frozen=True)
class JudgeScores:
    n: int  # images judged
    confident: float  # share of images with max class probability ≥ threshold, 0–1
    class_shares: list[float]  # share of images predicted as each class (argmax), sums to 1
    classes_covered: int  # classes with at least cover_share of the images
    threshold: float

    @property
    def min_class_share(self) -> float:
        """The share of the least-predicted class: 0.1 is a perfectly even spread."""
        return min(self.class_shares)

    def __str__(self) -> str:
        return (f"{self.confident:.1%} judged with confidence ≥ {self.threshold:g}, "
                f"{self.classes_covered}/{len(self.class_shares)} classes covered, "
                f"rarest class {self.min_class_share:.1%} of {self.n} images")


def judge_scores(
    images: torch.Tensor,
    judge: DigitJudge | None = None,
    threshold: float = 0.9,
    cover_share: float = 0.01,
) -> JudgeScores:
    """Confident share and class coverage of ``images`` (N, 1, 28, 28) in [0, 1].

    An image is *confident* when the judge's largest class probability is ≥ ``threshold``;
    a class is *covered* when at least ``cover_share`` of the images are predicted as it.
    Real held-out digits score about 0.96 confident with every class near 0.1.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}.")
    judge = _default(judge)
    probs = judge.predict_proba(images)  # (N, 10)
    top, predicted = probs.max(dim=1)
    counts = torch.bincount(predicted, minlength=probs.shape[1]).double()
    shares = (counts / len(probs)).tolist()
    return JudgeScores(
        n=len(probs),
        confident=float((top >= threshold).double().mean()),
        class_shares=shares,
        classes_covered=sum(s >= cover_share for s in shares),
        threshold=threshold,
    )


def label_agreement(images: torch.Tensor, labels: torch.Tensor, judge: DigitJudge | None = None) -> float:
    """Share of ``images`` that the judge assigns to the class in ``labels`` (for a
    conditional generator: the digit that was asked for), 0–1."""
    labels = torch.as_tensor(labels).long().cpu()
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), one per image, got {tuple(labels.shape)}.")
    judge = _default(judge)
    n_classes = judge.config.n_classes
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be classes 0–{n_classes - 1}, got values from {int(labels.min())} to {int(labels.max())}.")
    predicted = judge.predict_proba(images).argmax(dim=1)
    return float((predicted == labels).double().mean())


# --------------------------------------------------------------------------- Fréchet distance


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must have shape (N ≥ 2, D), got {tuple(features.shape)}.")
    f = features.detach().double().cpu()
    mu = f.mean(dim=0)
    centred = f - mu
    cov = centred.T @ centred / (len(f) - 1)
    return mu, cov


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix, through its eigenvalues
    (tiny negative ones from rounding are set to 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, cov1) and N(mu2, cov2):

        ‖mu1 − mu2‖² + tr(cov1 + cov2 − 2 (cov1^½ cov2 cov1^½)^½).

    The last term equals tr((cov1 cov2)^½) of the usual FID formula; written with the
    symmetric matrix cov1^½ cov2 cov1^½ it needs only symmetric eigen-decompositions.
    """
    mu1, mu2 = torch.as_tensor(mu1).double(), torch.as_tensor(mu2).double()
    cov1, cov2 = torch.as_tensor(cov1).double(), torch.as_tensor(cov2).double()
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (len(mu1), len(mu1)):
        raise ValueError(
            f"Shapes do not fit: means {tuple(mu1.shape)} and {tuple(mu2.shape)}, "
            f"covariances {tuple(cov1.shape)} and {tuple(cov2.shape)}; expected (D,) and (D, D)."
        )
    s1 = _sqrt_psd(cov1)
    cross = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * cross
    return max(float(value), 0.0)


def judge_fd(images_a: torch.Tensor, images_b: torch.Tensor, judge: DigitJudge | None = None) -> float:
    """Fréchet distance between two sets of images (N, 1, 28, 28) in [0, 1], in the judge's
    feature space. Compare it only with distances computed from sets of the same sizes
    (the estimate is biased upwards for small sets): see :func:`real_reference`."""
    judge = _default(judge)
    return frechet_distance(*gaussian_stats(judge.embed(images_a)), *gaussian_stats(judge.embed(images_b)))


@dataclass(frozen=True)
class RealReference:
    """What good looks like, measured on the real held-out digits."""

    confident: float  # the judge's confident share on the 1,000 held-out digits
    fd: float  # Fréchet distance between two random halves (500 vs 500) of them
    half_a: torch.Tensor  # (500, 1, 28, 28)
    half_b: torch.Tensor  # (500, 1, 28, 28): compare 500 samples with this half


def real_reference(judge: DigitJudge | None = None, threshold: float = 0.9, seed: int = 0) -> RealReference:
    """The judge's figures for real digits, from the 1,000 held-out ones (never seen by the
    judge or by a lesson's generator).

    ``fd`` is the distance a perfect generator would score: 500 real digits against 500
    others. Score a generator like with like, ``judge_fd(500 samples, ref.half_b)``.
    """
    judge = _default(judge)
    test, _ = load_mnist_subset("test")
    perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    half_a, half_b = test[perm[: len(test) // 2]], test[perm[len(test) // 2:]]
    return RealReference(
        confident=judge_scores(test, judge, threshold).confident,
        fd=judge_fd(half_a, half_b, judge),
        half_a=half_a,
        half_b=half_b,
    )


# --------------------------------------------------------------------------- a conditional VAE's style transfer


@torch.no_grad()
def style_transfer_agreement(model: ConditionalVAE, x: torch.Tensor, y: Labels, judge=None,
                             batch_size: int = 500) -> float:
    """How often the digit judge sees the digit that was asked for, over every image of
    ``x`` transferred to every target label (the image's own label included), 0–1.

    Uses :func:`label_agreement` (the bundled judge when ``judge`` is None).
    Images must be 28×28 digits in [0, 1], like the judge's."""
    y = model.labels_for(y, len(x))
    agree, total = 0.0, 0
    for i in range(0, len(x), batch_size):
        images, targets = style_transfer_grid(model, x[i:i + batch_size], y[i:i + batch_size])
        agree += label_agreement(images, targets, judge) * len(targets)
        total += len(targets)
    return agree / total
