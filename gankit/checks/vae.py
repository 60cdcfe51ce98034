"""Exercise checks of the VAE lessons: the negative ELBO (lesson 06) and style transfer with a
conditional VAE (lesson 07)."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.checks.core import CheckFailed, call_loss, diagnose, not_written, run_student, tr
from gankit.utils import eval_mode

__all__ = ["check_negative_elbo", "check_elbo_terms_prediction", "check_pixel_mean_beta", "check_style_transfer",
           "check_ignoring_decoders_prediction", "check_beta_listens"]


def check_negative_elbo(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(logits, x, mu, logvar)`` = the VAE's loss with a Bernoulli decoder: the
    batch mean of −ELBO = −log p(x|z) + KL(q(z|x) ‖ N(0, I)), each term summed over the
    image's pixels (or the latent dimensions), in nats per image."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 4, 4, generator=gen).requires_grad_(True)  # 16 pixels per image
    x = (torch.rand(3, 1, 4, 4, generator=gen) > 0.5).float()
    mu = torch.randn(3, 2, generator=gen).requires_grad_(True)
    logvar = (0.5 * torch.randn(3, 2, generator=gen)).requires_grad_(True)
    a, m, lv = logits.detach(), mu.detach(), logvar.detach()
    bce = F.binary_cross_entropy_with_logits(a, x, reduction="none").flatten(1)  # (B, D)
    kl_terms = 0.5 * (m ** 2 + lv.exp() - 1 - lv)  # (B, L)
    recon, kl = bce.sum(1), kl_terms.sum(1)  # (B,) each
    expected = float((recon + kl).mean())

    got = call_loss(fn, logits, x, mu, logvar, name="Your negative ELBO")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-4):
        hint = diagnose(got, {
            tr("The sign is flipped: return the NEGATIVE ELBO (reconstruction error + KL), which training minimises."):
                -expected,
            tr("It looks like the KL was subtracted: −ELBO = −log p(x|z) + KL, both terms positive."):
                float((recon - kl).mean()),
            tr("The KL term is missing: without it this is a plain autoencoder's loss."): float(recon.mean()),
            tr("The reconstruction term is averaged over pixels: sum −log p(x|z) over each image's pixels "
               "(reduction='none', then .flatten(1).sum(1)), so that it is a log-likelihood of the whole image."):
                float((bce.mean(1) + kl).mean()),
            tr("It looks like a sum over the batch: take the mean over the images, so the loss is in nats per image."):
                float((recon + kl).sum()),
            tr("The KL is averaged over the latent dimensions: sum it over them, like the pixels."):
                float((recon + kl_terms.mean(1)).mean()),
            tr("The KL misses its factor ½: KL = ½ Σ (μ² + σ² − 1 − log σ²)."): float((recon + 2 * kl).mean()),
            tr("It looks like σ = exp(½ logvar) was used where σ² = exp(logvar) belongs."):
                float((recon + 0.5 * (m ** 2 + (0.5 * lv).exp() - 1 - lv).sum(1)).mean()),
            tr("The sign of log σ² in the KL is flipped: KL = ½ Σ (μ² + σ² − 1 − log σ²)."):
                float((recon + 0.5 * (m ** 2 + lv.exp() - 1 + lv).sum(1)).mean()),
        }, fallback=tr("Check it term by term: recon = binary_cross_entropy_with_logits(logits, x, reduction='none') "
                       "summed over each image's pixels; kl = ½ Σ_j (μ_j² + exp(logvar_j) − 1 − logvar_j) per image; "
                       "return (recon + kl).mean()."))
        raise CheckFailed(tr("Negative ELBO: expected {expected:.4f} nats per image, got {got:.4f}. {hint}",
                             expected=expected, got=got, hint=hint))
    print(tr("✓ Negative ELBO correct ({got:.3f} nats per image on the test batch: reconstruction summed over pixels, "
             "KL in closed form, averaged over images).", got=got))
def check_style_transfer(fn: Callable, model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> None:
    """Check ``fn(model, x, source_labels, target_labels)``: style transfer with a
    conditional VAE — encode ``x`` with its own labels, keep the mean code μ(x, y), decode
    it with the target labels, and return the mean images sigmoid(logits) in [0, 1].
    ``model`` is a trained :class:`gankit.models.ConditionalVAE`; ``x``, ``labels`` a few
    held-out digits and their labels."""
    n_classes = model.config.n_classes
    source = torch.as_tensor(labels).long().cpu()
    target = (source + 1 + torch.arange(len(source)) % (n_classes - 1)) % n_classes  # another digit for each image
    device = next(model.parameters()).device
    out = run_student(fn, "style_transfer", model, x.to(device), source.to(device), target.to(device))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(tr("style_transfer should return images of the same shape as x, {expected}; got {shape}.",
                             expected=tuple(x.shape), shape=shape))
    got = out.detach().float().cpu()
    expected = model.style_transfer(x, source, target)
    if torch.allclose(got, expected, atol=1e-4):
        print(tr("✓ Style transfer correct: z = μ(x, y_source) from the encoder, decoded with y_target, as images in "
                 "[0, 1]."))
        return

    with eval_mode(model):
        with torch.no_grad():
            mu_source, _ = model.encode(x.to(device), source.to(device))
            mu_target, _ = model.encode(x.to(device), target.to(device))
            candidates = {
                tr("These are reconstructions: the code was decoded with the source labels. Decode it with "
                   "target_labels."):
                    model.decode_image(mu_source, source),
                tr("The image was encoded with the target labels. Encode it with its own (source) labels: the encoder "
                   "reads the style of a digit it is told it sees; decode with the target labels."):
                    model.decode_image(mu_target, target),
                tr("These look like logits, not images: pass the decoder's output through torch.sigmoid "
                   "(or model.logits_to_image) to get the mean image in [0, 1]."):
                    model.decode(mu_source, target.to(device)).float().cpu(),
            }
    for hint, value in candidates.items():
        if value.shape == got.shape and torch.allclose(got, value, atol=1e-4):
            raise CheckFailed(tr("Style transfer: {hint}", hint=hint))
    if got.min() < 0 or got.max() > 1:
        raise CheckFailed(tr("style_transfer should return images in [0, 1] (the decoder's mean image, sigmoid of the "
                             "logits); got values from {low:.2f} to {high:.2f}.", low=float(got.min()),
                             high=float(got.max())))
    again = fn(model, x.to(device), source.to(device), target.to(device)).detach().float().cpu()
    if not torch.allclose(again, got, atol=1e-6):
        raise CheckFailed(tr("Style transfer: the result changes from call to call: it looks like a random "
                             "code z = μ + σ·ε was decoded. For style transfer keep the mean code μ (the encoder's "
                             "best guess of the style), so the same input always gives the same image."))
    raise CheckFailed(tr("Style transfer: the images differ from decoding μ(x, y_source) with y_target. Step by step: "
                         "mu, logvar = model.encode(x, source_labels); logits = model.decode(mu, target_labels); "
                         "return torch.sigmoid(logits)."))


# --------------------------------------------------------------------------- lesson 06, predict: two terms by hand

def _number(value, name: str) -> float:
    """A student's predicted or chosen number as a float, or a CheckFailed that says what came."""
    if value is Ellipsis:
        raise not_written(name)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CheckFailed(tr("{name} should be one finite number (a Python float), got {value!r}.", name=name,
                             value=value))
    return float(value)


