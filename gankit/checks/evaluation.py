"""Exercise check of lesson 11: precision and recall with k-nearest-neighbour manifolds."""

from __future__ import annotations

import math
from typing import Callable

import torch

from gankit.checks.core import CheckFailed, run_student
from gankit.metrics import knn_radii, pairwise_distances, precision_recall

__all__ = ["check_precision_recall"]


def check_precision_recall(fn: Callable[[torch.Tensor, torch.Tensor, int], tuple[float, float]]) -> None:
    """Check a student's ``fn(real, fake, k) -> (precision, recall)`` against
    :func:`gankit.metrics.precision_recall` on small feature sets, naming the usual slips:
    counting an example as its own neighbour, swapping the two, using the wrong set's radii."""
    g = torch.Generator().manual_seed(11)
    cases = [(torch.randn(60, 5, generator=g), torch.randn(50, 5, generator=g) * 1.5 + 0.5, 3),
             (torch.randn(40, 3, generator=g), torch.randn(40, 3, generator=g) * 0.3, 2),
             (torch.randn(30, 2, generator=g), torch.randn(45, 2, generator=g) + 2.0, 4)]
    for real, fake, k in cases:
        out = run_student(fn, "precision_recall", real.clone(), fake.clone(), k)
        try:
            got_p, got_r = (float(v) for v in out)
        except (TypeError, ValueError):
            raise CheckFailed(f"precision_recall should return two numbers (precision, recall), got {out!r}.") from None
        want = precision_recall(real, fake, k)
        if math.isclose(got_p, want.precision, abs_tol=1e-6) and math.isclose(got_r, want.recall, abs_tol=1e-6):
            continue

        def variant(r_radii, f_radii):  # precision and recall with the given radii
            d = pairwise_distances(fake, real)
            return ((d <= r_radii[None, :]).any(1).float().mean().item(),
                    (d <= f_radii[:, None]).any(0).float().mean().item())

        self_counted = variant(pairwise_distances(real, real).sort(1).values[:, k - 1],
                               pairwise_distances(fake, fake).sort(1).values[:, k - 1])
        d = pairwise_distances(fake, real)  # (fake, real)
        r_radii, f_radii = knn_radii(real, k), knn_radii(fake, k)
        wrong_sets = ((d <= f_radii[:, None]).any(1).float().mean().item(),  # each fake's own radius
                      (d <= r_radii[None, :]).any(0).float().mean().item())  # each real's own radius
        where = f"With {len(real)} real and {len(fake)} fake examples and k = {k}"
        if math.isclose(got_p, want.recall, abs_tol=1e-6) and math.isclose(got_r, want.precision, abs_tol=1e-6):
            raise CheckFailed(f"{where} you returned (recall, precision): precision asks whether the *fake* "
                              f"examples fall inside the real manifold, recall whether the *real* ones fall "
                              f"inside the fake manifold.")
        if math.isclose(got_p, self_counted[0], abs_tol=1e-6) and math.isclose(got_r, self_counted[1], abs_tol=1e-6):
            raise CheckFailed(f"{where} your radii are too small: each example is its own nearest neighbour "
                              f"(distance 0), so the k-th neighbour sits at position k of the sorted distances "
                              f"(position 0 is the example itself).")
        if math.isclose(got_p, wrong_sets[0], abs_tol=1e-6) or math.isclose(got_r, wrong_sets[1], abs_tol=1e-6):
            raise CheckFailed(f"{where} the balls belong to the wrong set: for precision, measure each fake "
                              f"example against the balls around the *real* examples (real radii); for recall, "
                              f"each real example against the balls around the *fake* ones.")
        raise CheckFailed(f"{where} expected precision {want.precision:.3f} and recall {want.recall:.3f}, got "
                          f"{got_p:.3f} and {got_r:.3f}. Radii: distance to the k-th nearest other example of "
                          f"the same set; an example is inside a manifold when it lies within the radius of at "
                          f"least one ball (distance ≤ radius).")
    print("✓ precision and recall match gankit.metrics.precision_recall on every test set.")
