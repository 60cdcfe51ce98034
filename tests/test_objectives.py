"""gankit.train objectives: WGAN-GP's penalty against hand-computed values, its
interpolation weight's distribution, conditional training and the lr schedule — all
through the one train_gan loop."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.data import ring8
from gankit.models import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig
from gankit.train import (
    GANTrainConfig,
    StandardGAN,
    WGANGP,
    discriminator_loss,
    gradient_penalty,
    interpolate,
    train_gan,
)


def linear_critic(w: torch.Tensor):
    """D(x) = Σ w·x (+ 3): its gradient is w at every point, whatever x is."""
    return lambda x: (x * w).flatten(1).sum(1) + 3.0


# --------------------------------------------------------------------------- the penalty


def test_gradient_penalty_of_a_linear_critic_is_known():
    w = torch.tensor([3.0, 4.0])  # ‖w‖ = 5 → penalty (5 − 1)² = 16 at every interpolate
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    gp, norms = gradient_penalty(linear_critic(w), real, fake)
    assert torch.allclose(norms, torch.full((64,), 5.0))
    assert gp.item() == pytest.approx(16.0)


def test_gradient_norm_is_per_example_over_all_its_dimensions():
    # images: w has 1·2·2 entries, all 0.5 → ‖w‖ = sqrt(4 · 0.25) = 1 → zero penalty.
    # A norm taken over the whole batch (a classic slip) would give sqrt(B) instead of 1.
    w = torch.full((1, 2, 2), 0.5)
    gp, norms = gradient_penalty(linear_critic(w), torch.randn(16, 1, 2, 2), torch.randn(16, 1, 2, 2))
    assert torch.allclose(norms, torch.ones(16))
    assert gp.item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_hand_computed_for_a_quadratic_critic():
    # D(x) = ½‖x‖² has gradient x̂; with real = fake = x the interpolate is x itself, so
    # the penalty is mean over examples of (‖x‖ − 1)².
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0], [0.6, 0.8], [0.0, 0.0]])
    gp, norms = gradient_penalty(lambda v: 0.5 * (v ** 2).sum(1), x, x.clone())
    assert torch.allclose(norms, torch.tensor([5.0, 1.0, 1.0, 0.0]))
    assert gp.item() == pytest.approx((16 + 0 + 0 + 1) / 4)


def test_gradient_penalty_trains_the_critic():
    D = nn.Linear(2, 1)
    gp, _ = gradient_penalty(lambda x: D(x).squeeze(1), torch.randn(8, 2), torch.randn(8, 2))
    gp.backward()  # create_graph=True: the penalty has a gradient with respect to D's weights
    assert D.weight.grad is not None and D.weight.grad.abs().sum() > 0


def test_interpolation_weight_is_uniform_per_example():
    # real = 1, fake = 0 → the interpolate *is* α, so we can read α off directly.
    n = 20000
    alpha = interpolate(torch.ones(n, 3, 2), torch.zeros(n, 3, 2), torch.Generator().manual_seed(0))
    per_example = alpha.flatten(1)
    assert torch.equal(per_example, per_example[:, :1].expand_as(per_example)), "one α per example"
    a = per_example[:, 0]
    assert 0 <= a.min() and a.max() <= 1
    # U(0, 1): mean 1/2, variance 1/12, and each tenth of [0, 1] holds ~10 % of the weights
    # (a Beta, a normal or a single α for the whole batch fails these).
    assert a.mean().item() == pytest.approx(0.5, abs=0.01)
    assert a.var().item() == pytest.approx(1 / 12, abs=0.003)
    counts = torch.histc(a, bins=10, min=0, max=1) / n
    assert torch.all((counts - 0.1).abs() < 0.01), counts


def test_interpolate_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="same shape"):
        interpolate(torch.zeros(4, 2), torch.zeros(5, 2))


def test_wgan_gp_losses_by_hand():
    w = torch.tensor([0.6, 0.8])  # ‖w‖ = 1: the penalty vanishes
    obj = WGANGP(lambda_gp=10)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    critic = linear_critic(w)
    real_out, fake_out = critic(real), critic(fake)
    loss, stats = obj.d_loss(critic, real, fake, real_out, fake_out)
    assert loss.item() == pytest.approx((fake_out.mean() - real_out.mean()).item(), abs=1e-5)
    assert stats["gp"] == pytest.approx(0.0, abs=1e-10) and stats["grad_norm"] == pytest.approx(1.0)
    assert stats["wasserstein"] == pytest.approx((real_out.mean() - fake_out.mean()).item(), abs=1e-5)
    assert obj.g_loss(fake_out).item() == pytest.approx(-fake_out.mean().item())
    # with ‖w‖ = 2 the penalty adds λ · (2 − 1)² = 10
    critic2 = linear_critic(2 * w)
    loss2, _ = obj.d_loss(critic2, real, fake, critic2(real), critic2(fake))
    assert loss2.item() == pytest.approx(2 * loss.item() + 10, abs=1e-4)


def test_wgan_gp_rejects_negative_weight():
    with pytest.raises(ValueError, match="lambda_gp"):
        WGANGP(lambda_gp=-1)


# --------------------------------------------------------------------------- the loop


def tiny(seed=0):
    torch.manual_seed(seed)
    return (MLPGenerator(MLPGeneratorConfig(hidden_dim=16, n_hidden=2)),
            MLPDiscriminator(MLPDiscriminatorConfig(hidden_dim=16, n_hidden=2)))


def test_train_gan_with_wgan_gp_records_its_extras():
    G, D = tiny()
    data = ring8().sample(500, seed=0)
    cfg = GANTrainConfig(steps=5, batch_size=32, d_steps=5, lr=1e-4, betas=(0.5, 0.9),
                         progress=False, seed=0)
    history = train_gan(G, D, data, cfg, objective=WGANGP(generator=torch.Generator().manual_seed(0)))
    assert len(history) == 5
    assert set(history.extras) == {"d_loss", "g_loss", "d_real", "d_fake", "wasserstein", "gp", "grad_norm"}
    assert all(len(v) == 5 for v in history.extras.values())
    # d_real / d_fake are raw critic scores for a WGAN, not probabilities
    assert history.d_real[0] - history.d_fake[0] == pytest.approx(history.extras["wasserstein"][0], abs=1e-5)


def test_standard_objective_equals_the_default():
    data = ring8().sample(500, seed=0)
    cfg = GANTrainConfig(steps=5, batch_size=32, progress=False, seed=0)
    runs = []
    for objective in (None, StandardGAN("nonsaturating")):
        G, D = tiny()
        runs.append(train_gan(G, D, data, cfg, objective=objective).d_loss)
    assert runs[0] == runs[1]


def test_label_smoothing_by_hand():
    # real logit 2, fake logit -1, real_label 0.9:
    # 0.9·softplus(-2) + 0.1·softplus(2) + softplus(-1) = 0.9·0.126928 + 0.1·2.126928 + 0.313262
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    assert discriminator_loss(real, fake, real_label=0.9).item() == pytest.approx(0.640190, abs=1e-5)
    assert discriminator_loss(real, fake).item() == pytest.approx(0.126928 + 0.313262, abs=1e-5)
    assert torch.equal(discriminator_loss(real, fake, 1.0), discriminator_loss(real, fake))


def test_label_smoothing_moves_the_optimum_to_real_label():
    # the smoothed real term is minimised where D(x) = σ(a) = 0.9, i.e. at the logit log 9, not at +∞
    a = torch.tensor([math.log(9.0)], requires_grad=True)
    discriminator_loss(a, torch.tensor([-50.0]), real_label=0.9).backward()
    assert abs(a.grad.item()) < 1e-6
    b = torch.tensor([math.log(9.0)], requires_grad=True)
    discriminator_loss(b, torch.tensor([-50.0])).backward()
    assert b.grad.item() < -0.05  # unsmoothed: still pushing D(x) towards 1


def test_standard_gan_real_label():
    objective = StandardGAN(real_label=0.9)
    loss, _ = objective.d_loss(None, None, None, torch.tensor([2.0]), torch.tensor([-1.0]))
    assert loss.item() == pytest.approx(0.640190, abs=1e-5)
    with pytest.raises(ValueError, match="real_label must be in"):
        StandardGAN(real_label=1.5)
    with pytest.raises(ValueError, match="your own"):
        StandardGAN(d_loss_fn=discriminator_loss, real_label=0.9)


def test_objective_and_loss_functions_are_exclusive():
    G, D = tiny()
    with pytest.raises(ValueError, match="not both"):
        train_gan(G, D, ring8().sample(100, seed=0), GANTrainConfig(steps=1, progress=False),
                  objective=WGANGP(), d_loss_fn=discriminator_loss)


def test_linear_lr_schedule_decays_to_zero():
    G, D = tiny()
    cfg = GANTrainConfig(steps=4, batch_size=16, progress=False, seed=0, lr_schedule="linear")
    seen = []
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **kw):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **kw)

    torch.optim.AdamW.step = spy
    try:
        train_gan(G, D, ring8().sample(100, seed=0), cfg)
    finally:
        torch.optim.AdamW.step = real_step
    lr = cfg.lr
    # (D step, G step) per iteration; factors 1, 3/4, 1/2, 1/4
    assert seen == pytest.approx([lr, lr, 0.75 * lr, 0.75 * lr, 0.5 * lr, 0.5 * lr, 0.25 * lr, 0.25 * lr])
    with pytest.raises(ValueError, match="lr_schedule"):
        GANTrainConfig(lr_schedule="exponential")


class CondG(nn.Module):
    """A tiny conditional generator: noise plus a one-hot label, for the loop's tests."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Linear(2 + n_classes, 2)
        self.seen = []

    def sample_noise(self, n, device=None, generator=None):
        return torch.randn(n, 2, generator=generator).to(device)

    def forward(self, z, y):
        self.seen.append(y.detach().clone())
        return self.net(torch.cat([z, nn.functional.one_hot(y, self.n_classes).float()], 1))


