"""The VAE: its ELBO terms against hand-computed values, the ELBO's scaling, the
importance-weighted bound, shapes, one optimisation step, the training loop, PSNR/SSIM."""

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.metrics import psnr, ssim
from gankit.models import MODELS
from gankit.models.vae import (
    VAE,
    VAEConfig,
    bernoulli_log_likelihood,
    categorical_log_likelihood,
    elbo,
    gaussian_kl,
    importance_weighted_nll,
    log_normal,
    reparameterize,
    to_levels,
)
from gankit.train import TrainingDiverged, History, VAETrainConfig, evaluate_vae, train_vae
from gankit.models import load_checkpoint, save_checkpoint


def small_vae(**changes) -> VAE:
    torch.manual_seed(0)
    base = dict(image_size=8, latent_dim=3, hidden_dims=[16])
    base.update(changes)
    return VAE(VAEConfig(**base))


# --------------------------------------------------------------------------- the KL term


def test_kl_of_the_prior_itself_is_zero():
    assert torch.allclose(gaussian_kl(torch.zeros(4, 5), torch.zeros(4, 5)), torch.zeros(4))


def test_kl_against_hand_computed_values():
    # one dimension: KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²)
    # μ = 1, σ² = 1: ½(1 + 1 − 1 − 0) = 0.5
    # μ = 0, σ² = e: ½(0 + e − 1 − 1) = (e − 2)/2
    # μ = 2, σ² = e⁻²: ½(4 + e⁻² − 1 + 2) = (5 + e⁻²)/2
    mu = torch.tensor([[1.0, 0.0, 2.0]])
    logvar = torch.tensor([[0.0, 1.0, -2.0]])
    expected = 0.5 + (math.e - 2) / 2 + (5 + math.exp(-2)) / 2  # summed over the latent dims
    assert gaussian_kl(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


def test_kl_matches_torch_distributions_per_example():
    torch.manual_seed(0)
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(6, 4), torch.ones(6, 4))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    got = gaussian_kl(mu, logvar)
    assert got.shape == (6,)
    assert torch.allclose(got, expected, atol=1e-5)


def test_kl_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))


# --------------------------------------------------------------------------- reparameterisation, likelihoods


def test_reparameterize_is_mu_plus_sigma_eps_and_differentiable():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2.0 * math.log(3.0)]], requires_grad=True)  # σ = 1 and 3
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    eps = torch.randn((1, 2), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z, mu.detach() + torch.tensor([[1.0, 3.0]]) * eps)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones(1, 2))  # dz/dμ = 1
    assert torch.allclose(logvar.grad, 0.5 * torch.tensor([[1.0, 3.0]]) * eps)  # dz/dlogvar = ½σε


def test_reparameterize_has_the_right_moments():
    mu, logvar = torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(0.25))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    assert z.mean().item() == pytest.approx(2.0, abs=0.02)
    assert z.std().item() == pytest.approx(0.5, abs=0.02)


def test_bernoulli_log_likelihood_hand_values():
    # logit 0 → p = ½ for every pixel: log p(x|z) = D·log ½ whatever x is
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    assert bernoulli_log_likelihood(torch.zeros_like(x), x).item() == pytest.approx(4 * math.log(0.5))
    # one pixel, logit a, x = 1: log σ(a)
    a = torch.tensor([[2.0]])
    assert bernoulli_log_likelihood(a, torch.ones(1, 1)).item() == pytest.approx(math.log(1 / (1 + math.exp(-2))))


def test_categorical_log_likelihood_hand_values():
    # 3 levels, 2 pixels, uniform logits: log p = 2·log ⅓
    logits = torch.zeros(1, 3, 2)
    assert categorical_log_likelihood(logits, torch.tensor([[0, 2]])).item() == pytest.approx(2 * math.log(1 / 3))
    logits = torch.tensor([[[0.0], [math.log(3.0)], [0.0]]])  # probabilities 1/5, 3/5, 1/5
    assert categorical_log_likelihood(logits, torch.tensor([[1]])).item() == pytest.approx(math.log(0.6))


