"""Exercise checks of the GAN lessons: the discriminator and generator losses and a prediction of
the saturating loss's gradient (lesson 01), a transposed convolution's output size, a prediction of
the generator's parameter counts and an uneven upsampling kernel (lesson 02), the conditional generator's input
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
    student_number,
)
from gankit.models import ConditionalGenerator, ConditionalGeneratorConfig
from gankit.train import gradient_penalty

__all__ = ["check_discriminator_loss", "check_generator_loss", "check_gradient_penalty", "check_transposed_conv_size",
           "check_one_hot_concat", "check_saturation_prediction", "check_head_start_change", "check_parameter_prediction",
           "check_checkerboard"]


def _number(value: object, name: str) -> float:
    """A student's numeric answer as a float (see :func:`~gankit.checks.core.student_number`)."""
    return student_number(value, name, "The gradient you are predicting is small, but it is not zero, "
                                       "so the ratio is finite.")


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


# --------------------------------------------------------------------------- lesson 01: predict, then measure


def check_saturation_prediction(predicted_ratio: object, measured_ratio: float, d_fake: float) -> None:
    """Compare a student's prediction of ‖∇_θ L_nonsat‖ / ‖∇_θ L_sat‖ (the gradient norms the two
    generator losses send into G's weights) with the ratio the lesson measured, against a
    discriminator whose mean belief in G's samples is ``d_fake``.

    Per sample, the gradients with respect to the logit are −(1 − D) and −D, and the chain rule
    multiplies both by the same ∂a/∂θ; so when every D(G(z)) is small the ratio is about
    (1 − D)/D ≈ 1/D. A prediction within a factor of 2 of the measurement passes."""
    predicted = _number(predicted_ratio, "predicted_ratio")
    measured, d = float(measured_ratio), float(d_fake)
    if not (measured > 0 and 0 < d < 1):
        raise CheckFailed(f"The measurement itself looks wrong (ratio {measured}, mean D(G(z)) {d}): run the cell "
                          f"that trains the confident D, then this one, without changes.")
    close = abs(math.log(predicted / measured)) <= math.log(2) if predicted > 0 else False
    if close:
        print(f"✓ You predicted {predicted:,.4g}; the measured ratio is {measured:,.4g} (within a factor of 2). "
              f"Per sample the two gradients with respect to the logit are −(1 − D) and −D, and the chain rule "
              f"multiplies both by the same ∂a/∂θ: with mean D(G(z)) = {d:.2e}, (1 − D)/D = {(1 - d) / d:,.4g}.")
        return
    per_sample = (1 - d) / d
    if predicted <= 0:
        hint = "a ratio of two norms is positive."
    elif math.isclose(predicted, d / (1 - d), rel_tol=0.5) or math.isclose(predicted, d, rel_tol=0.5):
        hint = ("that is the ratio the other way round (saturating / non-saturating). The question asks how many "
                "times LARGER the non-saturating gradient is.")
    elif predicted <= 2:
        hint = ("you predicted that the two losses send gradients of about the same size, or that the saturating "
                "one is larger. Look at the gradient with respect to the logit a: −σ(a) for the saturating loss, "
                "−(1 − σ(a)) for the non-saturating one, and σ(a) = D(G(z)) is tiny against this D.")
    elif predicted > measured:
        hint = (f"the saturating gradient is small but not zero: per sample it is the non-saturating one scaled "
                f"by D/(1 − D). With mean D(G(z)) = {d:.2e}, expect a ratio near (1 − D)/D = {per_sample:,.4g}.")
    else:
        hint = (f"the gap is bigger than you predicted. Per sample, the saturating gradient with respect to the logit "
                f"is −D and the non-saturating one −(1 − D); the rest of the chain rule is the same for both. With "
                f"mean D(G(z)) = {d:.2e}, that is a factor of about (1 − D)/D = {per_sample:,.4g}.")
    raise CheckFailed(f"You predicted a ratio of {predicted:,.4g}; the measurement gave {measured:,.4g} "
                      f"(a prediction within a factor of 2 passes): {hint}")


