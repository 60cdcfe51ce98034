"""Friendly checks: for a student's exercise, and for what a lesson must have shown.

An exercise check calls the student's function on inputs with a known answer and, when
the answer is wrong, says which mistake it looks like (a sign, a swapped argument, a sum
instead of a mean, ...) instead of only "wrong". A lesson check (:func:`lesson_check`)
makes a notebook run fail, with an explanation, when the result the lesson teaches did
not happen — so a green CI run means the lesson works.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = ["CheckFailed", "lesson_check", "check_discriminator_loss", "check_generator_loss", "check_causal_attention",
           "check_top_p", "check_negative_elbo", "check_precision_recall",
           "check_style_transfer", "check_freeze_top", "check_gradient_penalty", "not_written", "run_student"]


class CheckFailed(AssertionError):
    """A check did not pass; the message says what was expected and what to try."""


def lesson_check(condition: bool, passed: str, failed: str) -> None:
    """Print ``✓ passed`` when ``condition`` holds; otherwise raise CheckFailed(failed)."""
    if not bool(condition):
        raise CheckFailed(f"✗ Lesson check failed: {failed}")
    print(f"✓ {passed}")


def not_written(name: str) -> CheckFailed:
    """The failure for an exercise still holding its stub."""
    return CheckFailed(f"{name} is not written yet: replace the `raise NotImplementedError` with your code.")


def run_student(fn: Callable, name: str, *args: Any) -> Any:
    """``fn(*args)`` — a student's function — with its stub or its crash turned into a
    CheckFailed that names ``name``."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise not_written(name) from None
    except Exception as exc:
        raise CheckFailed(f"{name} raised {exc.__class__.__name__}: {exc}") from exc


def _call(fn: Callable, *args: torch.Tensor, name: str) -> float:
    out = run_student(fn, name, *args)
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
    out = run_student(fn, "causal_attention", q, k, v)
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
        out = run_student(fn, "top_p_filter", probs.clone(), p)
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


def check_precision_recall(fn: Callable[[torch.Tensor, torch.Tensor, int], tuple[float, float]]) -> None:
    """Check a student's ``fn(real, fake, k) -> (precision, recall)`` against
    :func:`gankit.evaluation.precision_recall` on small feature sets, naming the usual slips:
    counting an example as its own neighbour, swapping the two, using the wrong set's radii."""
    from gankit.evaluation import _pairwise, knn_radii, precision_recall

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
            d = _pairwise(fake, real)
            return ((d <= r_radii[None, :]).any(1).float().mean().item(),
                    (d <= f_radii[:, None]).any(0).float().mean().item())

        self_counted = variant(_pairwise(real, real).sort(1).values[:, k - 1],
                               _pairwise(fake, fake).sort(1).values[:, k - 1])
        d = _pairwise(fake, real)  # (fake, real)
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
    print("✓ precision and recall match gankit.evaluation.precision_recall on every test set.")


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

    was_training = model.training
    model.eval()
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
    model.train(was_training)
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


def check_freeze_top(fn: Callable) -> None:
    """Check ``fn(model, n_blocks) -> int``: freeze every parameter of a GPT except its last
    ``n_blocks`` blocks, the final LayerNorm ``ln_f`` and the ``head``, and return the number
    of parameters left trainable (lesson 10's partial fine-tune)."""
    from gankit.models import GPT, GPTConfig
    from gankit.models.transformer import freeze_all_but_top

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=16))
    reference = GPT(model.config)
    for n_blocks in (1, 2, 0):  # a model may come in partly frozen: every flag must be set
        count = run_student(fn, "freeze_top", model, n_blocks)
        expected_count = freeze_all_but_top(reference, n_blocks)
        got = {name: p.requires_grad for name, p in model.named_parameters()}
        want = {name: p.requires_grad for name, p in reference.named_parameters()}
        wrong = [name for name in want if got[name] != want[name]]
        where = f"With n_blocks={n_blocks} (of 3 blocks)"
        if wrong:
            if all(got.values()):
                raise CheckFailed(f"{where} every parameter is still trainable: first freeze them all "
                                  f"(p.requires_grad_(False) for p in model.parameters()), then unfreeze the top.")
            if not any(got.values()):
                raise CheckFailed(f"{where} every parameter is frozen: unfreeze the last blocks, model.ln_f and model.head.")
            parts = sorted({name.split(".")[0] + ("." + name.split(".")[1] if name.startswith("blocks.") else "")
                            for name in wrong})
            hint = ""
            if any(name.startswith(("head", "ln_f")) for name in wrong):
                hint = " The final LayerNorm (model.ln_f) and the head (model.head) sit on top of the last block: train them too."
            elif any(name.startswith("blocks.") for name in wrong):
                hint = (" The top blocks are the last ones, model.blocks[len(model.blocks) - n_blocks:] "
                        "(careful: model.blocks[-0:] is every block).")
            elif any(name.startswith(("tok_emb", "pos_emb")) for name in wrong):
                hint = " The embeddings are at the bottom of the model: freeze them."
            raise CheckFailed(f"{where} the trainable parts are wrong for: {', '.join(parts)}.{hint}")
        if count != expected_count:
            raise CheckFailed(f"{where} the right parameters are trainable, but the function returned {count!r}; "
                              f"return how many numbers are trainable, sum(p.numel() for p in model.parameters() "
                              f"if p.requires_grad) = {expected_count}.")
    print("✓ freeze_top is correct: only the last blocks, ln_f and the head stay trainable, and the count is right.")