def check_elbo_terms_prediction(predicted_half_decoder, predicted_kl, measured_half_decoder: float,
                                measured_kl: float, n_pixels: int = 784) -> None:
    """Lesson 06's prediction: −ELBO of a decoder that says ½ for every one of ``n_pixels``
    binary pixels, with q equal to the prior (so KL = 0), and the KL of q = N((1, 0), diag(4, 1))
    from N(0, I). Compares the student's two predictions with what their ``negative_elbo``
    measured, and names the usual slip (bits for nats, per pixel for per image, a lost ½, …)."""
    half = _number(predicted_half_decoder, "predicted_half_decoder")
    kl = _number(predicted_kl, "predicted_kl")
    exact_half = n_pixels * math.log(2)
    exact_kl = 0.5 * (1 + 4 - 1 - math.log(4))
    if not (math.isclose(measured_half_decoder, exact_half, rel_tol=1e-3)
            and math.isclose(measured_kl, exact_kl, rel_tol=1e-3, abs_tol=1e-3)):
        raise CheckFailed(tr(
            "The measurement itself is off: your negative_elbo gave {measured_half_decoder:.2f} and a KL of "
            "{measured_kl:.3f} where the formulas give {exact_half:.2f} and {exact_kl:.3f}. Did negative_elbo "
            "change after its check passed, or did the measuring cell change?",
            measured_half_decoder=measured_half_decoder, measured_kl=measured_kl, exact_half=exact_half,
            exact_kl=exact_kl))
    print(tr("measured with your negative_elbo: decoder saying ½ everywhere {measured_half_decoder:.2f} nats per "
             "image; KL of N((1, 0), diag(4, 1)) from N(0, I) {measured_kl:.4f} nats",
             measured_half_decoder=measured_half_decoder, measured_kl=measured_kl))
    problems = []
    if not math.isclose(half, measured_half_decoder, rel_tol=0.01):
        problems.append(diagnose(half, {
            tr("{half:g} is one pixel's share, log 2 ≈ 0.693 nats: the image's log-probability sums over all "
               "{n_pixels} pixels.", half=half, n_pixels=n_pixels): math.log(2),
            tr("{half:g} is {n_pixels} · log₂ 2 = {n_pixels} bits; the loss uses the natural log, so the unit is "
               "nats: {n_pixels} · ln 2.", half=half, n_pixels=n_pixels): float(n_pixels),
            tr("{half:g} is {n_pixels} · ½, a sum of probabilities; the likelihood multiplies them, so its log "
               "sums log ½ = −0.693 per pixel.", half=half, n_pixels=n_pixels): n_pixels / 2,
            tr("The sign is flipped: log p(x|z) = 784 · log ½ is negative, and −ELBO (what the function returns) is "
               "minus that, a positive number of nats."): -exact_half,
            tr("{half:g} is {n_pixels} · log₁₀ 2; the loss uses the natural log (nats).", half=half,
               n_pixels=n_pixels): n_pixels * math.log10(2),
        }, fallback=tr("Each pixel is 0 or 1 and the decoder gives it probability ½ either way, so every pixel "
                       "costs −log ½ = log 2 nats; the image has {n_pixels} of them, and the KL is 0 because q "
                       "is the prior itself.", n_pixels=n_pixels)))
    if not math.isclose(kl, measured_kl, rel_tol=0.02, abs_tol=0.01):
        problems.append(diagnose(kl, {
            tr("The ½ in front is missing: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)."): 2 * exact_kl,
            tr("It looks like σ = 2 went in where σ² = 4 belongs (or log σ instead of log σ²)."):
                0.5 * (1 + 2 - 1 - math.log(2)),
            tr("The μ² term is missing: μ = (1, 0) is away from the prior's mean, which costs ½ μ² = ½ nat."):
                0.5 * (4 - 1 - math.log(4)),
            tr("The sign of log σ² is flipped: the term is − log σ², so a wide q (σ² = 4) pays less than σ² alone."):
                0.5 * (1 + 4 - 1 + math.log(4)),
            tr("The second dimension (μ = 0, σ² = 1) costs nothing, but the first is not free: you left out its "
               "σ² − 1 − log σ² part."): 0.5,
            tr("log₁₀ 4 was used: the KL in nats uses the natural log."): 0.5 * (1 + 4 - 1 - math.log10(4)),
        }, fallback=tr("Term by term over the two dimensions: ½ (μ² + σ² − 1 − log σ²) is ½ (1 + 4 − 1 − ln 4) for "
                       "the first and ½ (0 + 1 − 1 − 0) = 0 for the second.")))
    if problems:
        raise CheckFailed(tr("Prediction off. {problems}", problems=" ".join(problems)))
    print(tr("✓ Both predictions right: a decoder that says ½ everywhere pays ln 2 per pixel, {exact_half:.1f} nats per "
             "image, whatever the image — the score any trained model must beat; and q = N((1, 0), diag(4, 1)) costs "
             "½ for its shifted mean plus {width:.3f} for its width.", exact_half=exact_half, width=exact_kl - 0.5))


