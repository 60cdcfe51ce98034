"""Exercise checks of lesson 11: precision and recall with k-nearest-neighbour manifolds, a
prediction of BLEU for copied names, and what a lower sampling temperature does to novelty."""

from __future__ import annotations

import math
from typing import Callable

import torch

from gankit.checks.core import CheckFailed, run_student, tr
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
            raise CheckFailed(tr("precision_recall should return two numbers (precision, recall), got {out!r}.",
                                 out=out)) from None
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
        n_real, n_fake = len(real), len(fake)
        if math.isclose(got_p, want.recall, abs_tol=1e-6) and math.isclose(got_r, want.precision, abs_tol=1e-6):
            raise CheckFailed(tr("With {n_real} real and {n_fake} fake examples and k = {k} you returned (recall, "
                                 "precision): precision asks whether the *fake* examples fall inside the real "
                                 "manifold, recall whether the *real* ones fall inside the fake manifold.",
                                 n_real=n_real, n_fake=n_fake, k=k))
        if math.isclose(got_p, self_counted[0], abs_tol=1e-6) and math.isclose(got_r, self_counted[1], abs_tol=1e-6):
            raise CheckFailed(tr("With {n_real} real and {n_fake} fake examples and k = {k} your radii are too small: "
                                 "each example is its own nearest neighbour (distance 0), so the k-th neighbour sits "
                                 "at position k of the sorted distances (position 0 is the example itself).",
                                 n_real=n_real, n_fake=n_fake, k=k))
        if math.isclose(got_p, wrong_sets[0], abs_tol=1e-6) or math.isclose(got_r, wrong_sets[1], abs_tol=1e-6):
            raise CheckFailed(tr("With {n_real} real and {n_fake} fake examples and k = {k} the balls belong to the "
                                 "wrong set: for precision, measure each fake example against the balls around the "
                                 "*real* examples (real radii); for recall, each real example against the balls "
                                 "around the *fake* ones.", n_real=n_real, n_fake=n_fake, k=k))
        raise CheckFailed(tr("With {n_real} real and {n_fake} fake examples and k = {k} expected precision "
                             "{precision:.3f} and recall {recall:.3f}, got {got_p:.3f} and {got_r:.3f}. Radii: "
                             "distance to the k-th nearest other example of the same set; an example is inside a "
                             "manifold when it lies within the radius of at least one ball (distance ≤ radius).",
                             n_real=n_real, n_fake=n_fake, k=k, precision=want.precision, recall=want.recall,
                             got_p=got_p, got_r=got_r))
    print(tr("✓ precision and recall match gankit.metrics.precision_recall on every test set."))


# --------------------------------------------------------------------------- predict: BLEU of a copy


