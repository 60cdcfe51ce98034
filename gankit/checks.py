"""Friendly checks: for a student's exercise, and for what a lesson must have shown.

An exercise check calls the student's function on inputs with a known answer and, when
the answer is wrong, says which mistake it looks like (a sign, a swapped argument, a sum
instead of a mean, ...) instead of only "wrong". A lesson check (:func:`lesson_check`)
makes a notebook run fail, with an explanation, when the result the lesson teaches did
not happen — so a green CI run means the lesson works.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["CheckFailed", "lesson_check", "check_discriminator_loss", "check_generator_loss", "check_causal_attention",
           "check_top_p"]


class CheckFailed(AssertionError):
    """A check did not pass; the message says what was expected and what to try."""


def lesson_check(condition: bool, passed: str, failed: str) -> None:
    """Print ``✓ passed`` when ``condition`` holds; otherwise raise CheckFailed(failed)."""
    if not bool(condition):
        raise CheckFailed(f"✗ Lesson check failed: {failed}")
    print(f"✓ {passed}")


def _call(fn: Callable, *args: torch.Tensor, name: str) -> float:
    try:
        out = fn(*args)
    except NotImplementedError:
        raise CheckFailed(f"{name} is not written yet: replace the `raise NotImplementedError` with your code.") from None
    except Exception as exc:
        raise CheckFailed(f"{name} raised {exc.__class__.__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{name} should return a torch tensor (a scalar loss), got {type(out).__name__}.")
    if out.numel() != 1:
        raise CheckFailed(
            f"{name} should return one number (average over the batch with .mean()), "
            f"got a tensor of shape {tuple(out.shape)}."
        )
    if not out.requires_grad and any(a.requires_grad for a in args):
        raise CheckFailed(
            f"{name}'s result does not depend on its inputs through autograd: keep to torch "
            f"operations (no .item(), .numpy() or .detach()), or the loss cannot train anything."
        )
    return float(out.detach())


def _diagnose(got: float, alternatives: dict[str, float], fallback: str) -> str:
    """The hint of the first known mistake whose value matches ``got``, else ``fallback``."""
    for hint, value in alternatives.items():
        if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-5):
            return hint
    return fallback


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(real_logits, fake_logits)`` = −[mean log D(x) + mean log(1 − D(G(z)))],
    with D = sigmoid(logit)."""
    real = torch.tensor([2.0, -1.0, 0.5, 3.0], requires_grad=True)
    fake = torch.tensor([-2.0, 1.5, -0.5, 0.0, -4.0, 0.3], requires_grad=True)  # another batch size on purpose
    expected = float(F.softplus(-real.detach()).mean() + F.softplus(fake.detach()).mean())

    got = _call(fn, real, fake, name="Your discriminator loss")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        r, f = real.detach(), fake.detach()
        sig_r, sig_f = torch.sigmoid(r), torch.sigmoid(f)
        hint = _diagnose(got, {
            "It looks like the real and fake logits are swapped: D should call real data real (target 1).":
                float(F.softplus(-f).mean() + F.softplus(r).mean()),
            "The sign is flipped: the loss is the NEGATIVE of log D(x) + log(1 − D(G(z))), so that minimising it maximises V.":
                -expected,
            "It looks like a sum over the batch: use .mean() so the loss does not grow with the batch size.":
                float(F.softplus(-r).sum() + F.softplus(f).sum()),
            "It looks like the logits were used as probabilities: apply sigmoid first (or use F.softplus / F.logsigmoid, which work on logits).":
                float(-(r.clamp(1e-6, 1 - 1e-6).log().mean() + (1 - f).clamp(1e-6).log().mean())),
            "Only the real-data term is there: add the term for the generated batch.": float(F.softplus(-r).mean()),
            "Only the generated-data term is there: add the term for the real batch.": float(F.softplus(f).mean()),
            "It looks like the two batches were averaged together (a mean over all 10 logits); take each term's mean separately.":
                float(torch.cat([F.softplus(-r), F.softplus(f)]).mean()),
            "It looks like log(1 − D) was written as log(D) for the generated batch.":
                float(-(torch.log(sig_r).mean() + torch.log(sig_f).mean())),
        }, fallback="Check it term by term: with every logit 0 (D = 0.5) it must give 2·log 2 ≈ 1.3863; "
                    "remember D(x) = sigmoid(logit) and that each of the two terms is a mean.")
        raise CheckFailed(f"Discriminator loss: expected {expected:.4f}, got {got:.4f}. {hint}")
    print(f"✓ Discriminator loss correct ({got:.4f} on the test logits, 2·log 2 when D is unsure).")