def test_categorical_log_likelihood_rejects_levels_out_of_range():
    with pytest.raises(ValueError, match="0…2"):
        categorical_log_likelihood(torch.zeros(1, 3, 2), torch.tensor([[0, 3]]))


def test_to_levels():
    assert to_levels(torch.tensor([0.0, 0.5, 1.0, 15 / 16]), 17).tolist() == [0, 8, 16, 15]


def test_elbo_is_recon_minus_beta_kl():
    recon, kl = torch.tensor([-10.0, -20.0]), torch.tensor([3.0, 4.0])
    assert elbo(recon, kl).tolist() == [-13.0, -24.0]
    assert elbo(recon, kl, beta=2.0).tolist() == [-16.0, -28.0]


def test_log_normal_matches_torch():
    torch.manual_seed(0)
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    expected = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    assert torch.allclose(log_normal(z, mu, logvar), expected, atol=1e-5)
    assert torch.allclose(log_normal(z), torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1), atol=1e-5)


# --------------------------------------------------------------------------- the ELBO's scaling


def test_loss_is_per_image_summed_over_pixels_averaged_over_batch():
    model = small_vae()
    x = (torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    gen = torch.Generator().manual_seed(3)
    loss, stats = model.loss(x, generator=gen)

    # the same computation by hand
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    logits = model.decode(z)
    # −log p(x|z): summed over the 64 pixels of each image, then averaged over the 5 images
    nll_per_image = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 5
    kl_per_image = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum() / 5  # summed over latent dims
    assert loss.item() == pytest.approx((nll_per_image + kl_per_image).item(), rel=1e-5)
    assert stats["recon"] == pytest.approx(nll_per_image.item(), rel=1e-5)
    assert stats["kl"] == pytest.approx(kl_per_image.item(), rel=1e-5)
    assert stats["nelbo"] == pytest.approx(loss.item(), rel=1e-5)


def test_loss_does_not_depend_on_batch_size():
    model = small_vae()
    x = (torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    model.eval()
    with torch.no_grad():  # logvar → −inf makes z = μ: a deterministic comparison
        model.encoder[-1].bias[3:] = -60.0
        one, _ = model.loss(x)
        four, _ = model.loss(x.repeat(4, 1, 1, 1))
    assert one.item() == pytest.approx(four.item(), rel=1e-5)


def test_untrained_loss_is_of_the_order_of_pixels_times_log2():
    # an untrained Bernoulli decoder says ≈ ½ for every pixel: about 64·log 2 ≈ 44 nats per 8×8 image
    model = small_vae()
    x = (torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    _, stats = model.loss(x)
    assert 30 < stats["recon"] < 70


def test_beta_weights_the_kl_in_the_loss_but_not_in_nelbo():
    model = small_vae(beta=4.0)
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    loss, stats = model.loss(x, generator=torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(stats["recon"] + 4.0 * stats["kl"], rel=1e-5)
    assert stats["nelbo"] == pytest.approx(stats["recon"] + stats["kl"], rel=1e-5)


def test_categorical_decoder_loss_scale():
    model = small_vae(likelihood="categorical", levels=17)
    x = torch.randint(0, 17, (10, 1, 8, 8)).float() / 16
    _, stats = model.loss(x)
    assert stats["recon"] == pytest.approx(64 * math.log(17), rel=0.15)  # near-uniform at the start


# --------------------------------------------------------------------------- the importance-weighted bound


@pytest.fixture(scope="module")
def trained_small_vae():
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_size=8, latent_dim=2, hidden_dims=[32]))
    x = (torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.6).float()
    train_vae(model, x, VAETrainConfig(steps=150, batch_size=32, progress=False, seed=0))
    return model.eval(), x


def test_iw_at_k1_equals_the_elbo_in_expectation(trained_small_vae):
    model, x = trained_small_vae
    xs = x[:8].repeat(500, 1, 1, 1)  # 500 independent one-sample estimates of each image's −ELBO
    iw1 = importance_weighted_nll(model, xs, k=1, batch_size=4000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mu, logvar = model.encode(x[:8])
        kl = gaussian_kl(mu, logvar)  # the analytic KL; the IW estimate uses log p(z) − log q(z|x) instead
        z = reparameterize(mu.repeat(500, 1), logvar.repeat(500, 1), torch.Generator().manual_seed(1))
        recon = model.log_likelihood(model.decode(z), xs).view(500, 8).mean(0)
    nelbo = -(recon - kl)  # (8,)
    iw1_mean = iw1.view(500, 8).mean(0)
    stderr = iw1.view(500, 8).std(0) / math.sqrt(500)
    assert (iw1_mean - nelbo).abs().max() < 5 * stderr.max() + 0.1


def test_iw_bound_is_never_above_the_elbo_bound_on_average(trained_small_vae):
    model, x = trained_small_vae
    gen = torch.Generator().manual_seed(0)
    nll_1 = torch.stack([importance_weighted_nll(model, x, k=1, generator=gen) for _ in range(50)]).mean(0)
    nll_10 = torch.stack([importance_weighted_nll(model, x, k=10, generator=gen) for _ in range(50)]).mean(0)
    nll_100 = importance_weighted_nll(model, x, k=100, generator=gen)
    # −IW_k is an upper bound on −log p(x) that shrinks with k: on average over images, and for the mean
    assert nll_10.mean() <= nll_1.mean()
    assert nll_100.mean() <= nll_10.mean() + 0.05
    assert (nll_10 <= nll_1 + 0.05).float().mean() > 0.9


def test_iw_rejects_bad_k(trained_small_vae):
    model, x = trained_small_vae
    with pytest.raises(ValueError, match="positive int"):
        importance_weighted_nll(model, x, k=0)


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize("likelihood,levels", [("bernoulli", 2), ("categorical", 17)])
def test_shapes(likelihood, levels):
    model = small_vae(likelihood=likelihood, levels=levels)
    x = torch.rand(5, 1, 8, 8)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    logits = model.decode(model.reparameterize(mu, logvar))
    assert logits.shape == ((5, 1, 8, 8) if likelihood == "bernoulli" else (5, 17, 64))
    assert model.log_likelihood(logits, x).shape == (5,)
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert model.reconstruct(x).shape == (5, 1, 8, 8)
    assert importance_weighted_nll(model, x, k=4).shape == (5,)


def test_one_optimisation_step_lowers_the_loss_on_that_batch():
    model = small_vae()
    x = (torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before, _ = model.loss(x, generator=torch.Generator().manual_seed(0))
    opt.zero_grad()
    before.backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.step()
    after, _ = model.loss(x, generator=torch.Generator().manual_seed(0))
    assert after.item() < before.item()


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (2, 64), (2, 3, 8, 8)])
def test_wrong_image_size_is_a_clear_error(shape):
    model = small_vae()
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, 1, 8, 8\)") as info:
        model.loss(torch.rand(*shape))
    assert "VAEConfig(image_size" in str(info.value)


def test_wrong_code_size_is_a_clear_error():
    with pytest.raises(ValueError, match=r"codes of shape \(batch, 3\)"):
        small_vae().decode(torch.zeros(2, 5))


@pytest.mark.parametrize("bad", [dict(latent_dim=0), dict(likelihood="gaussian"), dict(hidden_dims=[0]),
                                 dict(beta=-1.0), dict(activation="swish")])
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="VAEConfig"):
        VAEConfig(**bad)


