"""Diffusion and flow matching (issue 16): the maths against known answers, the denoisers,
their checkpoints, and the loop on the shared core."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.models import load_checkpoint, save_checkpoint
from gankit.models.diffusion import (
    MLPDenoiser,
    MLPDenoiserConfig,
    cosine_schedule,
    ddim_step,
    ddpm_step,
    diffusion_loss,
    flow_interpolate,
    flow_velocity,
    guided_prediction,
    linear_schedule,
    make_schedule,
    predict,
    predict_x0,
    q_mean_std,
    q_sample,
    q_step,
    sample_ddim,
    sample_ddpm,
    sample_flow,
    timestep_embedding,
)
from gankit.models.unet import UNetConfig, UNetDenoiser
from gankit.train import DiffusionTrainConfig, History, TrainConfig, TrainingDiverged, train_diffusion

TINY_UNET = UNetConfig(image_size=8, base_channels=8, channel_mults=[1, 2], time_dim=16, groups=4)


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("make", [linear_schedule, cosine_schedule])
def test_alpha_bar_falls_from_one_to_nearly_zero(make):
    s = make(1000)
    ab = s.alpha_bars
    assert len(ab) == 1001 and s.timesteps == 1000
    assert ab[0] == 1.0 and s.betas[0] == 0.0  # index 0 is the data: no noise yet
    assert (ab[1:] < ab[:-1]).all()  # strictly decreasing: every step adds noise
    assert ab[-1] < 1e-4  # pure noise at T
    assert torch.allclose(ab, torch.cumprod(s.alphas, 0)) and torch.allclose(s.alphas, 1 - s.betas)
    assert (s.snr()[1:] < s.snr()[:-1]).all()


def test_the_schedules_claimed_endpoints():
    lin = linear_schedule(1000)
    assert lin.betas[1].item() == pytest.approx(1e-4) and lin.betas[-1].item() == pytest.approx(0.02)
    assert lin.alpha_bars[-1].item() == pytest.approx(4.04e-5, rel=0.01)  # Ho et al.'s ᾱ_T
    assert linear_schedule(100).alpha_bars[-1] < 1e-3  # end points scaled by 1000 / T
    cos = cosine_schedule(1000)
    # ᾱ_t = f(t)/f(0), f = cos²((t/T + s)/(1 + s)·π/2): at T/2 by hand
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert cos.alpha_bars[500].item() == pytest.approx(f(500) / f(0), rel=1e-9)
    assert cos.betas.max().item() == pytest.approx(0.999)  # clipped near T
    assert make_schedule("cosine", 1000) is make_schedule("cosine", 1000)
    with pytest.raises(ValueError, match="'linear', 'cosine'"):
        make_schedule("sigmoid")


# --------------------------------------------------------------------------- the forward process


def test_q_sample_is_the_closed_form():
    s = linear_schedule(100)
    x0, eps = torch.randn(5, 2), torch.randn(5, 2)
    t = torch.tensor([0, 1, 50, 99, 100])
    ab = s.alpha_bars[t].float()[:, None]
    assert torch.allclose(q_sample(x0, t, s, eps), ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    assert torch.equal(q_sample(x0, 0, s, eps), x0)  # t = 0: the data itself
    mean, std = q_mean_std(x0, t, s)
    assert torch.allclose(mean, ab.sqrt() * x0) and torch.allclose(std, (1 - ab).sqrt())


def test_q_sample_moments_match_the_closed_form_and_the_chain_step_by_step():
    s = cosine_schedule(50)
    gen = torch.Generator().manual_seed(0)
    n = 40_000
    x0 = torch.tensor([[1.5, -0.5]]).expand(n, 2)
    mean, std = q_mean_std(x0[:1], 30, s)
    jump = q_sample(x0, 30, s, generator=gen)  # one jump to t = 30
    chain = x0.clone()
    for t in range(1, 31):  # thirty small steps q(x_t | x_{t-1})
        chain = q_step(chain, t, s, generator=gen)
    for draws in (jump, chain):
        assert torch.allclose(draws.mean(0), mean[0], atol=0.02)  # standard error ≈ std / 200
        assert torch.allclose(draws.std(0), std[0, 0].expand(2), rtol=0.02)


def test_forward_process_rejects_bad_steps_and_shapes():
    s = linear_schedule(100)
    x0 = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"t must lie in 0 … 100"):
        q_sample(x0, torch.tensor([0, 50, 101]), s)
    with pytest.raises(ValueError, match=r"t must lie in 1 … 100"):
        q_step(x0, 0, s)
    with pytest.raises(ValueError, match="integer steps"):
        q_sample(x0, torch.tensor([0.5, 0.5, 0.5]), s)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        q_sample(x0, torch.tensor([1, 2]), s)
    with pytest.raises(ValueError, match="same shape"):
        q_sample(x0, 1, s, noise=torch.zeros(3, 3))


# --------------------------------------------------------------------------- denoising and sampling steps


def test_a_perfect_eps_predictor_recovers_x0_in_one_ddim_step():
    for s in (linear_schedule(1000), cosine_schedule(1000)):
        x0 = torch.randn(16, 2, dtype=torch.float64)
        eps = torch.randn(16, 2, dtype=torch.float64)
        for t in (1, 500, 1000):
            x_t = q_sample(x0, t, s, eps)
            assert torch.allclose(ddim_step(x_t, eps, t, 0, s), x0, atol=1e-6)  # the true noise: x₀ exactly
            assert torch.allclose(predict_x0(x_t, eps, t, s), x0, atol=1e-6)


def test_ddim_with_the_true_noise_stays_on_the_same_path():
    # deterministic DDIM from t to s with the true ε lands on q_sample(x0, s, ε): the same noise, less of it
    s = linear_schedule(100)
    x0, eps = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    assert torch.allclose(ddim_step(q_sample(x0, 80, s, eps), eps, 80, 30, s), q_sample(x0, 30, s, eps))


def test_ddpm_step_by_hand():
    s = linear_schedule(10)
    x_t, eps = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, -1.0]])
    t = 5
    beta, ab, ab_prev = (s.betas[t].item(), s.alpha_bars[t].item(), s.alpha_bars[t - 1].item())
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    z = torch.tensor([[1.0, 1.0]])
    expected = mean + math.sqrt((1 - ab_prev) / (1 - ab) * beta) * z  # σ² = β̃_t
    assert torch.allclose(ddpm_step(x_t, eps, t, s, noise=z), expected)
    assert torch.allclose(ddpm_step(x_t, eps, 1, s, noise=z), (x_t - math.sqrt(s.betas[1].item()) * eps)
                          / math.sqrt(s.alphas[1].item()))  # β̃₁ = 0: no noise on the last step
    with pytest.raises(ValueError, match="1 … 10"):
        ddpm_step(x_t, eps, 0, s)
    with pytest.raises(ValueError, match="0 ≤ s < t ≤ 10"):
        ddim_step(x_t, eps, 3, 5, s)


def test_flow_matching_target_by_hand():
    x0, eps = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    assert torch.equal(flow_velocity(x0, eps), torch.tensor([[2.0, -3.0]]))  # ε − x₀
    assert torch.allclose(flow_interpolate(x0, eps, 0.25), torch.tensor([[1.5, 1.25]]))  # 0.75·x₀ + 0.25·ε
    assert torch.equal(flow_interpolate(x0, eps, 0.0), x0) and torch.equal(flow_interpolate(x0, eps, 1.0), eps)
    # one Euler step of the exact velocity goes from the noise straight to the data
    assert torch.allclose(eps - 1.0 * flow_velocity(x0, eps), x0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        flow_interpolate(x0, eps, 1.5)


class TrueNoise(torch.nn.Module):
    """A 'network' that knows x₀ and so returns the exact ε (or velocity) for any x_t."""

    null_label = None
    data_shape = (2,)

    def __init__(self, x0, schedule=None):
        super().__init__()
        self.x0, self.schedule, self.w = x0, schedule, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, labels=None):
        if self.schedule is None:  # flow: x_t = (1 − t)x₀ + tε, so v = ε − x₀ = (x_t − x₀)/t
            return (x - self.x0) / t[:, None]
        step = (t * self.schedule.timesteps).round().long()
        ab = self.schedule.alpha_bars[step].to(x.dtype)[:, None]
        return (x - ab.sqrt() * self.x0) / (1 - ab).sqrt()


def test_the_samplers_reach_the_data_with_a_perfect_network():
    x0 = torch.tensor([[2.0, 0.0], [0.0, -2.0], [-1.0, 1.0]])
    s = cosine_schedule(100)
    for x in (sample_ddim(TrueNoise(x0, s).eval(), 3, s, 10), sample_flow(TrueNoise(x0).eval(), 3, 4)):
        assert torch.allclose(x, x0, atol=1e-3)


# --------------------------------------------------------------------------- guidance and labels


def test_guidance_at_zero_is_the_conditional_prediction():
    cond, uncond = torch.randn(4, 2), torch.randn(4, 2)
    assert torch.equal(guided_prediction(cond, uncond, 0.0), cond)
    assert torch.allclose(guided_prediction(cond, uncond, 2.0), 3 * cond - 2 * uncond)  # (1 + w)·c − w·u
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16, n_classes=3)).eval()
    x, t, y = torch.randn(4, 2), torch.rand(4), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        assert torch.allclose(predict(model, x, t, y, guidance=0.0), model(x, t, y))
        unc = model(x, t, torch.full((4,), 3))
        assert torch.allclose(predict(model, x, t, y, guidance=1.5), model(x, t, y) + 1.5 * (model(x, t, y) - unc),
                              atol=1e-6)
        assert torch.equal(model(x, t), unc)  # no labels: the "no label" entry


def test_labels_out_of_range_are_rejected_with_the_valid_range():
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16, n_classes=10))
    x, t = torch.randn(2, 2), torch.rand(2)
    with pytest.raises(ValueError, match=r"labels must lie in 0 … 9, or be 10 for 'no label'"):
        model(x, t, torch.tensor([3, 11]))
    with pytest.raises(ValueError, match=r"labels must lie in 0 … 9"):
        sample_flow(model, 2, 2, labels=torch.tensor([3, 10]))  # asking for a digit: 10 is no digit
    with pytest.raises(ValueError, match="without labels"):
        MLPDenoiser(MLPDenoiserConfig(hidden_dim=16))(x, t, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="without labels"):
        sample_ddim(MLPDenoiser(MLPDenoiserConfig(hidden_dim=16)), 2, linear_schedule(10), 2,
                    labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"p_uncond must be in \[0, 1\)"):
        diffusion_loss(model, x, torch.tensor([0, 1]), objective="flow", p_uncond=1.0)


def test_denoisers_reject_bad_inputs():
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16))
    with pytest.raises(ValueError, match=r"x of shape \(batch, 2\)"):
        model(torch.randn(3, 3), torch.rand(3))
    with pytest.raises(ValueError, match=r"t of shape \(3,\)"):
        model(torch.randn(3, 2), torch.rand(3, 1))
    with pytest.raises(ValueError, match=r"t in \[0, 1\]"):
        model(torch.randn(3, 2), torch.tensor([0.0, 5.0, 1.0]))  # a step number, not a fraction
    unet = UNetDenoiser(TINY_UNET)
    with pytest.raises(ValueError, match=r"x of shape \(batch, 1, 8, 8\)"):
        unet(torch.randn(2, 1, 28, 28), torch.rand(2))
    with pytest.raises(ValueError, match="halved"):
        UNetConfig(image_size=28, channel_mults=[1, 2, 2, 2])
    with pytest.raises(ValueError, match="n_classes"):
        MLPDenoiserConfig(n_classes=-1)


# --------------------------------------------------------------------------- the networks


def test_timestep_embedding_shape_and_range():
    e = timestep_embedding(torch.tensor([0.0, 0.5, 1.0]), 8)
    assert e.shape == (3, 8) and torch.equal(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert not torch.allclose(e[1], e[2])


def test_the_default_denoisers_sizes_and_shapes():
    mlp = MLPDenoiser()
    assert mlp.config.hidden_dim == 256 and mlp(torch.randn(5, 2), torch.rand(5)).shape == (5, 2)
    unet = UNetDenoiser(UNetConfig(n_classes=10))
    assert unet.label_emb.num_embeddings == 11  # ten digits and "no label"
    assert 250_000 <= sum(p.numel() for p in unet.parameters()) <= 400_000
    out = unet(torch.randn(2, 1, 28, 28), torch.rand(2), torch.tensor([3, 10]))
    assert out.shape == (2, 1, 28, 28)


@pytest.mark.parametrize("model", [MLPDenoiser(MLPDenoiserConfig(hidden_dim=32, n_classes=4)),
                                   UNetDenoiser(TINY_UNET)])
def test_checkpoint_round_trip(tmp_path, model):
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()  # not the zero-initialised output layer: the comparison must mean something
    path = save_checkpoint(tmp_path / "denoiser.pt", model, objective="flow")
    loaded = load_checkpoint(path, expected=type(model))
    assert loaded.config == model.config and loaded.checkpoint_metadata == {"objective": "flow"}
    x = torch.randn(3, *model.data_shape)
    t = torch.rand(3)
    with torch.no_grad():
        assert torch.equal(loaded(x, t), model.eval()(x, t))


def test_samplers_shapes_trajectories_and_seeds():
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16, n_classes=2))
    s = linear_schedule(20)
    x, path = sample_ddpm(model, 5, s, labels=torch.tensor([0, 1, 0, 1, 0]), guidance=1.0, trajectory=True)
    assert x.shape == (5, 2) and len(path) == 21 and torch.equal(path[-1], x)
    assert model.training  # sampling put it back in the mode it had
    a = sample_ddim(model, 4, s, 5, generator=torch.Generator().manual_seed(1))
    b = sample_ddim(model, 4, s, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # η = 0: the same noise, the same samples
    assert len(sample_ddim(model, 4, s, 5, trajectory=True)[1]) == 6  # the noise and one state per step
    assert sample_flow(UNetDenoiser(TINY_UNET), 2, 3).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="at most the schedule's T = 20"):
        sample_ddim(model, 4, s, 50)


# --------------------------------------------------------------------------- the loop


def test_config_defaults_and_errors():
    cfg = DiffusionTrainConfig()
    assert isinstance(cfg, TrainConfig) and cfg.p_uncond == 0.1 and cfg.objective in ("eps", "flow")
    with pytest.raises(ValueError, match="objective"):
        DiffusionTrainConfig(objective="x0")
    with pytest.raises(ValueError, match="schedule"):
        DiffusionTrainConfig(schedule="sigmoid")
    with pytest.raises(ValueError, match="p_uncond"):
        DiffusionTrainConfig(p_uncond=1.0)


@pytest.mark.parametrize("objective", ["eps", "flow"])
def test_a_tiny_run_returns_a_history_and_learns(objective):
    torch.manual_seed(0)
    data = torch.randn(256, 2) * 0.1 + torch.tensor([1.0, -1.0])
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=32))
    cfg = DiffusionTrainConfig(steps=60, batch_size=64, objective=objective, schedule="linear", timesteps=100,
                               ema=0.9, seed=0, progress=False)
    history = train_diffusion(model, data, cfg, val_data=data[:64])
    assert isinstance(history, History) and len(history) == 60 and len(history.val_loss) == 1
    assert sum(history.loss[-10:]) < sum(history.loss[:10])


def test_a_seeded_run_is_reproducible_and_labels_train():
    data = torch.randn(64, 2)
    labels = torch.arange(64) % 3
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16, n_classes=3))
        h = train_diffusion(model, (data, labels), DiffusionTrainConfig(steps=5, batch_size=16, seed=3,
                                                                       progress=False))
        losses.append(h.loss)
    assert losses[0] == losses[1]
    with pytest.raises(ValueError, match=r"labels must lie in 0 … 2"):
        # 3 is 'no label', not a class the data may hold
        train_diffusion(MLPDenoiser(MLPDenoiserConfig(hidden_dim=16, n_classes=3)), (data, labels + 1),
                        DiffusionTrainConfig(steps=2, batch_size=64, p_uncond=0.0, progress=False))


def test_an_interrupt_keeps_the_model_and_its_history(capsys):
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16))

    def callback(step, models, history):
        if step == 3:
            raise KeyboardInterrupt

    history = train_diffusion(model, torch.randn(64, 2), DiffusionTrainConfig(steps=10, batch_size=16,
                                                                              progress=False), callback=callback)
    assert history.interrupted and len(history) == 3 and math.isfinite(history.seconds)
    assert "interrupted at step 3" in capsys.readouterr().out


def test_a_nan_loss_stops_with_the_history():
    data = torch.randn(32, 2)
    model = MLPDenoiser(MLPDenoiserConfig(hidden_dim=16))
    with torch.no_grad():
        model.out.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="step 1") as info:
        train_diffusion(model, data, DiffusionTrainConfig(steps=3, batch_size=16, progress=False))
    assert len(info.value.history) == 0