def check_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(fake_logits)`` = the non-saturating loss mean −log D(G(z))."""
    fake = torch.tensor([-2.0, 1.5, -0.5, 0.0, -4.0, 0.3], requires_grad=True)
    f = fake.detach()
    expected = float(F.softplus(-f).mean())
    got = _call(fn, fake, name="Your generator loss")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        hint = _diagnose(got, {
            "This is the saturating loss, mean log(1 − D(G(z))). Write the non-saturating one, mean −log D(G(z)), "
            "which keeps a strong gradient when D rejects the samples.": float(-F.softplus(f).mean()),
            "The sign is flipped: G minimises −log D(G(z)), i.e. the mean of softplus(−logit).": -expected,
            "It looks like the saturating and non-saturating losses were added together; use −log D(G(z)) alone.":
                float(F.softplus(-f).mean() - F.softplus(f).mean()),
            "It looks like a sum over the batch: use .mean().": float(F.softplus(-f).sum()),
        }, fallback="With logit 0 (D = 0.5) it must give −log 0.5 = log 2 ≈ 0.6931; remember D = sigmoid(logit).")
        raise CheckFailed(f"Generator loss: expected {expected:.4f}, got {got:.4f}. {hint}")
    grad = torch.autograd.grad(fn(fake), fake)[0]
    expected_grad = -(1 - torch.sigmoid(f)) / len(f)
    if not torch.allclose(grad, expected_grad, atol=1e-5):
        raise CheckFailed("The value is right but its gradient is not: keep the loss a differentiable torch expression.")
    print(f"✓ Generator loss correct ({got:.4f} on the test logits; gradient −(1 − D)/B as expected).")


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(q, k, v)`` = softmax(q kᵀ / √d + causal mask) v, for q, k (..., T, d) and v
    (..., T, d_v); ``fn`` may return the output alone or (output, weights)."""
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 6, 16, generator=gen), torch.randn(2, 3, 6, 16, generator=gen)
    v = torch.randn(2, 3, 6, 5, generator=gen)  # d_v ≠ d, so a mix-up of v and k shows
    try:
        out = fn(q, k, v)
    except NotImplementedError:
        raise CheckFailed("causal_attention is not written yet: replace the `raise NotImplementedError` with your code.") from None
    except Exception as exc:
        raise CheckFailed(f"causal_attention raised {exc.__class__.__name__}: {exc}") from exc
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"causal_attention should return a tensor (the attended values), got {type(out).__name__}.")
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if out.shape != expected.shape:
        raise CheckFailed(
            f"causal_attention returned shape {tuple(out.shape)}; expected {tuple(expected.shape)} = (..., T, d_v): "
            f"the weights (..., T, T) multiply v, i.e. weights @ v."
        )
    if torch.allclose(out, expected, atol=1e-5):
        print("✓ Causal attention correct: it matches torch.nn.functional.scaled_dot_product_attention(is_causal=True).")
        return

    T, d = q.shape[-2], q.shape[-1]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = q @ k.transpose(-2, -1)

    def attend(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
        return s.softmax(dim) @ v

    candidates = {
        "The future is not masked: position i must not see positions j > i. Set those scores to -inf "
        "before the softmax (scores.masked_fill(mask, float('-inf'))).":
            attend(scores / math.sqrt(d)),
        "The mask points the wrong way: each position sees the future and not the past. Keep j ≤ i "
        "(the lower triangle, torch.tril), hide j > i.":
            attend((scores / math.sqrt(d)).masked_fill(future.T, float("-inf"))),
        "The masked scores were set to 0, not -inf: exp(0) = 1, so the future still gets weight. Use float('-inf').":
            attend((scores / math.sqrt(d)).masked_fill(future, 0.0)),
        "The scores are not scaled: divide q kᵀ by √d (d = q.shape[-1]) before the softmax.":
            attend(scores.masked_fill(future, float("-inf"))),
        "The scores are divided by d, not √d.":
            attend((scores / d).masked_fill(future, float("-inf"))),
        "The softmax runs over the wrong dimension: each query's weights (a row, dim=-1) must sum to 1.":
            attend((scores / math.sqrt(d)).masked_fill(future, float("-inf")), dim=-2).nan_to_num(),
        "The mask was applied after the softmax: mask the scores first, so the remaining weights still sum to 1.":
            ((scores / math.sqrt(d)).softmax(-1).masked_fill(future, 0.0)) @ v,
    }
    for hint, value in candidates.items():
        if value.shape == out.shape and torch.allclose(out, value, atol=1e-5):
            raise CheckFailed(f"Causal attention: {hint}")
    raise CheckFailed(
        "Causal attention: the output differs from softmax(q kᵀ / √d, future masked) v. Go step by step: "
        "scores = q @ k.transpose(-2, -1) / √d, shape (..., T, T); scores of j > i set to -inf; "
        "softmax over the last dimension; then @ v."
    )


def check_top_p(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """Check ``fn(probs, p)``: nucleus (top-p) filtering of a probability vector (V,). It
    must keep the smallest set of most likely tokens whose probabilities add up to at least
    p, set the others to 0, and renormalise what it keeps so that it sums to 1."""
    probs = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])
    cases = [(0.35, [1]), (0.5, [1, 3]), (0.8, [1, 3, 4]), (0.9, [1, 2, 3, 4]), (1.0, [0, 1, 2, 3, 4])]
    for p, keep in cases:
        try:
            out = fn(probs.clone(), p)
        except NotImplementedError:
            raise CheckFailed("top_p_filter is not written yet: replace the `raise NotImplementedError` with your code.") from None
        except Exception as exc:
            raise CheckFailed(f"top_p_filter raised {exc.__class__.__name__}: {exc}") from exc
        if not isinstance(out, torch.Tensor) or out.shape != probs.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"top_p_filter should return probabilities of the same shape {tuple(probs.shape)}, got {shape}.")
        expected = torch.zeros_like(probs)
        expected[keep] = probs[keep] / probs[keep].sum()
        if torch.allclose(out, expected, atol=1e-5):
            continue
        kept = (out > 0).nonzero().flatten().tolist()
        where = f"With probs {probs.tolist()} and p = {p}"
        if sorted(kept) == keep:
            raise CheckFailed(f"{where} you kept the right tokens {keep}, but their probabilities must be divided by "
                              f"their sum ({probs[keep].sum():.2f}) so that they add up to 1 again.")
        if len(kept) == len(keep) + 1:
            raise CheckFailed(f"{where} you kept {kept}, one token too many: stop as soon as the kept "
                              f"probabilities reach p (expected {keep}).")
        if len(kept) == len(keep) - 1:
            raise CheckFailed(f"{where} you kept {kept}, one token too few: the kept probabilities must add up "
                              f"to at least p — include the token that crosses p (expected {keep}).")
        if len(kept) == len(keep):
            raise CheckFailed(f"{where} you kept {kept} instead of {keep}: keep the most likely tokens (sort in "
                              f"descending order), and put the result back in the tokens' original order.")
        raise CheckFailed(f"{where} expected to keep the tokens {keep} (the most likely ones, until their "
                          f"probabilities reach p), got {kept}.")
    print("✓ top-p filtering correct: it keeps the smallest set of most likely tokens reaching p, renormalised.")