def test_checkpoint_round_trip(tmp_path):
    assert MODELS["VAE"] is VAE
    model = small_vae(likelihood="categorical", levels=17, hidden_dims=[16, 8])
    save_checkpoint(tmp_path / "vae.pt", model, note="test")
    loaded = load_checkpoint(tmp_path / "vae.pt", expected=VAE)
    assert loaded.config == model.config
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(loaded.reconstruct(x), model.reconstruct(x))


# --------------------------------------------------------------------------- the training loop


def test_train_vae_history_and_validation():
    model = small_vae()
    x = (torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    history = train_vae(model, x, VAETrainConfig(steps=60, batch_size=32, eval_every=20, progress=False, seed=0),
                        val_data=x[:50])
    assert isinstance(history, History)
    assert len(history) == 60 == len(history.recon) == len(history.kl) == len(history.lr)
    assert history.val_step == [20, 40, 60]
    assert history.best_step in history.val_step
    assert history.loss[-1] < history.loss[0]
    # the model ends with the best weights: its validation −ELBO is the best one recorded
    assert evaluate_vae(model, x[:50])["nelbo"] == pytest.approx(min(history.val_nelbo), rel=1e-5)
    assert set(history.as_dict()) >= {"step", "loss", "extras", "val_step", "val_loss"}
    assert set(history.as_dict()["extras"]) == {"recon", "kl"} and history.val_nelbo is history.val_loss


def test_train_vae_with_labels_calls_loss_with_them():
    seen = []

    class Conditional(VAE):
        def loss(self, x, y=None, generator=None):
            seen.append(y)
            return super().loss(x, generator)

    torch.manual_seed(0)
    model = Conditional(VAEConfig(image_size=8, latent_dim=2, hidden_dims=[8]))
    x, y = torch.rand(40, 1, 8, 8), torch.arange(40) % 10
    train_vae(model, (x, y), VAETrainConfig(steps=3, batch_size=8, progress=False))
    assert all(labels is not None and labels.shape == (8,) for labels in seen)


def test_train_vae_patience_stops_early():
    model = small_vae()
    x = torch.rand(64, 1, 8, 8)
    cfg = VAETrainConfig(steps=400, batch_size=64, lr=0.5, eval_every=1, patience=2, progress=False, seed=0)
    try:
        history = train_vae(model, x, cfg, val_data=x)
    except TrainingDiverged:
        pytest.skip("diverged before patience ran out")
    assert history.stopped_early and len(history) < 400


def test_train_vae_nan_guard():
    model = small_vae()
    with torch.no_grad():
        model.decoder[-1].weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged) as info:
        train_vae(model, torch.rand(16, 1, 8, 8), VAETrainConfig(steps=5, batch_size=8, progress=False))
    assert isinstance(info.value.history, History) and len(info.value.history) == 0


