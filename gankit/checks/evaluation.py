"""Exercise checks of lesson 11: precision and recall with k-nearest-neighbour manifolds, a
prediction of BLEU for copied names, and what a lower sampling temperature does to novelty."""

from __future__ import annotations

import math
from typing import Callable

import torch

from gankit.checks.core import CheckFailed, run_student
from gankit.metrics import knn_radii, pairwise_distances, precision_recall

__all__ = ["check_precision_recall", "check_bleu_prediction", "check_cold_names_novelty"]


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


# --------------------------------------------------------------------------- predict: BLEU of a copy


def check_bleu_prediction(predicted: float, measured: float, copies_score: float | None = None) -> None:
    """Compare the student's prediction of the BLEU that training names get when scored
    against a reference list that contains them (``predicted``, on sacrebleu's 0–100
    scale) with the ``measured`` score, and explain the result.

    ``copies_score`` is the BLEU the lesson measured for copies scored against references
    that do *not* contain them: predicting that number is the likely mistake."""
    if predicted is Ellipsis or predicted is None:
        raise CheckFailed("predicted_bleu is not written yet: write your prediction (a number from 0 to 100) "
                          "before running the measurement.")
    try:
        predicted = float(predicted)
    except (TypeError, ValueError):
        raise CheckFailed(f"predicted_bleu should be a number from 0 to 100, got {predicted!r}.") from None
    measured = float(measured)
    why = ("every character n-gram (n = 1…4) of a name that is itself one of the references is found in that "
           "reference, so all four clipped precisions are 1; and the closest reference length is the name's own, "
           "so the brevity penalty is 1 too: BLEU = 100 · 1 · 1")
    if abs(predicted - measured) <= 1.0:
        print(f"✓ Predicted {predicted:.1f}, measured {measured:.1f}: {why}. BLEU rewards reproducing its "
              f"references, which is what a memorising model does.")
        return
    if 0.0 < predicted <= 1.0 and abs(100 * predicted - measured) <= 1.0:
        raise CheckFailed(f"You predicted {predicted:g}: right on a 0–1 scale, but sacrebleu (and this lesson's "
                          f"table) reports BLEU from 0 to 100; measured {measured:.1f}.")
    if copies_score is not None and abs(predicted - copies_score) <= 3.0:
        raise CheckFailed(f"You predicted {predicted:.1f}, about what the table gave copies scored against *other* "
                          f"training names ({copies_score:.1f}); measured {measured:.1f}. Here each name is one of "
                          f"the references: {why}.")
    raise CheckFailed(f"You predicted {predicted:.1f}, measured {measured:.1f}. Work it out from the definition: "
                      f"{why}.")


# --------------------------------------------------------------------------- change and measure: temperature


def _noise(p: float, n: int) -> float:
    """Standard error of a share p measured on n names."""
    return math.sqrt(max(p * (1 - p), 1e-4) / n)


def check_cold_names_novelty(temperature: float, names: list[str], novelty: float, baseline_novelty: float,
                              training: list[str], n: int) -> None:
    """Check the change-and-measure exercise of lesson 11: sample ``n`` names at a
    ``temperature`` below 1, measure their ``novelty`` (the share not in ``training``), and
    compare with ``baseline_novelty``, the novelty of the temperature-1 names. The drop must
    exceed three standard errors of the difference, so a run that did not lower the
    temperature (or measured the wrong thing) fails."""
    if any(v is Ellipsis for v in (temperature, names, novelty)):
        raise CheckFailed("cold_temperature, cold_names and cold_novelty are not all written yet: replace the "
                          "`...` with your code.")
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        raise CheckFailed(f"cold_temperature should be a number, got {temperature!r}.") from None
    if temperature >= 1.0:
        raise CheckFailed(f"cold_temperature = {temperature:g}: the task is to *lower* the temperature below 1 "
                          f"(the model's own distribution). Above 1, sampling spreads out and makes more new names, "
                          f"not fewer.")
    if temperature <= 0.0:
        raise CheckFailed(f"cold_temperature = {temperature:g}: at 0 sampling turns into greedy decoding, one and the "
                          f"same name {n} times, which measures nothing about sampling. Pick a value between 0.3 "
                          f"and 0.8.")
    if not (isinstance(names, (list, tuple)) and all(isinstance(s, str) for s in names)):
        raise CheckFailed(f"cold_names should be the list of names you sampled (text.sample_texts returns one), got "
                          f"{type(names).__name__}.")
    if len(names) != n:
        raise CheckFailed(f"cold_names holds {len(names)} names; sample n_names = {n}, as many as the temperature-1 "
                          f"set, so the two novelties have the same sampling noise.")
    try:
        novelty = float(novelty)
    except (TypeError, ValueError):
        raise CheckFailed(f"cold_novelty should be a number (metrics.novelty returns one), got {novelty!r}.") from None
    known = set(training)
    right = sum(s not in known for s in names) / len(names)
    if not math.isclose(novelty, right, abs_tol=1e-9):
        if math.isclose(novelty, 1 - right, abs_tol=1e-9):
            raise CheckFailed(f"cold_novelty = {novelty:.3f} is the copy rate, the share of names that *are* in the "
                              f"training list; novelty is the share that are not ({right:.3f}).")
        if math.isclose(novelty, len(set(names)) / len(names), abs_tol=1e-9):
            raise CheckFailed(f"cold_novelty = {novelty:.3f} is the share of *distinct* names; novelty asks whether "
                              f"each name is absent from the training list: metrics.novelty(cold_names, train_names).")
        raise CheckFailed(f"cold_novelty = {novelty:.3f}, but {right:.3f} of cold_names are not in the training list: "
                          f"measure metrics.novelty(cold_names, train_names), against the *training* names.")
    margin = 3 * math.sqrt(_noise(novelty, n) ** 2 + _noise(baseline_novelty, n) ** 2)
    drop = baseline_novelty - novelty
    if drop <= margin:
        raise CheckFailed(
            f"At temperature {temperature:g}, {novelty:.1%} of the names are new, against {baseline_novelty:.1%} at "
            f"temperature 1: a drop of {drop:+.1%}, within three standard errors ({margin:.1%}) of no change. Did you "
            f"pass temperature=cold_temperature to text.sample_texts? If you did, lower it further (0.5, say): the "
            f"effect is too small to tell from sampling noise."
        )
    print(f"✓ Lowering the temperature from 1 to {temperature:g} cut the share of new names from "
          f"{baseline_novelty:.1%} to {novelty:.1%} (more than three standard errors, {margin:.1%}): "
          f"{1 - novelty:.1%} of the cold names are copies of training names.")
