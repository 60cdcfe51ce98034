"""Exercise checks of the GAN lessons: the discriminator and generator losses and a prediction of
the saturating loss's gradient (lesson 01), a transposed convolution's output size, a prediction of
the generator's parameter counts and an uneven upsampling kernel (lesson 02), the conditional generator's input
(lesson 03) and the WGAN-GP gradient penalty (lesson 04). Each compares with gankit's reference on inputs
with a known answer and names the likely mistake."""

from __future__ import annotations

import math
import unicodedata
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit._i18n import join_clauses
from gankit.checks.core import (
    CheckFailed,
    call_loss,
    diagnose,
    lesson_check,
    not_written,
    run_student,
    student_number,
    tr,
)
from gankit.models import ConditionalGenerator, ConditionalGeneratorConfig
from gankit.train import gradient_penalty

__all__ = ["check_discriminator_loss", "check_generator_loss", "check_gradient_penalty", "check_transposed_conv_size",
           "check_one_hot_concat", "check_saturation_prediction", "check_head_start_change", "check_parameter_prediction",
           "check_checkerboard"]


def _number(value: object, name: str) -> float:
    """A student's numeric answer as a float (see :func:`~gankit.checks.core.student_number`)."""
    return student_number(value, name, tr("The gradient you are predicting is small, but it is not zero, "
                                          "so the ratio is finite."))


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(real_logits, fake_logits)`` = −[mean log D(x) + mean log(1 − D(G(z)))],
    with D = sigmoid(logit)."""
    real = torch.tensor([2.0, -1.0, 0.5, 3.0], requires_grad=True)
    fake = torch.tensor([-2.0, 1.5, -0.5, 0.0, -4.0, 0.3], requires_grad=True)  # another batch size on purpose
    expected = float(F.softplus(-real.detach()).mean() + F.softplus(fake.detach()).mean())

    got = call_loss(fn, real, fake, name=tr("Your discriminator loss"))
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        r, f = real.detach(), fake.detach()
        sig_r, sig_f = torch.sigmoid(r), torch.sigmoid(f)
        hint = diagnose(got, {
            tr("It looks like the real and fake logits are swapped: D should call real data real (target 1)."):
                float(F.softplus(-f).mean() + F.softplus(r).mean()),
            tr("The sign is flipped: the loss is the NEGATIVE of log D(x) + log(1 − D(G(z))), so that minimising it maximises V."):
                -expected,
            tr("It looks like a sum over the batch: use .mean() so the loss does not grow with the batch size."):
                float(F.softplus(-r).sum() + F.softplus(f).sum()),
            tr("It looks like the logits were used as probabilities: apply sigmoid first (or use F.softplus / F.logsigmoid, which work on logits)."):
                float(-(r.clamp(1e-6, 1 - 1e-6).log().mean() + (1 - f).clamp(1e-6).log().mean())),
            tr("Only the real-data term is there: add the term for the generated batch."): float(F.softplus(-r).mean()),
            tr("Only the generated-data term is there: add the term for the real batch."): float(F.softplus(f).mean()),
            tr("It looks like the two batches were averaged together (a mean over all 10 logits); take each term's mean separately."):
                float(torch.cat([F.softplus(-r), F.softplus(f)]).mean()),
            tr("It looks like log(1 − D) was written as log(D) for the generated batch."):
                float(-(torch.log(sig_r).mean() + torch.log(sig_f).mean())),
        }, fallback=tr("Check it term by term: with every logit 0 (D = 0.5) it must give 2·log 2 ≈ 1.3863; "
                       "remember D(x) = sigmoid(logit) and that each of the two terms is a mean."))
        raise CheckFailed(tr("Discriminator loss: expected {expected:.4f}, got {got:.4f}. {hint}",
                             expected=expected, got=got, hint=hint))
    print(tr("✓ Discriminator loss correct ({got:.4f} on the test logits, 2·log 2 when D is unsure).", got=got))


def check_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(fake_logits)`` = the non-saturating loss mean −log D(G(z))."""
    fake = torch.tensor([-2.0, 1.5, -0.5, 0.0, -4.0, 0.3], requires_grad=True)
    f = fake.detach()
    expected = float(F.softplus(-f).mean())
    got = call_loss(fn, fake, name=tr("Your generator loss"))
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        hint = diagnose(got, {
            tr("This is the saturating loss, mean log(1 − D(G(z))). Write the non-saturating one, mean −log D(G(z)), "
               "which keeps a strong gradient when D rejects the samples."): float(-F.softplus(f).mean()),
            tr("The sign is flipped: G minimises −log D(G(z)), i.e. the mean of softplus(−logit)."): -expected,
            tr("It looks like the saturating and non-saturating losses were added together: log(1 − D) − log D is just "
               "−logit, whose gradient is −1 for every sample, so G would be pushed the same for samples D rejects and "
               "samples D already believes; use −log D(G(z)) alone, whose gradient −(1 − D) is largest where D rejects."):
                float(F.softplus(-f).mean() - F.softplus(f).mean()),
            tr("It looks like a sum over the batch: use .mean()."): float(F.softplus(-f).sum()),
        }, fallback=tr("With logit 0 (D = 0.5) it must give −log 0.5 = log 2 ≈ 0.6931; remember D = sigmoid(logit)."))
        raise CheckFailed(tr("Generator loss: expected {expected:.4f}, got {got:.4f}. {hint}",
                             expected=expected, got=got, hint=hint))
    grad = torch.autograd.grad(fn(fake), fake)[0]
    expected_grad = -(1 - torch.sigmoid(f)) / len(f)
    if not torch.allclose(grad, expected_grad, atol=1e-5):
        raise CheckFailed(tr("The value is right but its gradient is not: keep the loss a differentiable torch "
                             "expression."))
    print(tr("✓ Generator loss correct ({got:.4f} on the test logits; gradient −(1 − D)/B as expected).", got=got))


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
            raise not_written("gradient_penalty") from None
        except RuntimeError as exc:
            if "does not require grad" in str(exc):
                raise CheckFailed(tr("autograd cannot differentiate with respect to x̂: make the interpolates a leaf "
                                     "that requires gradients, x_hat = (...).requires_grad_(True), before calling "
                                     "the critic on them.")) from exc
            raise CheckFailed(tr("{name} raised {error}: {exc}", name="gradient_penalty", error="RuntimeError",
                                 exc=exc)) from exc
        except Exception as exc:
            raise CheckFailed(tr("{name} raised {error}: {exc}", name="gradient_penalty",
                                 error=exc.__class__.__name__, exc=exc)) from exc
        if isinstance(out, tuple):
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            what = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(tr("gradient_penalty should return one number (the penalty, a mean over the batch), "
                                 "got {what}.", what=what))
        return out.reshape(())

    # (1) the interpolates: record what the critic is called on. real = 1, fake = 0, so x̂ = α.
    seen: list[torch.Tensor] = []

    def recording_critic(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone())
        return 0.5 * (x ** 2).flatten(1).sum(1)  # gradient x̂, so ‖∇‖ = ‖x̂‖

    n = 4000
    penalty = call(recording_critic, torch.ones(n, 2), torch.zeros(n, 2))
    if not seen:
        raise CheckFailed(tr("gradient_penalty never called the critic: evaluate it on the interpolates x̂."))
    x_hat = seen[-1]
    if x_hat.shape != (n, 2):
        raise CheckFailed(tr("The critic was called on a batch of shape {shape}; expected the interpolates, "
                             "one per example: shape {expected} like real and fake.",
                             shape=tuple(x_hat.shape), expected=(n, 2)))
    if torch.all(x_hat == x_hat[0]):
        raise CheckFailed(tr("Every example got the same interpolation weight α: draw one α per example, "
                             "torch.rand(batch, 1, ...), not a single torch.rand(1) for the whole batch."))
    if not torch.allclose(x_hat[:, 0], x_hat[:, 1]):
        raise CheckFailed(tr("Each coordinate of an example got its own α: draw one α per example, shape "
                             "(batch, 1) (or (batch, 1, 1, 1) for images), so x̂ lies on the straight line "
                             "between a real and a fake example."))
    alpha = x_hat[:, 0]
    if alpha.min() < 0 or alpha.max() > 1:
        raise CheckFailed(tr("Some interpolation weights lie outside [0, 1]: α ~ U(0, 1) is torch.rand, not "
                             "torch.randn."))
    if abs(alpha.mean().item() - 0.5) > 0.03 or abs(alpha.var().item() - 1 / 12) > 0.01:
        raise CheckFailed(tr("The interpolation weights do not look uniform on [0, 1] (mean {mean:.3f}, "
                             "variance {variance:.4f}; U(0, 1) has 1/2 and 1/12): use torch.rand.",
                             mean=alpha.mean().item(), variance=alpha.var().item()))

    # (2) the value, against the interpolates it used: norm per example, gradient of the sum
    norms = x_hat.norm(dim=1)
    expected = ((norms - 1) ** 2).mean().item()
    got = penalty.item()
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
        grads = x_hat
        hint = diagnose(got, {
            tr("It looks like one norm over the whole batch: take the norm per example, "
               "grad.flatten(1).norm(2, dim=1), then average the penalties."): (grads.norm() - 1).pow(2).item(),
            tr("It looks like the gradient of the critic's *mean* output: that divides each example's gradient by "
               "the batch size. Differentiate the sum, torch.autograd.grad(out.sum(), x_hat, ...)."):
                ((grads / n).norm(dim=1) - 1).pow(2).mean().item(),
            tr("It looks like the squared norm: the penalty uses the norm itself, (‖∇D(x̂)‖₂ − 1)²."):
                ((grads ** 2).sum(1) - 1).pow(2).mean().item(),
            tr("It looks like the one-sided penalty max(0, ‖∇‖ − 1)²; WGAN-GP's is two-sided, (‖∇‖ − 1)²."):
                (norms - 1).clamp(min=0).pow(2).mean().item(),
            tr("It looks like a sum over the batch: average the per-example penalties with .mean()."):
                ((norms - 1) ** 2).sum().item(),
            tr("The penalty is missing its square: (‖∇D(x̂)‖₂ − 1)², averaged over the batch."):
                (norms - 1).mean().item(),
        }, fallback=tr("Go step by step: x̂ = α·real + (1 − α)·fake; grad = autograd.grad(critic(x̂).sum(), x̂); "
                       "norms = grad.flatten(1).norm(2, dim=1); penalty = ((norms − 1)²).mean()."))
        raise CheckFailed(tr("With the critic D(x) = ½‖x‖² (gradient x̂), expected the penalty {expected:.5f} "
                             "from the interpolates your code made, got {got:.5f}. {hint}",
                             expected=expected, got=got, hint=hint))

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
        raise CheckFailed(tr("With a linear critic D(x) = w·x + b, ‖w‖ = 5, the penalty is (5 − 1)² = "
                             "{reference:.1f} (gankit.train.gradient_penalty agrees); yours gave {got:.4f}.",
                             reference=reference.item(), got=penalty.item()))
    if not penalty.requires_grad:
        raise CheckFailed(tr("The penalty has the right value but no gradient with respect to the critic's weights, "
                             "so it cannot train the critic: pass create_graph=True to torch.autograd.grad (the "
                             "penalty is itself made of a gradient, and backward() must go through it)."))
    linear.zero_grad()
    penalty.backward()
    want = 2 * (5 - 1) * torch.tensor([[3.0, 4.0]]) / 5  # d(‖w‖ − 1)²/dw
    if linear.weight.grad is None or not torch.allclose(linear.weight.grad, want, atol=1e-4):
        raise CheckFailed(tr("The penalty's gradient with respect to the critic's weights is wrong: pass "
                             "create_graph=True to torch.autograd.grad and do not .detach() the gradient before "
                             "taking its norm."))

    # (4) images: the norm runs over all of an example's dimensions (C, H, W)
    conv_w = torch.full((1, 2, 2), 0.5)  # ‖w‖ = 1 → penalty 0

    def image_critic(x):
        return (x * conv_w).flatten(1).sum(1)

    images = call(image_critic, torch.randn(16, 1, 2, 2, generator=g), torch.randn(16, 1, 2, 2, generator=g)).item()
    if not math.isclose(images, 0.0, abs_tol=1e-6):
        raise CheckFailed(tr("On images (B, 1, 2, 2) with a critic of gradient norm exactly 1 the penalty must be 0, "
                             "got {got:.4f}: take the norm over all of an example's dimensions, "
                             "grad.flatten(1).norm(2, dim=1), and draw α with shape (B, 1, 1, 1).", got=images))
    print(tr("✓ Gradient penalty correct: one α ~ U(0, 1) per example, the norm per example, (‖∇‖ − 1)² averaged, "
             "and it trains the critic (16.0 for a linear critic with ‖w‖ = 5, as gankit.train's)."))