def check_gradient_penalty(fn: Callable) -> None:
    """Check a student's WGAN-GP penalty ``fn(critic, real, fake)`` → E[(‖∇D(x̂)‖₂ − 1)²]
    (a scalar, or a tuple whose first item is it) against :func:`gankit.train.gradient_penalty`,
    naming the classic slips: one α for the whole batch (or one per coordinate), α not
    uniform on [0, 1], the norm over the whole batch instead of per example, the gradient
    of the *mean* output, the squared norm, and a missing ``create_graph=True``."""
    from torch import nn

    from gankit.train import gradient_penalty

    def call(critic, real, fake) -> torch.Tensor:
        try:
            out = fn(critic, real, fake)
        except NotImplementedError:
            raise CheckFailed("gradient_penalty is not written yet: replace the `raise NotImplementedError` "
                              "with your code.") from None
        except RuntimeError as exc:
            if "does not require grad" in str(exc):
                raise CheckFailed("autograd cannot differentiate with respect to x̂: make the interpolates a leaf "
                                  "that requires gradients, x_hat = (...).requires_grad_(True), before calling "
                                  "the critic on them.") from exc
            raise CheckFailed(f"gradient_penalty raised RuntimeError: {exc}") from exc
        except Exception as exc:
            raise CheckFailed(f"gradient_penalty raised {exc.__class__.__name__}: {exc}") from exc
        if isinstance(out, tuple):
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            what = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"gradient_penalty should return one number (the penalty, a mean over the batch), "
                              f"got {what}.")
        return out.reshape(())

    # (1) the interpolates: record what the critic is called on. real = 1, fake = 0, so x̂ = α.
    seen: list[torch.Tensor] = []

    def recording_critic(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone())
        return 0.5 * (x ** 2).flatten(1).sum(1)  # gradient x̂, so ‖∇‖ = ‖x̂‖

    n = 4000
    penalty = call(recording_critic, torch.ones(n, 2), torch.zeros(n, 2))
    if not seen:
        raise CheckFailed("gradient_penalty never called the critic: evaluate it on the interpolates x̂.")
    x_hat = seen[-1]
    if x_hat.shape != (n, 2):
        raise CheckFailed(f"The critic was called on a batch of shape {tuple(x_hat.shape)}; expected the interpolates, "
                          f"one per example: shape {(n, 2)} like real and fake.")
    if torch.all(x_hat == x_hat[0]):
        raise CheckFailed("Every example got the same interpolation weight α: draw one α per example, "
                          "torch.rand(batch, 1, ...), not a single torch.rand(1) for the whole batch.")
    if not torch.allclose(x_hat[:, 0], x_hat[:, 1]):
        raise CheckFailed("Each coordinate of an example got its own α: draw one α per example, shape "
                          "(batch, 1) (or (batch, 1, 1, 1) for images), so x̂ lies on the straight line "
                          "between a real and a fake example.")
    alpha = x_hat[:, 0]
    if alpha.min() < 0 or alpha.max() > 1:
        raise CheckFailed("Some interpolation weights lie outside [0, 1]: α ~ U(0, 1) is torch.rand, not torch.randn.")
    if abs(alpha.mean().item() - 0.5) > 0.03 or abs(alpha.var().item() - 1 / 12) > 0.01:
        raise CheckFailed(f"The interpolation weights do not look uniform on [0, 1] (mean {alpha.mean():.3f}, "
                          f"variance {alpha.var():.4f}; U(0, 1) has 1/2 and 1/12): use torch.rand.")

    # (2) the value, against the interpolates it used: norm per example, gradient of the sum
    norms = x_hat.norm(dim=1)
    expected = ((norms - 1) ** 2).mean().item()
    got = penalty.item()
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
        grads = x_hat
        hint = _diagnose(got, {
            "It looks like one norm over the whole batch: take the norm per example, "
            "grad.flatten(1).norm(2, dim=1), then average the penalties.": (grads.norm() - 1).pow(2).item(),
            "It looks like the gradient of the critic's *mean* output: that divides each example's gradient by "
            "the batch size. Differentiate the sum, torch.autograd.grad(out.sum(), x_hat, ...).":
                ((grads / n).norm(dim=1) - 1).pow(2).mean().item(),
            "It looks like the squared norm: the penalty uses the norm itself, (‖∇D(x̂)‖₂ − 1)².":
                ((grads ** 2).sum(1) - 1).pow(2).mean().item(),
            "It looks like the one-sided penalty max(0, ‖∇‖ − 1)²; WGAN-GP's is two-sided, (‖∇‖ − 1)².":
                (norms - 1).clamp(min=0).pow(2).mean().item(),
            "It looks like a sum over the batch: average the per-example penalties with .mean().":
                ((norms - 1) ** 2).sum().item(),
            "The penalty is missing its square: (‖∇D(x̂)‖₂ − 1)², averaged over the batch.": (norms - 1).mean().item(),
        }, fallback="Go step by step: x̂ = α·real + (1 − α)·fake; grad = autograd.grad(critic(x̂).sum(), x̂); "
                    "norms = grad.flatten(1).norm(2, dim=1); penalty = ((norms − 1)²).mean().")
        raise CheckFailed(f"With the critic D(x) = ½‖x‖² (gradient x̂), expected the penalty {expected:.5f} "
                          f"from the interpolates your code made, got {got:.5f}. {hint}")

    # (3) a linear critic has the same gradient w everywhere: ‖w‖ = 5 gives (5 − 1)² = 16, as gankit's does,
    #     and the penalty must train the critic's weights (create_graph=True)
    linear = nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[3.0, 4.0]]))
        linear.bias.fill_(0.5)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g) + 2

    def linear_critic(x):
        return linear(x).squeeze(1)

    reference, _ = gradient_penalty(linear_critic, real, fake)
    penalty = call(linear_critic, real, fake)
    if not math.isclose(penalty.item(), reference.item(), rel_tol=1e-4):
        raise CheckFailed(f"With a linear critic D(x) = w·x + b, ‖w‖ = 5, the penalty is (5 − 1)² = "
                          f"{reference.item():.1f} (gankit.train.gradient_penalty agrees); yours gave {penalty.item():.4f}.")
    if not penalty.requires_grad:
        raise CheckFailed("The penalty has the right value but no gradient with respect to the critic's weights, so it "
                          "cannot train the critic: pass create_graph=True to torch.autograd.grad (the penalty is "
                          "itself made of a gradient, and backward() must go through it).")
    linear.zero_grad()
    penalty.backward()
    want = 2 * (5 - 1) * torch.tensor([[3.0, 4.0]]) / 5  # d(‖w‖ − 1)²/dw
    if linear.weight.grad is None or not torch.allclose(linear.weight.grad, want, atol=1e-4):
        raise CheckFailed("The penalty's gradient with respect to the critic's weights is wrong: pass create_graph=True "
                          "to torch.autograd.grad and do not .detach() the gradient before taking its norm.")

    # (4) images: the norm runs over all of an example's dimensions (C, H, W)
    conv_w = torch.full((1, 2, 2), 0.5)  # ‖w‖ = 1 → penalty 0

    def image_critic(x):
        return (x * conv_w).flatten(1).sum(1)

    images = call(image_critic, torch.randn(16, 1, 2, 2, generator=g), torch.randn(16, 1, 2, 2, generator=g)).item()
    if not math.isclose(images, 0.0, abs_tol=1e-6):
        raise CheckFailed(f"On images (B, 1, 2, 2) with a critic of gradient norm exactly 1 the penalty must be 0, "
                          f"got {images:.4f}: take the norm over all of an example's dimensions, "
                          f"grad.flatten(1).norm(2, dim=1), and draw α with shape (B, 1, 1, 1).")
    print(f"✓ Gradient penalty correct: one α ~ U(0, 1) per example, the norm per example, (‖∇‖ − 1)² averaged, "
          f"and it trains the critic (16.0 for a linear critic with ‖w‖ = 5, as gankit.train's).")


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

    got = _call(fn, logits, x, mu, logvar, name="Your negative ELBO")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-4):
        hint = _diagnose(got, {
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
