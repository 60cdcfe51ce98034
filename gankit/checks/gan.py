"""Exercise checks of the GAN lessons: the discriminator and generator losses (lesson 01), a
transposed convolution's output size (lesson 02), the conditional generator's input
(lesson 03) and the WGAN-GP gradient penalty (lesson 04). Each compares with gankit's reference on inputs
with a known answer and names the likely mistake."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit.checks.core import (
    CheckFailed,
    call_loss,
    diagnose,
    lesson_check,
    run_student,
)
from gankit.models import ConditionalGenerator, ConditionalGeneratorConfig
from gankit.train import gradient_penalty

__all__ = ["check_discriminator_loss", "check_generator_loss", "check_gradient_penalty", "check_transposed_conv_size",
           "check_one_hot_concat"]


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(real_logits, fake_logits)`` = −[mean log D(x) + mean log(1 − D(G(z)))],
    with D = sigmoid(logit)."""
    real = torch.tensor([2.0, -1.0, 0.5, 3.0], requires_grad=True)
    fake = torch.tensor([-2.0, 1.5, -0.5, 0.0, -4.0, 0.3], requires_grad=True)  # another batch size on purpose
    expected = float(F.softplus(-real.detach()).mean() + F.softplus(fake.detach()).mean())

    got = call_loss(fn, real, fake, name="Your discriminator loss")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        r, f = real.detach(), fake.detach()
        sig_r, sig_f = torch.sigmoid(r), torch.sigmoid(f)
        hint = diagnose(got, {
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
    got = call_loss(fn, fake, name="Your generator loss")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        hint = diagnose(got, {
            "This is the saturating loss, mean log(1 − D(G(z))). Write the non-saturating one, mean −log D(G(z)), "
            "which keeps a strong gradient when D rejects the samples.": float(-F.softplus(f).mean()),
            "The sign is flipped: G minimises −log D(G(z)), i.e. the mean of softplus(−logit).": -expected,
            "It looks like the saturating and non-saturating losses were added together: log(1 − D) − log D is just "
            "−logit, whose gradient is −1 for every sample, so G would be pushed the same for samples D rejects and "
            "samples D already believes; use −log D(G(z)) alone, whose gradient −(1 − D) is largest where D rejects.":
                float(F.softplus(-f).mean() - F.softplus(f).mean()),
            "It looks like a sum over the batch: use .mean().": float(F.softplus(-f).sum()),
        }, fallback="With logit 0 (D = 0.5) it must give −log 0.5 = log 2 ≈ 0.6931; remember D = sigmoid(logit).")
        raise CheckFailed(f"Generator loss: expected {expected:.4f}, got {got:.4f}. {hint}")
    grad = torch.autograd.grad(fn(fake), fake)[0]
    expected_grad = -(1 - torch.sigmoid(f)) / len(f)
    if not torch.allclose(grad, expected_grad, atol=1e-5):
        raise CheckFailed("The value is right but its gradient is not: keep the loss a differentiable torch expression.")
    print(f"✓ Generator loss correct ({got:.4f} on the test logits; gradient −(1 − D)/B as expected).")


def check_gradient_penalty(fn: Callable) -> None:
    """Check a student's WGAN-GP penalty ``fn(critic, real, fake)`` → E[(‖∇D(x̂)‖₂ − 1)²]
    (a scalar, or a tuple whose first item is it) against :func:`gankit.train.gradient_penalty`,
    naming the classic slips: one α for the whole batch (or one per coordinate), α not
    uniform on [0, 1], the norm over the whole batch instead of per example, the gradient
    of the *mean* output, the squared norm, and a missing ``create_graph=True``."""

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
        hint = diagnose(got, {
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
    print("✓ Gradient penalty correct: one α ~ U(0, 1) per example, the norm per example, (‖∇‖ − 1)² averaged, "
          "and it trains the critic (16.0 for a linear critic with ‖w‖ = 5, as gankit.train's).")


def check_transposed_conv_size(fn: Callable[[int, int, int, int], int]) -> None:
    """Check ``fn(n, kernel, stride, padding)`` against what PyTorch's ``ConvTranspose2d``
    makes of an n×n input, on settings that catch the usual slips."""
    wrong = []
    for n, k, s, p in [(7, 4, 2, 1), (14, 4, 2, 1), (1, 7, 1, 0), (4, 3, 2, 0), (5, 5, 3, 2), (3, 4, 1, 0)]:
        expected = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, n, n)).shape[-1]
        got = run_student(fn, "transposed_conv_size", n, k, s, p)
        if got != expected:
            wrong.append(f"n={n}, kernel={k}, stride={s}, padding={p}: expected {expected}, got {got}")
    lesson_check(
        not wrong,
        "transposed_conv_size matches PyTorch on every setting. With kernel 4, stride 2, padding 1 it doubles the size.",
        "transposed_conv_size disagrees with PyTorch: " + "; ".join(wrong)
        + ". Hint: a convolution maps n to (n + 2·padding − kernel) // stride + 1; the transposed one undoes that "
          "map — solve it for the input size.",
    )


def check_one_hot_concat(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> None:
    """Check ``fn(z, labels, n_classes)`` = [z; one_hot(labels)] against what gankit's
    ConditionalGenerator feeds its layers, naming the usual slips."""
    z, y = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([3, 0, 9, 3, 1])
    G = ConditionalGenerator(ConditionalGeneratorConfig(latent_dim=4, width=4)).eval()
    out = run_student(fn, "one_hot_concat", z, y, 10)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"one_hot_concat should return a tensor, got {type(out).__name__}.")
    hints = {(5, 5): "it looks like the label number itself was appended; append a one-hot vector of 10 "
                     "numbers instead (F.one_hot(labels, n_classes)).",
             (10, 4): "z and the one-hot were stacked along dim 0 (more rows); glue them along dim=1, the features.",
             (5, 10): "only the one-hot came back; append it to z."}
    if out.shape != (5, 14):
        raise CheckFailed(f"one_hot_concat returned shape {tuple(out.shape)}, expected (5, 14) = "
                          f"(batch, latent_dim + n_classes): " + hints.get(tuple(out.shape), "check the dims."))
    if not out.dtype.is_floating_point:
        raise CheckFailed(f"one_hot_concat returned a {out.dtype} tensor: F.one_hot gives integers; "
                          f"turn them into floats (.float() or .to(z.dtype)) before concatenating.")
    if torch.equal(out[:, 10:], z) and torch.equal(out[:, :10].argmax(1), y):
        raise CheckFailed("the one-hot comes first; put the noise first, [z; e_y], the order "
                          "ConditionalGenerator's first layer was built for.")
    with torch.no_grad():
        same = torch.allclose(G.body(out), G(z, y))  # the student's input, through lesson 02's generator
    if not same:
        raise CheckFailed("one_hot_concat has the right shape but wrong values: the first 4 columns "
                          "must be z unchanged, the last 10 a single 1 at column 4 + y.")
    print("✓ one_hot_concat is right: G(z, y) = DCGAN generator([z; one_hot(y)]), exactly what gankit's "
          "ConditionalGenerator does.")