def check_transposed_conv_size(fn: Callable[[int, int, int, int], int]) -> None:
    """Check ``fn(n, kernel, stride, padding)`` against what PyTorch's ``ConvTranspose2d``
    makes of an n×n input, on settings that catch the usual slips."""
    wrong = []
    for n, k, s, p in [(7, 4, 2, 1), (14, 4, 2, 1), (1, 7, 1, 0), (4, 3, 2, 0), (5, 5, 3, 2), (3, 4, 1, 0)]:
        expected = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, n, n)).shape[-1]
        got = run_student(fn, "transposed_conv_size", n, k, s, p)
        if got != expected:
            wrong.append(tr("n={n}, kernel={k}, stride={s}, padding={p}: expected {expected}, got {got}",
                            n=n, k=k, s=s, p=p, expected=expected, got=got))
    lesson_check(
        not wrong,
        "transposed_conv_size matches PyTorch on every setting. With kernel 4, stride 2, padding 1 it doubles the size.",
        "transposed_conv_size disagrees with PyTorch: {wrong}. Hint: a convolution maps n to "
        "(n + 2·padding − kernel) // stride + 1; the transposed one undoes that map — solve it for the input size.",
        wrong=join_clauses(wrong),
    )


def check_one_hot_concat(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> None:
    """Check ``fn(z, labels, n_classes)`` = [z; one_hot(labels)] against what gankit's
    ConditionalGenerator feeds its layers, naming the usual slips."""
    z, y = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([3, 0, 9, 3, 1])
    G = ConditionalGenerator(ConditionalGeneratorConfig(latent_dim=4, width=4)).eval()
    out = run_student(fn, "one_hot_concat", z, y, 10)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(tr("one_hot_concat should return a tensor, got {kind}.", kind=type(out).__name__))
    hints = {(5, 5): tr("it looks like the label number itself was appended; append a one-hot vector of 10 "
                        "numbers instead (F.one_hot(labels, n_classes))."),
             (10, 4): tr("z and the one-hot were stacked along dim 0 (more rows); glue them along dim=1, the "
                         "features."),
             (5, 10): tr("only the one-hot came back; append it to z.")}
    if out.shape != (5, 14):
        raise CheckFailed(tr("one_hot_concat returned shape {shape}, expected (5, 14) = "
                             "(batch, latent_dim + n_classes): {hint}", shape=tuple(out.shape),
                             hint=hints.get(tuple(out.shape), tr("check the dims."))))
    if not out.dtype.is_floating_point:
        raise CheckFailed(tr("one_hot_concat returned a {dtype} tensor: F.one_hot gives integers; "
                             "turn them into floats (.float() or .to(z.dtype)) before concatenating.", dtype=out.dtype))
    if torch.equal(out[:, 10:], z) and torch.equal(out[:, :10].argmax(1), y):
        raise CheckFailed(tr("the one-hot comes first; put the noise first, [z; e_y], the order "
                             "ConditionalGenerator's first layer was built for."))
    with torch.no_grad():
        same = torch.allclose(G.body(out), G(z, y))  # the student's input, through lesson 02's generator
    if not same:
        raise CheckFailed(tr("one_hot_concat has the right shape but wrong values: the first 4 columns "
                             "must be z unchanged, the last 10 a single 1 at column 4 + y."))
    print(tr("✓ one_hot_concat is right: G(z, y) = DCGAN generator([z; one_hot(y)]), exactly what gankit's "
             "ConditionalGenerator does."))


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
        raise CheckFailed(tr("The measurement itself looks wrong (ratio {measured}, mean D(G(z)) {d}): run the cell "
                             "that trains the confident D, then this one, without changes.", measured=measured, d=d))
    close = abs(math.log(predicted / measured)) <= math.log(2) if predicted > 0 else False
    if close:
        print(tr("✓ You predicted {predicted:,.4g}; the measured ratio is {measured:,.4g} (within a factor of 2). "
                 "Per sample the two gradients with respect to the logit are −(1 − D) and −D, and the chain rule "
                 "multiplies both by the same ∂a/∂θ: with mean D(G(z)) = {d:.2e}, (1 − D)/D = {per_sample:,.4g}.",
                 predicted=predicted, measured=measured, d=d, per_sample=(1 - d) / d))
        return
    per_sample = (1 - d) / d
    if predicted <= 0:
        hint = tr("a ratio of two norms is positive.")
    elif math.isclose(predicted, d / (1 - d), rel_tol=0.5) or math.isclose(predicted, d, rel_tol=0.5):
        hint = tr("that is the ratio the other way round (saturating / non-saturating). The question asks how many "
                  "times LARGER the non-saturating gradient is.")
    elif predicted <= 2:
        hint = tr("you predicted that the two losses send gradients of about the same size, or that the saturating "
                  "one is larger. Look at the gradient with respect to the logit a: −σ(a) for the saturating loss, "
                  "−(1 − σ(a)) for the non-saturating one, and σ(a) = D(G(z)) is tiny against this D.")
    elif predicted > measured:
        hint = tr("the saturating gradient is small but not zero: per sample it is the non-saturating one scaled "
                  "by D/(1 − D). With mean D(G(z)) = {d:.2e}, expect a ratio near (1 − D)/D = {per_sample:,.4g}.",
                  d=d, per_sample=per_sample)
    else:
        hint = tr("the gap is bigger than you predicted. Per sample, the saturating gradient with respect to the logit "
                  "is −D and the non-saturating one −(1 − D); the rest of the chain rule is the same for both. With "
                  "mean D(G(z)) = {d:.2e}, that is a factor of about (1 − D)/D = {per_sample:,.4g}.",
                  d=d, per_sample=per_sample)
    raise CheckFailed(tr("You predicted a ratio of {predicted:,.4g}; the measurement gave {measured:,.4g} "
                         "(a prediction within a factor of 2 passes): {hint}",
                         predicted=predicted, measured=measured, hint=hint))


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
        raise CheckFailed(tr("head_start_steps should be a whole number of D updates (0 or more), got {steps}.",
                             steps=head_start_steps))
    steps, before = int(steps), float(d_fake_before)
    if steps == steps_before:
        raise CheckFailed(tr("head_start_steps = {steps} is the head start D already had: change it, so that D is "
                             "less sure of itself.", steps=steps))
    if steps > steps_before:
        raise CheckFailed(tr("{steps} steps make D even more confident than the {steps_before} above; the exercise "
                             "asks for a shorter head start.", steps=steps, steps_before=steps_before))
    d, ratio = (float(v) for v in measure(steps))
    if d > 0.1:
        raise CheckFailed(tr("After {steps} steps D's mean belief in G's samples is {d:.3f}: D has hardly started, and "
                             "near D = 1/2 the two losses send gradients of about the same size, which says little. "
                             "Give D more steps, so that the belief lands between 0.001 and 0.1.", steps=steps, d=d))
    if d < 1e-3:
        raise CheckFailed(tr("After {steps} steps D's mean belief in G's samples is still {d:.1e}, almost as confident "
                             "as with {steps_before}. Give it fewer steps, so that the belief lands between 0.001 and "
                             "0.1.", steps=steps, d=d, steps_before=steps_before))
    expected = (1 - d) / d
    for n, d_mean, measured, per_sample in [(steps_before, before, ratio_before, (1 - before) / before),
                                            (steps, d, ratio, expected)]:
        print(tr("head start {steps:>4} steps: mean D(G(z)) = {d:.2e}, measured ratio {ratio:,.4g}, "
                 "(1 − D)/D = {per_sample:,.4g}", steps=n, d=d_mean, ratio=measured, per_sample=per_sample))
    lesson_check(
        abs(math.log(ratio / expected)) <= math.log(1.5) and ratio < ratio_before,
        "A shorter head start, a less confident D ({before:.1e} → {d:.3f}), a ratio {fall:,.0f} times "
        "smaller: at both points the saturating gradient is the non-saturating one scaled by about D/(1 − D).",
        "The measured ratio {ratio:,.4g} is not (1 − D)/D = {expected:,.4g} within a factor of 1.5 (or did not fall "
        "below {ratio_before:,.4g}): the per-sample argument of section 5 did not describe this run. Were the same "
        "noise and the same G used for both measurements?",
        before=before, d=d, fall=ratio_before / ratio, ratio=ratio, expected=expected, ratio_before=ratio_before,
    )


# --------------------------------------------------------------------------- lesson 02: predict, then count


def _pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns, right-aligned (left-aligned for a
    negative width); a Chinese character takes two columns, so a translated table header still lines up."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    fill = " " * max(0, abs(width) - columns)
    return text + fill if width < 0 else fill + text


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
    header = " ".join([_pad(tr("layer"), -46), _pad(tr("you predicted"), 14), _pad(tr("counted"), 10)])
    rows = [f"{f'G.project[0]: Linear({z} -> {outs})':<46} {got_p:>14,.0f} {n_p:>10,}",
            f"{f'G.upsample[0]: ConvTranspose2d({c_in} -> {c_out}, {k}x{k})':<46} {got_c:>14,.0f} {n_c:>10,}"]
    print(header, *rows, sep="\n")
    print(tr("the whole generator: {total:,} parameters, {share:.0%} of them in the projection",
             total=total, share=n_p / total))
    wrong = []
    if got_p != n_p:
        wrong.append(tr("Projection: {hint}", hint=diagnose(got_p, {
            tr("a linear layer has one weight per (input, output) pair, and its outputs are all {maps}·{side}·{side} "
               "= {outs:,} numbers of the feature maps, not just the {maps} maps.", maps=maps, side=side, outs=outs):
                z * maps,
            tr("that counts a bias per output; this layer has bias=False (the batch norm after it has its own shift)."):
                z * outs + outs,
            tr("the projection makes 2·width = {maps} feature maps, not width.", maps=maps): z * (maps // 2) * side * side,
            tr("the maps it makes are {side}×{side} (a quarter of the image side), not 28×28.", side=side):
                z * maps * 28 * 28,
        }, fallback=tr("count latent_dim × (2·width · {side} · {side}) weights (see DCGANGenerator.project).",
                       side=side))))
    if got_c != n_c:
        wrong.append(tr("Transposed convolution: {hint}", hint=diagnose(got_c, {
            tr("a convolution's kernel is a {k}×{k} patch, so each (input, output) channel pair has {taps} "
               "weights, not one.", k=k, taps=k * k): c_in * c_out,
            tr("the kernel is {k}×{k}: {taps} weights per channel pair, not {k}.", k=k, taps=k * k): c_in * c_out * k,
            tr("a convolution shares its kernel across every position of the map: the count does not depend on the "
               "map's size ({side}×{side} in, {out_side}×{out_side} out).", side=side, out_side=2 * side):
                c_in * c_out * k * k * side * side,
            tr("a convolution shares its kernel across every position of the map: the count does not depend on "
               "the map's size ({out_side}×{out_side} out).", out_side=2 * side): c_in * c_out * k * k * 4 * side * side,
            tr("that counts a bias per output channel; this layer has bias=False (batch norm follows)."):
                c_in * c_out * k * k + c_out,
            tr("there is one {k}×{k} kernel per (input channel, output channel) pair: {c_in} × {c_out} of them.",
               k=k, c_in=c_in, c_out=c_out): c_in * k * k,
        }, fallback=tr("count in_channels × out_channels × kernel × kernel ({c_in}, {c_out}, {k}; no bias).",
                       c_in=c_in, c_out=c_out, k=k))))
    if wrong:
        raise CheckFailed(" ".join(wrong))
    print(tr("✓ Both right. The projection holds {share:.0%} of G's parameters: a linear layer pays for every "
             "(input, output) pair, while a convolution reuses one small kernel at every position of the map.",
             share=n_p / total))


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
            raise CheckFailed(tr("{name} should be a whole number, got {value}.", name=name, value=value))
        values.append(int(number))
    k, p, op = values
    if k < 1 or p < 0 or op < 0:
        raise CheckFailed(tr("kernel_size must be ≥ 1 and padding, output_padding ≥ 0; got {k}, {p}, {op}.",
                             k=k, p=p, op=op))
    if op >= 2:
        raise CheckFailed(tr("output_padding = {op}: PyTorch allows it only below the stride (2), so 0 or 1.", op=op))
    if p >= k:
        raise CheckFailed(tr("padding {p} is not smaller than the kernel {k}: it would crop away all the kernel adds.",
                             p=p, k=k))
    try:
        counts = _stamp_counts(k, p, op)
    except RuntimeError as exc:
        raise CheckFailed(tr("PyTorch refused ConvTranspose2d(kernel={k}, stride=2, padding={p}, "
                             "output_padding={op}): {exc}", k=k, p=p, op=op, exc=exc)) from exc
    size = counts.shape[-1]
    if size != 14:
        raise CheckFailed(tr("With kernel {k}, padding {p}, output_padding {op} a 7×7 map becomes {size}×{size}, not "
                             "14×14: the size is (7 − 1)·2 − 2·padding + kernel + output_padding. With an odd kernel, "
                             "output_padding = 1 adds the one row and column that the formula leaves out.",
                             k=k, p=p, op=op, size=size))
    # away from the border, where fewer input pixels reach; a kernel of 7 or more would crop everything
    # (7×7 input), so at most down to the central 4×4 patch
    crop = min(k, size // 2 - 2)
    inner = counts[crop:size - crop, crop:size - crop]
    low, high = inner.min().item(), inner.max().item()
    even = _stamp_counts(4, 1, 0)[4:-4, 4:-4]
    print(tr("taps per output pixel, a 4x4 patch away from the border (kernel {k}):", k=k))
    for row in inner[:4, :4].int().tolist():
        print("   ", *(f"{v:2d}" for v in row))
    print(tr("the lesson's kernel 4: every pixel away from the border gets {taps} taps (from {low} to {high})",
             taps=int(even.min()), low=int(even.min()), high=int(even.max())))
    if low == 0:
        raise CheckFailed(tr("Kernel {k} is smaller than the stride 2, so some output pixels get no tap at all (the "
                             "zeros above): that is a grid of holes, not overlapping stamps. Pick a kernel larger than "
                             "the stride that the stride does not divide.", k=k))
    if k % 2 == 0 or high == low:
        raise CheckFailed(tr("Kernel {k} is divisible by the stride 2, so every output pixel gets the same number of "
                             "taps ({taps}): no checkerboard. The exercise asks for a kernel that 2 does not divide.",
                             k=k, taps=int(low)))
    print(tr("✓ Kernel {k} keeps 7 → 14 but stamps unevenly: neighbouring pixels get between {low} and {high} "
             "taps, a {ratio:.0f}:1 checkerboard before any training (kernel 4: {even} taps everywhere).",
             k=k, low=int(low), high=int(high), ratio=high / low, even=int(even.min())))
