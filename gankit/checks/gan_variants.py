"""Exercise checks of lessons 03 (conditional GAN) and 04 (WGAN-GP) that are not in
:mod:`gankit.checks.gan`.

* lesson 03: predict what the label costs the projection discriminator and what the judge
  says of an untrained generator (:func:`check_label_predictions`); shuffle the labels and
  measure what the generator learns (:func:`check_shuffled_labels`);
* lesson 04: predict the slope of a clipped and of a penalised critic
  (:func:`check_slope_predictions`); change λ and measure the slope the soft penalty
  settles at (:func:`check_lambda_change`).

Each compares the student's number with a measurement made in the lesson, with a tolerance
stated in the check, and names the likely mistake.
"""

from __future__ import annotations


import torch

from gankit.checks.core import CheckFailed, not_written, tr
from gankit.checks.core import student_number as _number

__all__ = ["check_label_predictions", "check_shuffled_labels", "check_slope_predictions", "check_lambda_change"]


# --------------------------------------------------------------------------- lesson 03: predict


def check_label_predictions(predicted_label_params: object, label_params: int,
                            predicted_untrained_agreement: object, untrained_agreement: float,
                            n_classes: int = 10, feature_dim: int = 2352) -> None:
    """Lesson 03's predict exercise. ``predicted_label_params``: how many weights the
    projection discriminator spends on the label (one vector v_y per class, as long as the
    features φ(x): ``n_classes · feature_dim``), against ``label_params`` counted on the
    model. ``predicted_untrained_agreement``: the judge's agreement with the requested digit
    for an untrained generator (chance, 1 / n_classes, when the labels are balanced),
    against ``untrained_agreement`` measured; a share within 0.05 of it passes."""
    params = _number(predicted_label_params, "predicted_label_params")
    agreement = _number(predicted_untrained_agreement, "predicted_untrained_agreement")
    expected = n_classes * feature_dim
    if label_params != expected:  # the lesson's model, not the student's answer, is then off
        raise CheckFailed(tr("The projection discriminator has {label_params:,} label weights, not {n_classes} x "
                             "{feature_dim} = {expected:,}: was D built with conditioning='projection'?",
                             label_params=label_params, n_classes=n_classes, feature_dim=feature_dim,
                             expected=expected))
    if params != label_params:
        hint = {
            feature_dim: tr("that is one vector v_y; there is one per class."),
            n_classes: tr("that is one number per class; each v_y is a vector as long as φ(x)."),
            n_classes * feature_dim + feature_dim: tr("ψ is the unconditional 'is it real?' layer, there without "
                                                      "labels too; count only what the label adds."),
            float(n_classes + feature_dim): tr("the vectors are stacked, not chained: multiply, don't add."),
        }.get(params, tr("D(x, y) = ψ(φ(x)) + <v_y, φ(x)> with φ(x) of {feature_dim} numbers: count the v_y.",
                         feature_dim=feature_dim))
        raise CheckFailed(tr("You predicted {params:,.0f} label weights; the model has {label_params:,}. {hint}",
                             params=params, label_params=label_params, hint=hint))
    if not 0 <= agreement <= 1:
        if 1 < agreement <= 100:
            message = tr("predicted_untrained_agreement should be a share between 0 and 1 (a share: 10 % is 0.1), "
                         "got {agreement:g}.", agreement=agreement)
        else:
            message = tr("predicted_untrained_agreement should be a share between 0 and 1, got {agreement:g}.",
                         agreement=agreement)
        raise CheckFailed(message)
    if abs(agreement - untrained_agreement) > 0.05:
        if agreement < 0.05:
            hint = tr("An untrained G does not listen to y, but the judge still names some digit for every image: "
                      "when it names the requested one by chance, that counts.")
        elif agreement > 0.5:
            hint = tr("Before training, nothing ties G's drawing to y: the label only shifts a random first layer.")
        else:
            hint = tr("Work it out for a generator that ignores y, asked for every digit equally often.")
        raise CheckFailed(tr("You predicted an agreement of {agreement:.0%}; the untrained G measured "
                             "{untrained_agreement:.1%}. {hint}", agreement=agreement,
                             untrained_agreement=untrained_agreement, hint=hint))
    print(tr("✓ Both right. The label costs D {label_params:,} weights ({n_classes} vectors v_y of {feature_dim}), and "
             "a generator that ignores y is right by chance 1 time in {n_classes}: measured {untrained_agreement:.1%}, "
             "predicted {agreement:.0%} (each digit is asked for equally often, so whatever single digit the judge "
             "sees, it matches the request {percent} % of the time).", label_params=label_params, n_classes=n_classes,
             feature_dim=feature_dim, untrained_agreement=untrained_agreement, agreement=agreement,
             percent=100 // n_classes))


# --------------------------------------------------------------------------- lesson 03: change and measure


def check_shuffled_labels(shuffled: object, labels: torch.Tensor, agreement_shuffled: object,
                          agreement_true: float, steps: int) -> None:
    """Lesson 03's change-and-measure exercise: a conditional GAN trained for ``steps`` steps on
    ``(images, shuffled)`` — every image with a label drawn at random from the data's labels —
    against the lesson's run with the true labels after the same number of steps
    (``agreement_true``). Passes when the shuffle broke the pairing (at least 80 % of the
    labels changed, as a random permutation of ten balanced classes does: 90 % on average),
    the shuffled run's agreement is within 0.15 of chance (0.1) and at least 0.2 below the
    true-label run's."""
    if shuffled is Ellipsis or shuffled is None:
        raise not_written("shuffled_labels")
    agreement = _number(agreement_shuffled, "agreement_shuffled")
    if not isinstance(shuffled, torch.Tensor) or shuffled.shape != labels.shape:
        what = tuple(shuffled.shape) if isinstance(shuffled, torch.Tensor) else type(shuffled).__name__
        raise CheckFailed(tr("shuffled_labels should be a tensor of labels like `labels`, shape {shape}; got {what}.",
                             shape=tuple(labels.shape), what=what))
    changed = (shuffled.cpu() != labels.cpu()).float().mean().item()
    if changed < 0.8:
        raise CheckFailed(tr("Only {changed:.0%} of the labels changed: the images still mostly carry their own labels, "
                             "so D can still learn which digit goes with which label. Shuffle the labels alone, "
                             "labels[torch.randperm(len(labels))], not images and labels together.", changed=changed))
    if agreement > 0.25 or agreement_true - agreement < 0.2:
        raise CheckFailed(tr("With shuffled labels the judge agreed on {agreement:.0%} of the samples (true labels, same "
                             "{steps} steps: {agreement_true:.0%}); expected near chance (10 %) and at least 20 points "
                             "below. Was the fresh GAN trained on (real, shuffled_labels), and did you measure *its* "
                             "samples, asked for eval_labels?", agreement=agreement, steps=steps,
                             agreement_true=agreement_true))
    print(tr("✓ After {steps} steps the judge agrees with the request on {agreement_true:.0%} of the samples with the "
             "true labels and {agreement:.0%} with shuffled ones (chance: 10 %). When an image's label says nothing "
             "about it, D cannot reject a mismatched pair, so nothing teaches G to listen to y.", steps=steps,
             agreement_true=agreement_true, agreement=agreement))


# --------------------------------------------------------------------------- lesson 04: predict


def check_slope_predictions(predicted_slope_clip: object, predicted_slope_penalty: object,
                            slope_clip: float, slope_penalty: float) -> None:
    """Lesson 04's predict exercise: the median gradient norm of the critic at the interpolates,
    for the critic with weights clipped to ±0.01 (tolerance 0.05) and for the one trained with
    the gradient penalty, λ = 10 (tolerance 0.15), against the two measured in the lesson."""
    clip = _number(predicted_slope_clip, "predicted_slope_clip")
    penalty = _number(predicted_slope_penalty, "predicted_slope_penalty")
    problems = []
    if abs(clip - slope_clip) > 0.05:
        if clip >= 0.5:
            problems.append(tr("clipped critic: you predicted {clip:.3g}, measured {slope_clip:.2g}. Clipping does not "
                               "aim at slope 1: each weight is at most 0.01 in size, so a layer of fan-in n stretches "
                               "its input by at most about 0.01·n, and four such layers multiply — the slope is a small "
                               "fraction of 1.", clip=clip, slope_clip=slope_clip))
        else:
            problems.append(tr("clipped critic: you predicted {clip:.3g}, measured {slope_clip:.2g}. Multiply the "
                               "largest stretch of each layer (about 0.01 times its fan-in at most) over the four "
                               "layers.", clip=clip, slope_clip=slope_clip))
    if abs(penalty - slope_penalty) > 0.15:
        if penalty < 0.5:
            problems.append(tr("penalised critic: you predicted {penalty:.3g}, measured {slope_penalty:.2f}. The "
                               "penalty (‖∇D‖ − 1)² is smallest at slope 1, not 0, and the critic's own objective "
                               "rewards a steeper slope.", penalty=penalty, slope_penalty=slope_penalty))
        else:
            problems.append(tr("penalised critic: you predicted {penalty:.3g}, measured {slope_penalty:.2f}. With "
                               "λ = 10 the penalty dominates: the slope settles close to the value the penalty asks "
                               "for.", penalty=penalty, slope_penalty=slope_penalty))
    if problems:
        raise CheckFailed(tr("Not quite. {problems}", problems=" ".join(problems)))
    print(tr("✓ Predicted {clip:.3g} and {penalty:.3g}; measured {slope_clip:.2g} (clipped) and {slope_penalty:.2f} "
             "(penalised). Clipping bounds the slope from above by something tiny; the penalty pulls it to 1.",
             clip=clip, penalty=penalty, slope_clip=slope_clip, slope_penalty=slope_penalty))


# --------------------------------------------------------------------------- lesson 04: change and measure


def check_lambda_change(my_lambda: object, slope: object, estimate: object, true_w1: float,
                        default_lambda: float = 10.0) -> None:
    """Lesson 04's change-and-measure exercise: a lone critic trained with the penalty weight
    ``my_lambda`` (0.1 ≤ λ ≤ 100, not the default) has median slope ``slope`` at the
    interpolates and estimate ``estimate`` of W1. The soft penalty's optimum — a critic s
    times a slope-1 critic gains s·W1 and pays λ(s − 1)², so s = 1 + W1 / (2λ) — must
    match both within 15 % (slope ≈ s, estimate ≈ s·W1)."""
    lam = _number(my_lambda, "my_lambda")
    s = _number(slope, "slope_new")
    est = _number(estimate, "estimate_new")
    if lam == default_lambda:
        raise CheckFailed(tr("my_lambda is still the default {default_lambda:g}: change it (try 1 or 0.3) and measure.",
                             default_lambda=default_lambda))
    if not 0.1 <= lam <= 100:
        raise CheckFailed(tr("Pick my_lambda between 0.1 and 100 (got {lam:g}): below 0.1 the critic needs far more "
                             "than the lesson's 400 steps to reach its optimum (with λ = 0 it has none: it grows "
                             "steeper forever).", lam=lam))
    theory = 1 + true_w1 / (2 * lam)
    default_theory = 1 + true_w1 / (2 * default_lambda)
    if abs(s - theory) > 0.15 * theory:
        if abs(s - default_theory) <= 0.15 * default_theory and abs(theory - default_theory) > 0.3 * default_theory:
            hint = tr("that is the slope the default λ = {default_lambda:g} gives ({default_theory:.2f}): was the new "
                      "critic trained with lam=my_lambda?", default_lambda=default_lambda, default_theory=default_theory)
        else:
            hint = tr("measure the median of the per-example gradient norms at the interpolates of the *new* critic, "
                      "on eval_real and eval_fake.")
        raise CheckFailed(tr("With λ = {lam:g} the soft penalty predicts slope 1 + W1/(2λ) = {theory:.2f}; measured "
                             "{s:.2f}: {hint}", lam=lam, theory=theory, s=s, hint=hint))
    if abs(est - theory * true_w1) > 0.15 * theory * true_w1:
        raise CheckFailed(tr("The slope {s:.2f} matches 1 + W1/(2λ) = {theory:.2f}, but the estimate "
                             "E[D(x)] − E[D(x̃)] = {est:.3f} is not about slope × W1 = {expected:.3f}: compute it "
                             "on eval_real and eval_fake with the new critic.", s=s, theory=theory, est=est,
                             expected=theory * true_w1))
    if lam < default_lambda:
        print(tr("✓ λ = {lam:g}: slope {s:.2f} (1 + W1/(2λ) = {theory:.2f}), estimate {est:.3f} = {ratio:.2f} x W1. "
                 "A weaker penalty leaves the critic steeper than at λ = {default_lambda:g}, and its 'distance' is "
                 "inflated by the same factor: the estimate is W1 only up to the slope the penalty allows.", lam=lam, s=s,
                 theory=theory, est=est, ratio=est / true_w1, default_lambda=default_lambda))
    else:
        print(tr("✓ λ = {lam:g}: slope {s:.2f} (1 + W1/(2λ) = {theory:.2f}), estimate {est:.3f} = {ratio:.2f} x W1. "
                 "A stronger penalty holds the critic closer to slope 1 than at λ = {default_lambda:g}, and its "
                 "'distance' is inflated by that smaller factor: the estimate is W1 only up to the slope the penalty "
                 "allows.", lam=lam, s=s,
                 theory=theory, est=est, ratio=est / true_w1, default_lambda=default_lambda))