class CondD(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Linear(2 + n_classes, 1)

    def forward(self, x, y):
        return self.net(torch.cat([x, nn.functional.one_hot(y, self.n_classes).float()], 1)).squeeze(1)


def test_conditional_training_passes_labels_from_the_data():
    torch.manual_seed(0)
    G, D = CondG(), CondD()
    x = torch.randn(300, 2)
    y = torch.tensor([0] * 200 + [2] * 100)  # class 1 never occurs
    history = train_gan(G, D, (x, y), GANTrainConfig(steps=20, batch_size=64, progress=False, seed=0,
                                                      snapshot_every=10))
    drawn = torch.cat(G.seen[1:])  # G.seen[0] is the fixed snapshot batch
    fakes = torch.cat([t for t in G.seen if len(t) == 64])
    assert set(fakes.tolist()) == {0, 2}, "fake labels follow the data's labels"
    assert (fakes == 0).float().mean().item() == pytest.approx(2 / 3, abs=0.05)
    snap = history.snapshots[-1]
    assert snap["samples"].shape == (512, 2) and snap["labels"][:4].tolist() == [0, 1, 2, 0]
    assert len(drawn) > 0


def test_conditional_training_with_wgan_gp():
    G, D = CondG(), CondD()
    x, y = torch.randn(100, 2), torch.randint(3, (100,))
    history = train_gan(G, D, (x, y), GANTrainConfig(steps=3, batch_size=16, progress=False, seed=0),
                        objective=WGANGP())
    assert math.isfinite(history.extras["gp"][-1])


@pytest.mark.parametrize(
    "data, match",
    [
        ((torch.randn(10, 2), torch.randint(3, (9,))), "10 examples but 9 labels"),
        ((torch.randn(10, 2), torch.rand(10)), "integer class indices"),
        ((torch.randn(10, 2), -torch.ones(10, dtype=torch.long)), "≥ 0"),
        ((torch.randn(10, 2), torch.full((10,), 5)), "n_classes=3"),
        ((torch.randn(10, 2),), "pair"),
    ],
)
def test_conditional_data_errors(data, match):
    with pytest.raises(ValueError, match=match):
        G, D = CondG(), CondD()
        G.config = type("C", (), {"n_classes": 3})()
        train_gan(G, D, data, GANTrainConfig(steps=1, progress=False))