# --------------------------------------------------------------------------- lesson 06, change and measure: the pixel mean

def check_pixel_mean_beta(beta_pixel_mean, run: Callable[[float], dict], table: list[tuple],
                          n_pixels: int = 784) -> None:
    """Lesson 06's change-and-measure exercise. Averaging −log p(x|z) over the ``n_pixels``
    pixels instead of summing it, and adding the KL, is ``(recon + n_pixels · KL) / n_pixels``:
    the β-VAE loss with β = ``n_pixels``, divided by a constant that Adam's step ignores.
    ``run(beta)`` trains the lesson's β-table model with that β and returns
    :func:`gankit.train.evaluate_vae`'s figures; ``table`` holds the table's rows
    ``(β, recon, KL, −ELBO)``. Passes when the student's β is that weight and the run shows
    the collapse the pitfall promises: the code carries under 1 nat, reconstructions worse
    than every row of the table."""
    beta = _number(beta_pixel_mean, "beta_pixel_mean")
    if beta < 0:
        raise CheckFailed(tr("beta_pixel_mean is a weight on the KL, ≥ 0; got {beta:g}.", beta=beta))
    stats = run(beta)
    print(tr("β = {beta:g}: −log p(x|z) {recon:.1f}, KL {kl:.2f}, −ELBO {nelbo:.1f} (test digits, nats per image); "
             "the table's rows: {rows}", beta=beta, recon=stats["recon"], kl=stats["kl"], nelbo=stats["nelbo"],
             rows=", ".join(f"β = {b:g}: {r:.1f} + {k:.1f}" for b, r, k, _ in table)))
    if not math.isclose(beta, n_pixels, rel_tol=0.01):
        hint = diagnose(beta, {
            tr("β = 1/{n_pixels} weakens the KL. Averaging shrinks the reconstruction term by {n_pixels}, so "
               "compared with it the KL weighs {n_pixels} times MORE: β = {n_pixels}.", n_pixels=n_pixels): 1 / n_pixels,
            tr("β = 1 is the summed ELBO. Write the averaged loss as (Σ pixels + {n_pixels} · KL) / {n_pixels}: "
               "which weight does the KL carry against the sum?", n_pixels=n_pixels): 1.0,
            tr("{beta:g} is the image's side; the mean runs over all {n_pixels} = 28 × 28 pixels.", beta=beta,
               n_pixels=n_pixels): math.sqrt(n_pixels),
        }, fallback=tr("The averaged loss is (1/{n_pixels}) Σ_pixels (−log p) + KL = (Σ_pixels (−log p) + "
                       "{n_pixels} · KL) / {n_pixels}. Adam barely notices the overall factor 1/{n_pixels}, so only "
                       "the weight on the KL inside the bracket matters.", n_pixels=n_pixels))
        raise CheckFailed(tr("beta_pixel_mean = {beta:g} is not the weight the averaged loss puts on the KL. {hint}",
                             beta=beta, hint=hint))
    worst_recon = max(r for _, r, _, _ in table)
    if not (stats["kl"] < 1.0 and stats["recon"] > worst_recon):
        raise CheckFailed(tr(
            "β = {beta:g} is the right weight, but this run did not collapse: KL {kl:.2f} nats (expected "
            "below 1) and −log p(x|z) {recon:.1f} (expected worse than every row of the table, the worst "
            "being {worst_recon:.1f}). Was the run shorter than the table's, or the model changed?",
            beta=beta, kl=stats["kl"], recon=stats["recon"], worst_recon=worst_recon))
    print(tr("✓ Collapse measured: with the reconstruction averaged over pixels the code carries {kl:.2f} nats, "
             "and the decoder draws nearly the same blur for every digit ({recon:.1f} nats against "
             "{worst_recon:.1f} for the worst row of the table). Sum over pixels.", kl=stats["kl"],
             recon=stats["recon"], worst_recon=worst_recon))