def test_train_vae_interrupt_returns_history():
    calls = []

    class Interrupting(VAE):
        def loss(self, x, generator=None):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return super().loss(x, generator)

    torch.manual_seed(0)
    model = Interrupting(VAEConfig(image_size=8, latent_dim=2, hidden_dims=[8]))
    history = train_vae(model, torch.rand(16, 1, 8, 8), VAETrainConfig(steps=10, batch_size=8, progress=False))
    assert history.interrupted and len(history) == 3


@pytest.mark.parametrize("bad", [torch.zeros(0, 1, 8, 8), "images", (torch.rand(4, 1, 8, 8), torch.rand(4))])
def test_train_vae_bad_data(bad):
    with pytest.raises(ValueError):
        train_vae(small_vae(), bad, VAETrainConfig(steps=1, progress=False))


# --------------------------------------------------------------------------- PSNR and SSIM


def test_psnr_known_answers():
    x = torch.zeros(2, 1, 4, 4)
    assert torch.isinf(psnr(x, x)).all()
    y = torch.full((2, 1, 4, 4), 0.1)  # MSE 0.01 → 10·log10(1/0.01) = 20 dB
    assert torch.allclose(psnr(x, y), torch.tensor([20.0, 20.0]))
    half = x.clone()
    half[:, :, :2] = 1.0  # half the pixels wrong by 1: MSE ½ → 10·log10 2 ≈ 3.0103 dB
    assert psnr(x, half)[0].item() == pytest.approx(10 * math.log10(2), rel=1e-6)
    assert psnr(x * 255, y * 255, data_range=255)[0].item() == pytest.approx(20.0, rel=1e-6)