def check_bleu_prediction(predicted: float, measured: float, copies_score: float | None = None) -> None:
    """Compare the student's prediction of the BLEU that training names get when scored
    against a reference list that contains them (``predicted``, on sacrebleu's 0–100
    scale) with the ``measured`` score, and explain the result.

    ``copies_score`` is the BLEU the lesson measured for copies scored against references
    that do *not* contain them: predicting that number is the likely mistake."""
    if predicted is Ellipsis or predicted is None:
        raise CheckFailed(tr("predicted_bleu is not written yet: write your prediction (a number from 0 to 100) "
                             "before running the measurement."))
    try:
        predicted = float(predicted)
    except (TypeError, ValueError):
        raise CheckFailed(tr("predicted_bleu should be a number from 0 to 100, got {predicted!r}.",
                             predicted=predicted)) from None
    measured = float(measured)
    why = tr("every character n-gram (n = 1…4) of a name that is itself one of the references is found in that "
             "reference, so all four clipped precisions are 1; and the closest reference length is the name's own, "
             "so the brevity penalty is 1 too: BLEU = 100 · 1 · 1")
    if abs(predicted - measured) <= 1.0:
        print(tr("✓ Predicted {predicted:.1f}, measured {measured:.1f}: {why}. BLEU rewards reproducing its "
                 "references, which is what a memorising model does.", predicted=predicted, measured=measured, why=why))
        return
    if 0.0 < predicted <= 1.0 and abs(100 * predicted - measured) <= 1.0:
        raise CheckFailed(tr("You predicted {predicted:g}: right on a 0–1 scale, but sacrebleu (and this lesson's "
                             "table) reports BLEU from 0 to 100; measured {measured:.1f}.", predicted=predicted,
                             measured=measured))
    if copies_score is not None and abs(predicted - copies_score) <= 3.0:
        raise CheckFailed(tr("You predicted {predicted:.1f}, about what the table gave copies scored against *other* "
                             "training names ({copies_score:.1f}); measured {measured:.1f}. Here each name is one of "
                             "the references: {why}.", predicted=predicted, copies_score=copies_score,
                             measured=measured, why=why))
    raise CheckFailed(tr("You predicted {predicted:.1f}, measured {measured:.1f}. Work it out from the definition: "
                         "{why}.", predicted=predicted, measured=measured, why=why))


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
        raise CheckFailed(tr("cold_temperature, cold_names and cold_novelty are not all written yet: replace the "
                             "`...` with your code."))
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        raise CheckFailed(tr("cold_temperature should be a number, got {temperature!r}.",
                             temperature=temperature)) from None
    if temperature >= 1.0:
        raise CheckFailed(tr("cold_temperature = {temperature:g}: the task is to *lower* the temperature below 1 "
                             "(the model's own distribution). Above 1, sampling spreads out and makes more new names, "
                             "not fewer.", temperature=temperature))
    if temperature <= 0.0:
        raise CheckFailed(tr("cold_temperature = {temperature:g}: at 0 sampling turns into greedy decoding, one and "
                             "the same name {n} times, which measures nothing about sampling. Pick a value between 0.3 "
                             "and 0.8.", temperature=temperature, n=n))
    if not (isinstance(names, (list, tuple)) and all(isinstance(s, str) for s in names)):
        raise CheckFailed(tr("cold_names should be the list of names you sampled (text.sample_texts returns one), got "
                             "{kind}.", kind=type(names).__name__))
    if len(names) != n:
        raise CheckFailed(tr("cold_names holds {count} names; sample n_names = {n}, as many as the temperature-1 "
                             "set, so the two novelties have the same sampling noise.", count=len(names), n=n))
    try:
        novelty = float(novelty)
    except (TypeError, ValueError):
        raise CheckFailed(tr("cold_novelty should be a number (metrics.novelty returns one), got {novelty!r}.",
                             novelty=novelty)) from None
    known = set(training)
    right = sum(s not in known for s in names) / len(names)
    if not math.isclose(novelty, right, abs_tol=1e-9):
        if math.isclose(novelty, 1 - right, abs_tol=1e-9):
            raise CheckFailed(tr("cold_novelty = {novelty:.3f} is the copy rate, the share of names that *are* in the "
                                 "training list; novelty is the share that are not ({right:.3f}).", novelty=novelty,
                                 right=right))
        if math.isclose(novelty, len(set(names)) / len(names), abs_tol=1e-9):
            raise CheckFailed(tr("cold_novelty = {novelty:.3f} is the share of *distinct* names; novelty asks whether "
                                 "each name is absent from the training list: metrics.novelty(cold_names, "
                                 "train_names).", novelty=novelty))
        raise CheckFailed(tr("cold_novelty = {novelty:.3f}, but {right:.3f} of cold_names are not in the training "
                             "list: measure metrics.novelty(cold_names, train_names), against the *training* names.",
                             novelty=novelty, right=right))
    margin = 3 * math.sqrt(_noise(novelty, n) ** 2 + _noise(baseline_novelty, n) ** 2)
    drop = baseline_novelty - novelty
    if drop <= margin:
        raise CheckFailed(tr(
            "At temperature {temperature:g}, {novelty:.1%} of the names are new, against {baseline:.1%} at "
            "temperature 1: a drop of {drop:+.1%}, within three standard errors ({margin:.1%}) of no change. Did you "
            "pass temperature=cold_temperature to text.sample_texts? If you did, lower it further (0.5, say): the "
            "effect is too small to tell from sampling noise.",
            temperature=temperature, novelty=novelty, baseline=baseline_novelty, drop=drop, margin=margin))
    print(tr("✓ Lowering the temperature from 1 to {temperature:g} cut the share of new names from "
             "{baseline:.1%} to {novelty:.1%} (more than three standard errors, {margin:.1%}): "
             "{copies:.1%} of the cold names are copies of training names.", temperature=temperature,
             baseline=baseline_novelty, novelty=novelty, margin=margin, copies=1 - novelty))
