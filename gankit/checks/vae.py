"""Exercise checks of the VAE lessons: the negative ELBO (lesson 06) and style transfer with a
conditional VAE (lesson 07)."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.checks.core import CheckFailed, call_loss, diagnose, run_student
from gankit.utils import eval_mode

__all__ = ["check_negative_elbo", "check_style_transfer"]


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
            "The sign is flipped: return the NEGATIVE ELBO (reconstruction error + KL), which training minimises.":
                -expected,
            "It looks like the KL was subtracted: −ELBO = −log p(x|z) + KL, both terms positive.":
                float((recon - kl).mean()),
            "The KL term is missing: without it this is a plain autoencoder's loss.": float(recon.mean()),
            "The reconstruction term is averaged over pixels: sum −log p(x|z) over each image's pixels (reduction='none', "
            "then .flatten(1).sum(1)), so that it is a log-likelihood of the whole image.":
                float((bce.mean(1) + kl).mean()),
            "It looks like a sum over the batch: take the mean over the images, so the loss is in nats per image.":
                float((recon + kl).sum()),
            "The KL is averaged over the latent dimensions: sum it over them, like the pixels.":
                float((recon + kl_terms.mean(1)).mean()),
            "The KL misses its factor ½: KL = ½ Σ (μ² + σ² − 1 − log σ²).": float((recon + 2 * kl).mean()),
            "It looks like σ = exp(½ logvar) was used where σ² = exp(logvar) belongs.":
                float((recon + 0.5 * (m ** 2 + (0.5 * lv).exp() - 1 - lv).sum(1)).mean()),
            "The sign of log σ² in the KL is flipped: KL = ½ Σ (μ² + σ² − 1 − log σ²).":
                float((recon + 0.5 * (m ** 2 + lv.exp() - 1 + lv).sum(1)).mean()),
        }, fallback="Check it term by term: recon = binary_cross_entropy_with_logits(logits, x, reduction='none') "
                    "summed over each image's pixels; kl = ½ Σ_j (μ_j² + exp(logvar_j) − 1 − logvar_j) per image; "
                    "return (recon + kl).mean().")
        raise CheckFailed(f"Negative ELBO: expected {expected:.4f} nats per image, got {got:.4f}. {hint}")
    print(f"✓ Negative ELBO correct ({got:.3f} nats per image on the test batch: reconstruction summed over pixels, "
          f"KL in closed form, averaged over images).")
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
        raise CheckFailed(f"style_transfer should return images of the same shape as x, {tuple(x.shape)}; got {shape}.")
    got = out.detach().float().cpu()
    expected = model.style_transfer(x, source, target)
    if torch.allclose(got, expected, atol=1e-4):
        print("✓ Style transfer correct: z = μ(x, y_source) from the encoder, decoded with y_target, as images in [0, 1].")
        return

    with eval_mode(model):
        with torch.no_grad():
            mu_source, _ = model.encode(x.to(device), source.to(device))
            mu_target, _ = model.encode(x.to(device), target.to(device))
            candidates = {
                "These are reconstructions: the code was decoded with the source labels. Decode it with target_labels.":
                    model.decode_image(mu_source, source),
                "The image was encoded with the target labels. Encode it with its own (source) labels: the encoder "
                "reads the style of a digit it is told it sees; decode with the target labels.":
                    model.decode_image(mu_target, target),
                "These look like logits, not images: pass the decoder's output through torch.sigmoid "
                "(or model.logits_to_image) to get the mean image in [0, 1].":
                    model.decode(mu_source, target.to(device)).float().cpu(),
            }
    for hint, value in candidates.items():
        if value.shape == got.shape and torch.allclose(got, value, atol=1e-4):
            raise CheckFailed(f"Style transfer: {hint}")
    if got.min() < 0 or got.max() > 1:
        raise CheckFailed("style_transfer should return images in [0, 1] (the decoder's mean image, "
                          "sigmoid of the logits); got values from {:.2f} to {:.2f}.".format(float(got.min()), float(got.max())))
    again = fn(model, x.to(device), source.to(device), target.to(device)).detach().float().cpu()
    if not torch.allclose(again, got, atol=1e-6):
        raise CheckFailed("Style transfer: the result changes from call to call: it looks like a random "
                          "code z = μ + σ·ε was decoded. For style transfer keep the mean code μ (the encoder's "
                          "best guess of the style), so the same input always gives the same image.")
    raise CheckFailed("Style transfer: the images differ from decoding μ(x, y_source) with y_target. Step by step: "
                      "mu, logvar = model.encode(x, source_labels); logits = model.decode(mu, target_labels); "
                      "return torch.sigmoid(logits).")