def test_ssim_identical_is_one_and_noise_lowers_it():
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(3))
    noisy = (x + 0.3 * torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert (ssim(x, noisy) < 0.9).all()


def test_psnr_ssim_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 9))
    with pytest.raises(ValueError, match="same shape"):
        ssim(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 9))


# --------------------------------------------------------------------------- the lesson's exercise check


def _right(logits, x, mu, logvar):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    return (recon + gaussian_kl(mu, logvar)).mean()


def test_check_negative_elbo_accepts_the_model_loss_formula():
    from gankit.checks import check_negative_elbo

    check_negative_elbo(_right)


@pytest.mark.parametrize("wrong,hint", [
    (lambda l, x, m, lv: -_right(l, x, m, lv), "sign is flipped"),
    (lambda l, x, m, lv: (F.binary_cross_entropy_with_logits(l, x, reduction="none").flatten(1).mean(1)
                          + gaussian_kl(m, lv)).mean(), "averaged over pixels"),
    (lambda l, x, m, lv: F.binary_cross_entropy_with_logits(l, x, reduction="none").flatten(1).sum(1).mean(),
     "KL term is missing"),
    (lambda l, x, m, lv: _right(l, x, m, lv) * 3, "sum over the batch"),
    (lambda l, x, m, lv: (F.binary_cross_entropy_with_logits(l, x, reduction="none").flatten(1).sum(1)
                          + 2 * gaussian_kl(m, lv)).mean(), "factor ½"),
])
def test_check_negative_elbo_names_the_mistake(wrong, hint):
    from gankit.checks import CheckFailed, check_negative_elbo

    with pytest.raises(CheckFailed, match=hint):
        check_negative_elbo(wrong)


def test_train_vae_augments_every_training_batch_and_never_validation():
    x = torch.rand(32, 1, 28, 28)
    calls = []

    def augment(batch, generator):
        calls.append((tuple(batch.shape), generator))
        return batch.flip(-1)

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden_dims=[32]))
    cfg = VAETrainConfig(steps=6, batch_size=8, seed=0, eval_every=3, progress=False)
    train_vae(model, x, cfg, val_data=x[:8], augment=augment)
    assert len(calls) == 6                                      # once per step; validation is not augmented
    assert all(shape == (8, 1, 28, 28) for shape, _ in calls)
    assert all(isinstance(g, torch.Generator) for _, g in calls)  # the loop's seeded generator: reproducible


def test_train_vae_with_random_shift_is_reproducible():
    from gankit.data import random_shift
    x = torch.rand(32, 1, 28, 28)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = VAE(VAEConfig(latent_dim=2, hidden_dims=[32]))
        train_vae(model, x, VAETrainConfig(steps=5, batch_size=8, seed=1, progress=False),
                  augment=lambda b, g: random_shift(b, 2, g))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_digits8_vae_anchor_learns_and_orders_its_bounds(monkeypatch):
    """make bench's VAE likelihood anchor (gankit.tools.bench.digits8_vae), shortened to 100
    steps: the model learns (its −ELBO far below the 64·ln 17 = 181.3 nats of a decoder
    that guesses every pixel level uniformly), and the importance-weighted NLL, a tighter
    bound, is below the −ELBO."""
    import dataclasses

    from gankit.tools import bench

    monkeypatch.setattr(bench, "DIGITS8_TRAIN_CONFIG",
                        dataclasses.replace(bench.DIGITS8_TRAIN_CONFIG, steps=100, eval_every=25))
    result = bench.digits8_vae(k=10)
    assert set(result) == {"test_nll", "test_nelbo", "train_seconds", "k", "steps"}
    assert result["steps"] <= 100 and result["k"] == 10
    assert result["test_nelbo"] < 0.7 * 64 * math.log(17)
    assert result["test_nll"] < result["test_nelbo"]
