"""Measures of a set of samples against a set of real examples, in any feature space (lesson 11).

* :func:`precision_recall` — precision and recall for generative models with k-nearest-
  neighbour manifolds (Kynkäänniemi et al., 2019, "Improved Precision and Recall Metric
  for Assessing Generative Models", arXiv:1904.06991): *precision* asks "do the samples
  look real?", *recall* asks "do the samples cover the data?" — two questions a single
  number such as the Fréchet distance mixes together.
* :func:`nearest_neighbours` and :func:`memorisation_ratio` — how close each generated
  example is to its nearest *training* example, against the same distance for real
  held-out examples (a model that copies its training data sits far below 1).
* :func:`detector_accuracy` — how well a small classifier tells real examples from
  generated ones on held-out data (0.5: it cannot; 1.0: every fake is caught).

Features come from wherever the caller chooses: pixels, or the digit judge's
penultimate layer (:meth:`gankit.models.DigitJudge.embed`), as the Fréchet distance uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gankit.data import all_shifts

__all__ = [
    "PrecisionRecall",
    "pairwise_distances",
    "knn_radii",
    "precision_recall",
    "nearest_neighbours",
    "memorisation_ratio",
    "detector_accuracy",
]


def _as_features(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty batch of examples, shape (N, ...); got {tuple(x.shape)}.")
    x = x.reshape(len(x), -1)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values.")
    return x


def pairwise_distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Euclidean distances between the rows of ``a`` and ``b``, in chunks to bound memory."""
    return torch.cat([torch.cdist(a[i:i + chunk].double(), b.double()) for i in range(0, len(a), chunk)]).float()


# --------------------------------------------------------------------------- precision and recall


def knn_radii(features: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance from each example to its k-th nearest *other* example of the same set: the
    radius of the ball that, unioned over the set, estimates the set's manifold."""
    x = _as_features(features, "features")
    if not 1 <= k < len(x):
        raise ValueError(f"k must be between 1 and the number of examples − 1 ({len(x) - 1}), got {k}.")
    d = pairwise_distances(x, x)
    # sorted row: position 0 is the example itself (distance 0), position k its k-th neighbour
    return d.sort(dim=1).values[:, k]


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float  # share of generated examples inside the real manifold
    recall: float  # share of real examples inside the generated manifold
    k: int

    def __str__(self) -> str:
        return f"precision {self.precision:.3f}, recall {self.recall:.3f} (k = {self.k})"


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its examples, each ball reaching the
    example's k-th nearest neighbour in the same set. Then

        precision = (1/M) Σ_j 1[ fake_j lies in the real manifold ]
        recall    = (1/N) Σ_i 1[ real_i lies in the fake manifold ]

    A generator that makes only a few kinds of good example has high precision and low
    recall; one that covers the data but makes poor examples has the opposite. Identical
    sets give 1 and 1. Use the same number of real and fake examples (the paper's advice:
    the radii grow as the sets shrink), and a feature space in which distance means
    similarity (the paper uses VGG-16 features; for digits the judge's features serve).
    """
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real and fake features differ in size: {r.shape[1]} and {f.shape[1]}.")
    r_radii, f_radii = knn_radii(r, k), knn_radii(f, k)
    d = pairwise_distances(f, r)  # (M fake, N real)
    precision = (d <= r_radii[None, :]).any(dim=1).float().mean().item()
    recall = (d <= f_radii[:, None]).any(dim=0).float().mean().item()
    return PrecisionRecall(precision, recall, k)


# --------------------------------------------------------------------------- memorisation


def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference examples of every query (Euclidean, on flattened
    examples), as (distances, indices), each of shape (len(queries), k), nearest first.
    Uses scikit-learn's exact search."""
    # scikit-learn is heavy to import: loaded only when nearest neighbours are asked for
    from sklearn.neighbors import NearestNeighbors

    q, ref = _as_features(queries, "queries"), _as_features(reference, "reference")
    if q.shape[1] != ref.shape[1]:
        raise ValueError(f"queries and reference examples differ in size: {q.shape[1]} and {ref.shape[1]}.")
    if not 1 <= k <= len(ref):
        raise ValueError(f"k must be between 1 and the number of reference examples ({len(ref)}), got {k}.")
    search = NearestNeighbors(n_neighbors=k).fit(ref.numpy())
    dist, idx = search.kneighbors(q.numpy())
    return torch.from_numpy(dist).float(), torch.from_numpy(idx)


def memorisation_ratio(generated: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor,
                       max_shift: int = 0) -> float:
    """Median distance from generated examples to their nearest training example, divided
    by the same median for real *held-out* examples.

    Held-out examples were never trained on, so their distance to the training set is what
    "new, but from the same distribution" looks like: a ratio near 1 (or above) means the
    samples are as far from the training set as fresh real data; a ratio far below 1 means
    the model reproduces (near-)copies of training examples. Use as many generated as
    held-out examples, in the same feature space.

    ``max_shift`` (images only): compare with every training image moved by up to that many
    pixels (:func:`gankit.data.all_shifts`), for samples *and* held-out examples alike. A
    pixel distance counts a copy moved by one pixel as far away (lesson 11, section 1), so
    a model that learnt shifted copies — from shift augmentation, say — looks original at
    ``max_shift=0``; a shift-forgiving ratio still sees the copies.
    """
    if max_shift:
        train = all_shifts(train, max_shift)
    g, _ = nearest_neighbours(generated, train)
    h, _ = nearest_neighbours(heldout, train)
    baseline = h.median().item()
    if baseline == 0:
        raise ValueError("the held-out examples include exact copies of training examples; "
                         "remove them (a held-out set must not overlap the training set).")
    return g.median().item() / baseline


# --------------------------------------------------------------------------- real or generated?


def detector_accuracy(real_train: torch.Tensor, fake_train: torch.Tensor, real_test: torch.Tensor,
                      fake_test: torch.Tensor, hidden: int = 128, seed: int = 0) -> float:
    """Train a small detector (a one-hidden-layer MLP, scikit-learn's ``MLPClassifier``, on
    flattened pixels) to say "real" or "generated", and return its accuracy on held-out
    examples of both kinds, counted as a balanced accuracy (the mean of its accuracy on
    real and on generated examples, so 0.5 is chance whatever the sizes).

    A detector near 0.5 cannot tell the model's samples from real data; near 1.0 the
    samples carry a give-away (blur, artefacts, missing variety). The detector here is
    deliberately small: a stronger one trained on more data usually does better, so a low
    figure is evidence, not proof, that the samples pass for real.
    """
    # scikit-learn is heavy to import: loaded only when a detector is asked for
    from sklearn.neural_network import MLPClassifier

    sets = [_as_features(t, name).numpy() for t, name in
            ((real_train, "real_train"), (fake_train, "fake_train"), (real_test, "real_test"), (fake_test, "fake_test"))]
    if len({s.shape[1] for s in sets}) != 1:
        raise ValueError(f"all four sets need examples of the same size; got {[s.shape[1] for s in sets]}.")
    rtr, ftr, rte, fte = sets
    x = np.concatenate([rtr, ftr])
    y = np.concatenate([np.ones(len(rtr)), np.zeros(len(ftr))])
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=200, early_stopping=True,
                        random_state=seed)
    clf.fit(x, y)
    acc_real = float((clf.predict(rte) == 1).mean())
    acc_fake = float((clf.predict(fte) == 0).mean())
    return (acc_real + acc_fake) / 2