# --------------------------------------------------------------------------- lesson 07, predict: two decoders that ignore half their input

def check_ignoring_decoders_prediction(predicted_ignores_label, predicted_ignores_code,
                                       measured_ignores_label: float, measured_ignores_code: float,
                                       n_classes: int = 10) -> None:
    """Lesson 07's prediction: the style-transfer agreement (every held-out digit written as
    each of the ``n_classes`` labels, judged) of a decoder that ignores the target label and
    redraws the source (exactly 1/n_classes: of the ten targets of a source, one is the digit
    the judge sees), and of one that ignores the code and draws each label's typical digit
    (close to the judge's accuracy). Compares the student's predictions with the measurements."""
    label = _number(predicted_ignores_label, "predicted_ignores_label")
    code = _number(predicted_ignores_code, "predicted_ignores_code")
    chance = 1 / n_classes
    if not math.isclose(measured_ignores_label, chance, abs_tol=1e-6):
        raise CheckFailed(tr("The measurement of the label-ignoring decoder should be exactly {chance:g} (got "
                             "{measured_ignores_label:.4f}): did the measuring cell change?", chance=chance,
                             measured_ignores_label=measured_ignores_label))
    print(tr("measured: ignores the label {measured_ignores_label:.1%}, ignores the code {measured_ignores_code:.1%}",
             measured_ignores_label=measured_ignores_label, measured_ignores_code=measured_ignores_code))
    problems = []
    if not math.isclose(label, measured_ignores_label, abs_tol=0.02):
        problems.append(diagnose(label, {
            tr("Ignoring the label is not scored 0: each source is asked for all ten digits, its own among them, "
               "and the redrawn source matches that one."): 0.0,
            tr("A percentage was given where a share 0–1 belongs (write 0.1, not 10)."): 100 * chance,
            tr("Redrawing the source looks like a good digit, but the judge compares it with the digit ASKED for, "
               "and nine of the ten targets are other digits."): 1.0,
            tr("Nine of ten targets are other digits, so the redrawn source matches the asked-for digit in ONE "
               "of ten, not nine."): 1 - chance,
        }, fallback=tr("For one source, the ten targets are 0 … 9. The redrawn source is one digit, say a 3, and "
                       "only the target 3 matches it: one in {n_classes}, whatever the model.", n_classes=n_classes)))
    if not math.isclose(code, measured_ignores_code, abs_tol=0.15):
        problems.append(diagnose(code, {
            tr("A decoder that ignores the code still reads the label: it draws the asked-for digit, in one "
               "average handwriting, and the judge reads a typical digit easily."): chance,
            tr("A percentage was given where a share 0–1 belongs."): 100 * measured_ignores_code,
        }, fallback=tr("It draws the asked-for digit every time, in one typical handwriting: the judge reads "
                       "almost all of them as asked. High agreement, no style transferred.")))
    if problems:
        raise CheckFailed(tr("Prediction off. {problems}", problems=" ".join(problems)))
    print(tr("✓ Both predictions right. A decoder that ignores the label scores exactly {chance:.0%}; one that ignores "
             "the code scores about as well as a perfect transfer — agreement alone cannot tell style transfer from "
             "no transfer at all, which is why section 7 reads it next to the reconstruction and the KL.",
             chance=chance))