def check_head_start_change(head_start_steps: object, measure: Callable[[int], tuple[float, float]],
                            d_fake_before: float, ratio_before: float, steps_before: int = 300) -> None:
    """The change-and-measure exercise of lesson 01: give D a shorter head start than
    ``steps_before``, so that its mean belief in G's samples lies between 0.001 and 0.1, and
    measure the gradient ratio again. ``measure(steps)`` trains that D and returns
    (mean D(G(z)), ratio); it is called only once the number itself is sensible. Passes when the
    student made that change and the measured ratio is still (1 − D)/D within a factor of 1.5 —
    the per-sample argument the lesson makes; a ratio off that line fails (the lesson's claim
    did not hold)."""
    steps = _number(head_start_steps, "head_start_steps")
    if steps != int(steps) or steps < 0:
        raise CheckFailed(f"head_start_steps should be a whole number of D updates (0 or more), got {head_start_steps}.")
    steps, before = int(steps), float(d_fake_before)
    if steps == steps_before:
        raise CheckFailed(f"head_start_steps = {steps} is the head start D already had: change it, so that D is "
                          f"less sure of itself.")
    if steps > steps_before:
        raise CheckFailed(f"{steps} steps make D even more confident than the {steps_before} above; the exercise "
                          f"asks for a shorter head start.")
    d, ratio = (float(v) for v in measure(steps))
    if d > 0.1:
        raise CheckFailed(f"After {steps} steps D's mean belief in G's samples is {d:.3f}: D has hardly started, and "
                          f"near D = 1/2 the two losses send gradients of about the same size, which says little. "
                          f"Give D more steps, so that the belief lands between 0.001 and 0.1.")
    if d < 1e-3:
        raise CheckFailed(f"After {steps} steps D's mean belief in G's samples is still {d:.1e}, almost as confident "
                          f"as with {steps_before}. Give it fewer steps, so that the belief lands between 0.001 and 0.1.")
    expected = (1 - d) / d
    print(f"head start {steps_before:>4} steps: mean D(G(z)) = {before:.2e}, measured ratio {ratio_before:,.4g}, "
          f"(1 − D)/D = {(1 - before) / before:,.4g}")
    print(f"head start {steps:>4} steps: mean D(G(z)) = {d:.2e}, measured ratio {ratio:,.4g}, "
          f"(1 − D)/D = {expected:,.4g}")
    lesson_check(
        abs(math.log(ratio / expected)) <= math.log(1.5) and ratio < ratio_before,
        f"A shorter head start, a less confident D ({before:.1e} → {d:.3f}), a ratio {ratio_before / ratio:,.0f} times "
        f"smaller: at both points the saturating gradient is the non-saturating one scaled by about D/(1 − D).",
        f"The measured ratio {ratio:,.4g} is not (1 − D)/D = {expected:,.4g} within a factor of 1.5 (or did not fall "
        f"below {ratio_before:,.4g}): the per-sample argument of section 5 did not describe this run. Were the same "
        f"noise and the same G used for both measurements?",
    )


# --------------------------------------------------------------------------- lesson 02: predict, then count