# --------------------------------------------------------------------------- lesson 07, change and measure: β for a roomy code

def check_beta_listens(beta_16, run: Callable[[float], dict], target: float = 0.9, min_kl: float = 1.0) -> None:
    """Lesson 07's change-and-measure exercise. ``run(beta)`` trains the lesson's conditional
    VAE with a 16-number code and weight ``beta`` on the KL (a short run, the same for every
    β) and returns ``{"agreement", "recon", "kl"}`` on the held-out digits. Passes when the
    student's β makes the roomy code's decoder listen to the label (agreement ≥ ``target`` and
    at least 0.1 above β = 1's, in the same run) while the code still carries ≥ ``min_kl``
    nats (not collapsed: a collapsed code scores high agreement and transfers no style)."""
    beta = _number(beta_16, "beta_16")
    if beta < 0:
        raise CheckFailed(tr("beta_16 is a weight on the KL, ≥ 0; got {beta:g}.", beta=beta))
    base, mine = run(1.0), run(beta)
    for b, r in ((1.0, base), (beta, mine)):
        print(tr("latent 16, β = {beta:g}: agreement {agreement:.1%}, −log p(x|z, y) {recon:.1f}, KL {kl:.2f} "
                 "nats per image", beta=b, agreement=r["agreement"], recon=r["recon"], kl=r["kl"]))
    if beta == 1:
        raise CheckFailed(tr(
            "β = {beta:g} makes the code's nats no dearer than the ELBO's: the code then has every reason to learn "
            "the digit. Raise β above 1 so that every nat in z costs more.", beta=beta))
    if beta < 1:
        raise CheckFailed(tr(
            "β = {beta:g} makes the code's nats cheaper than the ELBO's: the code then has every reason to learn "
            "the digit. Raise β above 1 so that every nat in z costs more.", beta=beta))
    if mine["kl"] < min_kl:
        raise CheckFailed(tr(
            "β = {beta:g} collapsed the code: it carries {kl:.2f} nats (under {min_kl:g}). Agreement "
            "{agreement:.1%} is then the pitfall of the prediction above — a decoder that ignores z — and "
            "no style is transferred. Take a smaller β.", beta=beta, kl=mine["kl"], min_kl=min_kl,
            agreement=mine["agreement"]))
    if mine["agreement"] < target or mine["agreement"] < base["agreement"] + 0.1:
        raise CheckFailed(tr(
            "β = {beta:g} lifts agreement from {base_agreement:.1%} to {agreement:.1%}; the goal is at least "
            "{target:.0%} and 10 points above β = 1. A larger β makes the code dearer still.", beta=beta,
            base_agreement=base["agreement"], agreement=mine["agreement"], target=target))
    print(tr("✓ With β = {beta:g}, the 16-number code carries {kl:.1f} nats instead of {base_kl:.1f}, and the "
             "decoder listens to the label again: agreement {base_agreement:.1%} → {agreement:.1%}. The price "
             "is reconstruction ({base_recon:.1f} → {recon:.1f} nats): a dearer code keeps less handwriting.",
             beta=beta, kl=mine["kl"], base_kl=base["kl"], base_agreement=base["agreement"],
             agreement=mine["agreement"], base_recon=base["recon"], recon=mine["recon"]))