def check_parameter_prediction(predicted_project: object, predicted_conv: object, generator: nn.Module) -> None:
    """Compare predicted parameter counts of a DCGANGenerator's linear projection
    (``generator.project[0]``) and first transposed convolution (``generator.upsample[0]``)
    with the counts of the layers themselves, naming the usual slips."""
    project, conv = generator.project[0], generator.upsample[0]
    got_p = _number(predicted_project, "predicted_project_params")
    got_c = _number(predicted_conv, "predicted_conv_params")
    n_p = sum(p.numel() for p in project.parameters())
    n_c = sum(p.numel() for p in conv.parameters())
    total = sum(p.numel() for p in generator.parameters())
    z, outs = project.in_features, project.out_features
    maps = conv.in_channels
    side = math.isqrt(outs // maps)
    k = conv.kernel_size[0]
    c_in, c_out = conv.in_channels, conv.out_channels
    print(f"{'layer':<46} {'you predicted':>14} {'counted':>10}")
    print(f"{f'G.project[0]: Linear({z} -> {outs})':<46} {got_p:>14,.0f} {n_p:>10,}")
    print(f"{f'G.upsample[0]: ConvTranspose2d({c_in} -> {c_out}, {k}x{k})':<46} {got_c:>14,.0f} {n_c:>10,}")
    print(f"the whole generator: {total:,} parameters, {n_p / total:.0%} of them in the projection")
    wrong = []
    if got_p != n_p:
        wrong.append("Projection: " + diagnose(got_p, {
            f"a linear layer has one weight per (input, output) pair, and its outputs are all {maps}·{side}·{side} "
            f"= {outs:,} numbers of the feature maps, not just the {maps} maps.": z * maps,
            "that counts a bias per output; this layer has bias=False (the batch norm after it has its own shift).":
                z * outs + outs,
            f"the projection makes 2·width = {maps} feature maps, not width.": z * (maps // 2) * side * side,
            f"the maps it makes are {side}×{side} (a quarter of the image side), not 28×28.": z * maps * 28 * 28,
        }, fallback=f"count latent_dim × (2·width · {side} · {side}) weights (see DCGANGenerator.project)."))
    if got_c != n_c:
        wrong.append("Transposed convolution: " + diagnose(got_c, {
            f"a convolution's kernel is a {k}×{k} patch, so each (input, output) channel pair has {k * k} "
            f"weights, not one.": c_in * c_out,
            f"the kernel is {k}×{k}: {k * k} weights per channel pair, not {k}.": c_in * c_out * k,
            "a convolution shares its kernel across every position of the map: the count does not depend on the "
            f"map's size ({side}×{side} in, {2 * side}×{2 * side} out).": c_in * c_out * k * k * side * side,
            "a convolution shares its kernel across every position of the map: the count does not depend on "
            f"the map's size ({2 * side}×{2 * side} out).": c_in * c_out * k * k * 4 * side * side,
            "that counts a bias per output channel; this layer has bias=False (batch norm follows).":
                c_in * c_out * k * k + c_out,
            f"there is one {k}×{k} kernel per (input channel, output channel) pair: {c_in} × {c_out} of them.":
                c_in * k * k,
        }, fallback=f"count in_channels × out_channels × kernel × kernel ({c_in}, {c_out}, {k}; no bias)."))
    if wrong:
        raise CheckFailed(" ".join(wrong))
    print(f"✓ Both right. The projection holds {n_p / total:.0%} of G's parameters: a linear layer pays for every "
          f"(input, output) pair, while a convolution reuses one small kernel at every position of the map.")


# --------------------------------------------------------------------------- lesson 02: change the kernel, measure


def _stamp_counts(kernel: int, padding: int, output_padding: int, n: int = 7, stride: int = 2) -> torch.Tensor:
    """How many kernel taps reach each output pixel of a stride-2 transposed convolution of an
    all-ones n×n map with an all-ones kernel: (out, out)."""
    with torch.random.fork_rng(devices=[]):  # building a layer draws its initial weights: leave the lesson's
        #                                         random stream (its training run comes next) as it was
        layer = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding,
                                   bias=False)
    nn.init.ones_(layer.weight)
    with torch.no_grad():
        return layer(torch.ones(1, 1, n, n))[0, 0]


def check_checkerboard(kernel_size: object, padding: object, output_padding: object) -> None:
    """A stride-2 transposed convolution that still maps 7×7 to 14×14 but whose kernel the stride
    does not divide: measure how unevenly its stamps overlap (all-ones kernel and input: the
    count of taps per output pixel), next to the lesson's kernel 4, which overlaps evenly."""
    values = []
    for value, name in [(kernel_size, "kernel_size"), (padding, "padding"), (output_padding, "output_padding")]:
        number = _number(value, name)
        if number != int(number):
            raise CheckFailed(f"{name} should be a whole number, got {value}.")
        values.append(int(number))
    k, p, op = values
    if k < 1 or p < 0 or op < 0:
        raise CheckFailed(f"kernel_size must be ≥ 1 and padding, output_padding ≥ 0; got {k}, {p}, {op}.")
    if op >= 2:
        raise CheckFailed(f"output_padding = {op}: PyTorch allows it only below the stride (2), so 0 or 1.")
    if p >= k:
        raise CheckFailed(f"padding {p} is not smaller than the kernel {k}: it would crop away all the kernel adds.")
    try:
        counts = _stamp_counts(k, p, op)
    except RuntimeError as exc:
        raise CheckFailed(f"PyTorch refused ConvTranspose2d(kernel={k}, stride=2, padding={p}, "
                          f"output_padding={op}): {exc}") from exc
    size = counts.shape[-1]
    if size != 14:
        raise CheckFailed(f"With kernel {k}, padding {p}, output_padding {op} a 7×7 map becomes {size}×{size}, not "
                          f"14×14: the size is (7 − 1)·2 − 2·padding + kernel + output_padding. With an odd kernel, "
                          f"output_padding = 1 adds the one row and column that the formula leaves out.")
    inner = counts[k:-k, k:-k]  # away from the border, where fewer input pixels reach
    low, high = inner.min().item(), inner.max().item()
    even = _stamp_counts(4, 1, 0)[4:-4, 4:-4]
    print(f"taps per output pixel, a 4x4 patch away from the border (kernel {k}):")
    for row in inner[:4, :4].int().tolist():
        print("   ", *(f"{v:2d}" for v in row))
    print(f"the lesson's kernel 4: every pixel away from the border gets {int(even.min())} taps "
          f"(from {int(even.min())} to {int(even.max())})")
    if low == 0:
        raise CheckFailed(f"Kernel {k} is smaller than the stride 2, so some output pixels get no tap at all (the "
                          f"zeros above): that is a grid of holes, not overlapping stamps. Pick a kernel larger than "
                          f"the stride that the stride does not divide.")
    if k % 2 == 0 or high == low:
        raise CheckFailed(f"Kernel {k} is divisible by the stride 2, so every output pixel gets the same number of "
                          f"taps ({int(low)}): no checkerboard. The exercise asks for a kernel that 2 does not divide.")
    print(f"✓ Kernel {k} keeps 7 → 14 but stamps unevenly: neighbouring pixels get between {int(low)} and {int(high)} "
          f"taps, a {high / low:.0f}:1 checkerboard before any training (kernel 4: {int(even.min())} taps everywhere).")
