"""gankit.train: the GAN losses against hand computation, and the training loop."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from gankit.data import ring8
from gankit.metrics import nearest_mode_distance
from gankit.models import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig
from gankit.train import (
    GANTrainConfig,
    History,
    TrainingDiverged,
    discriminator_loss,
    generator_loss_nonsaturating,
    generator_loss_saturating,
    train_gan,
)

LN2 = math.log(2)


def tiny_models(seed: int = 0, hidden: int = 16):
    torch.manual_seed(seed)
    G = MLPGenerator(MLPGeneratorConfig(hidden_dim=hidden, n_hidden=2))
    D = MLPDiscriminator(MLPDiscriminatorConfig(hidden_dim=hidden, n_hidden=2))
    return G, D


def quick_config(**kw) -> GANTrainConfig:
    base = dict(steps=30, batch_size=32, progress=False, seed=0)
    base.update(kw)
    return GANTrainConfig(**base)


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def ring_data():
    return ring8().sample(1000, seed=0)


# --------------------------------------------------------------------------- losses


def test_losses_at_zero_logits():
    z = torch.zeros(7)
    assert discriminator_loss(z, z).item() == pytest.approx(2 * LN2, rel=1e-6)
    assert generator_loss_saturating(z).item() == pytest.approx(-LN2, rel=1e-6)
    assert generator_loss_nonsaturating(z).item() == pytest.approx(LN2, rel=1e-6)


def test_discriminator_loss_hand_computed():
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    # −[log σ(2) + log(1 − σ(−1))] = log(1 + e^−2) + log(1 + e^−1)
    expected = math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    assert expected == pytest.approx(-(math.log(sig(2.0)) + math.log(1 - sig(-1.0))))


def test_generator_losses_hand_computed():
    a = torch.tensor([-1.0, 0.5, 3.0])
    sig = torch.sigmoid(a.double())
    assert generator_loss_saturating(a).item() == pytest.approx(torch.log(1 - sig).mean().item(), rel=1e-5)
    assert generator_loss_nonsaturating(a).item() == pytest.approx(-torch.log(sig).mean().item(), rel=1e-5)


def test_discriminator_loss_averages_each_batch_separately():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-2.0, 1.5, -0.5, 0.0, -4.0])  # another batch size
    expected = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    assert discriminator_loss(real, fake).item() == pytest.approx(expected.item(), rel=1e-5)


def test_discriminator_loss_equals_bce_with_logits():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, generator=gen) * 3, torch.randn(48, generator=gen) * 3
    bce = torch.nn.BCEWithLogitsLoss()
    expected = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    assert torch.allclose(discriminator_loss(real, fake), expected, atol=1e-6)


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    assert torch.isfinite(discriminator_loss(big, big))
    assert torch.isfinite(generator_loss_saturating(big))
    assert torch.isfinite(generator_loss_nonsaturating(big))


def test_generator_loss_gradients():
    a = torch.tensor([-4.0, -1.0, 0.0, 2.0, 5.0], requires_grad=True)
    B = len(a)
    sig = torch.sigmoid(a.detach())
    (g_sat,) = torch.autograd.grad(generator_loss_saturating(a), a)
    assert torch.allclose(g_sat, -sig / B, atol=1e-6)
    (g_ns,) = torch.autograd.grad(generator_loss_nonsaturating(a), a)
    assert torch.allclose(g_ns, -(1 - sig) / B, atol=1e-6)
    # the lesson: when D rejects the sample (a = −4), the saturating gradient nearly vanishes
    assert abs(g_sat[0]) < 0.05 * abs(g_ns[0])


def test_discriminator_loss_gradients():
    real = torch.tensor([1.0, -2.0], requires_grad=True)
    fake = torch.tensor([0.5, 0.0, -1.0], requires_grad=True)
    g_real, g_fake = torch.autograd.grad(discriminator_loss(real, fake), (real, fake))
    assert torch.allclose(g_real, -(1 - torch.sigmoid(real.detach())) / 2, atol=1e-6)
    assert torch.allclose(g_fake, torch.sigmoid(fake.detach()) / 3, atol=1e-6)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kw",
    [
        {"g_loss": "wasserstein"},
        {"steps": 0},
        {"steps": -5},
        {"steps": 10.0},
        {"batch_size": 0},
        {"d_steps": 0},
        {"snapshot_every": -1},
    ],
)
def test_config_validation(kw):
    with pytest.raises(ValueError):
        GANTrainConfig(**kw)


def test_config_defaults_are_valid():
    cfg = GANTrainConfig()
    assert cfg.g_loss == "nonsaturating" and cfg.steps > 0


# --------------------------------------------------------------------------- train_gan


def test_train_gan_smoke(ring_data):
    G, D = tiny_models()
    g0, d0 = params(G), params(D)
    history = train_gan(G, D, ring_data, quick_config(snapshot_every=10))
    assert isinstance(history, History)
    assert len(history) == 30
    assert history.step == list(range(1, 31))
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        values = getattr(history, key)
        assert len(values) == 30
        assert all(math.isfinite(v) for v in values)
    assert all(0 <= v <= 1 for v in history.d_real + history.d_fake)
    assert [s["step"] for s in history.snapshots] == [0, 10, 20, 30]
    assert all(s["samples"].shape == (512, 2) for s in history.snapshots)
    assert not torch.equal(history.snapshots[0]["samples"], history.snapshots[-1]["samples"])
    assert history.seconds > 0
    assert not history.interrupted
    assert not same(params(G), g0)
    assert not same(params(D), d0)
    d = history.as_dict()
    assert set(d) == {"step", "lr", "loss", "extras", "val_step", "val_loss", "best_step", "seconds", "interrupted",
                      "stopped_early"}
    assert set(d["extras"]) == {"d_loss", "g_loss", "d_real", "d_fake"}  # the standard GAN records nothing more
    assert d["loss"] == [] and d["lr"] == [quick_config().lr] * 30


def test_train_gan_no_snapshots_by_default(ring_data):
    G, D = tiny_models()
    history = train_gan(G, D, ring_data, quick_config(steps=3))
    assert history.snapshots == []


def test_train_gan_custom_snapshot_fn(ring_data):
    G, D = tiny_models()
    seen = []

    def snap(g, d, step):
        assert g is G and d is D
        seen.append(step)
        return {"step": step}

    history = train_gan(G, D, ring_data, quick_config(steps=6, snapshot_every=3), snapshot_fn=snap)
    assert seen == [0, 3, 6]
    assert history.snapshots == [{"step": 0}, {"step": 3}, {"step": 6}]


def test_train_gan_d_steps(ring_data):
    G, D = tiny_models()
    calls = {"d": 0, "g": 0}

    def d_fn(r, f):
        calls["d"] += 1
        return discriminator_loss(r, f)

    def g_fn(f):
        calls["g"] += 1
        return generator_loss_nonsaturating(f)

    history = train_gan(G, D, ring_data, quick_config(steps=4, d_steps=3), d_loss_fn=d_fn, g_loss_fn=g_fn)
    assert calls == {"d": 12, "g": 4}
    assert len(history) == 4


def test_train_gan_uses_custom_losses(ring_data):
    G, D = tiny_models()
    calls = {"d": 0, "g": 0}

    def d_fn(r, f):
        calls["d"] += 1
        return discriminator_loss(r, f) + 100.0  # a shift that shows up in the history

    def g_fn(f):
        calls["g"] += 1
        return generator_loss_nonsaturating(f) - 100.0

    history = train_gan(G, D, ring_data, quick_config(steps=5), d_loss_fn=d_fn, g_loss_fn=g_fn)
    assert calls == {"d": 5, "g": 5}
    assert all(v > 99 for v in history.d_loss)
    assert all(v < -99 for v in history.g_loss)


def test_train_gan_g_loss_name_is_used(ring_data):
    results = {}
    for name in ("saturating", "nonsaturating"):
        G, D = tiny_models()
        results[name] = train_gan(G, D, ring_data, quick_config(steps=2, g_loss=name)).g_loss
    assert all(v < 0 for v in results["saturating"])  # mean log(1 − D) < 0
    assert all(v > 0 for v in results["nonsaturating"])  # mean −log D > 0


def test_train_gan_is_deterministic(ring_data):
    finals = []
    for _ in range(2):
        G, D = tiny_models(seed=5)
        history = train_gan(G, D, ring_data, quick_config(steps=20, seed=11))
        finals.append((params(G), history.d_loss))
    assert same(finals[0][0], finals[1][0])
    assert finals[0][1] == finals[1][1]


def test_train_gan_seed_changes_the_run(ring_data):
    finals = []
    for seed in (1, 2):
        G, D = tiny_models(seed=5)
        train_gan(G, D, ring_data, quick_config(steps=5, seed=seed))
        finals.append(params(G))
    assert not same(*finals)


def test_train_gan_actually_learns_ring8():
    mix = ring8()
    x = mix.sample(2000, seed=0)
    torch.manual_seed(0)
    G, D = MLPGenerator(), MLPDiscriminator()  # default sizes

    def spread():
        return nearest_mode_distance(G.sample(1000, generator=torch.Generator().manual_seed(123)), mix.centres)

    before = spread()
    # measured over seeds 0-4: before ≈ 1.9, after ≈ 0.35-0.42 (ratio 0.18-0.22)
    cfg = GANTrainConfig(steps=400, batch_size=128, lr=1e-3, progress=False, seed=0)
    train_gan(G, D, x, cfg)
    after = spread()
    assert before > 1.0  # an untrained generator is far from the ring, so the test can fail
    assert after < 0.5 * before, f"nearest-mode distance only went from {before:.3f} to {after:.3f}"


# --------------------------------------------------------------------------- safety nets


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_train_gan_rejects_non_finite_data(ring_data, bad):
    G, D = tiny_models()
    x = ring_data.clone()
    x[17, 1] = bad
    g0 = params(G)
    with pytest.raises(ValueError, match="NaN or inf"):
        train_gan(G, D, x, quick_config())
    assert same(params(G), g0)


@pytest.mark.parametrize("bad", [torch.zeros(0, 2), torch.zeros(10), [[0.0, 1.0]]])
def test_train_gan_rejects_bad_data(bad):
    G, D = tiny_models()
    with pytest.raises(ValueError, match="non-empty tensor"):
        train_gan(G, D, bad, quick_config())


def test_train_gan_discriminator_nan_raises_and_keeps_weights(ring_data):
    G, D = tiny_models()
    state = {"calls": 0}

    def d_fn(r, f):
        state["calls"] += 1
        loss = discriminator_loss(r, f)
        if state["calls"] == 3:
            state["G"], state["D"] = params(G), params(D)  # the weights after step 2
            return loss * float("nan")
        return loss

    with pytest.raises(TrainingDiverged) as info:
        train_gan(G, D, ring_data, quick_config(), d_loss_fn=d_fn)
    err = info.value
    assert "step 3" in str(err)
    assert "discriminator" in str(err).lower()
    assert isinstance(err.history, History)
    assert len(err.history) == 2 and err.history.step == [1, 2]
    assert same(params(G), state["G"])
    assert same(params(D), state["D"])
    assert all(torch.isfinite(p).all() for p in G.parameters())
    assert all(torch.isfinite(p).all() for p in D.parameters())


def test_train_gan_generator_inf_raises_and_keeps_generator_weights(ring_data):
    G, D = tiny_models()
    state = {"calls": 0}

    def g_fn(f):
        state["calls"] += 1
        loss = generator_loss_nonsaturating(f)
        if state["calls"] == 3:
            state["G"] = params(G)
            return loss + float("inf")
        return loss

    with pytest.raises(TrainingDiverged, match="step 3") as info:
        train_gan(G, D, ring_data, quick_config(), g_loss_fn=g_fn)
    assert "generator" in str(info.value).lower()
    assert len(info.value.history) == 2
    assert same(params(G), state["G"])


def test_train_gan_generator_divergence_says_which_weights_remain(ring_data):
    """D takes its update of step s before G's loss is computed, so when G's loss is NaN at
    step s, G keeps step s-1 and D has step s; the message must say exactly that."""
    G, D = tiny_models()
    state = {"g": 0}

    def g_fn(f):
        state["g"] += 1
        if state["g"] == 3:
            state["G"] = params(G)  # G after step 2
        loss = generator_loss_nonsaturating(f)
        return loss * float("nan") if state["g"] == 3 else loss

    with pytest.raises(TrainingDiverged) as info:
        train_gan(G, D, ring_data, quick_config(), g_loss_fn=g_fn)
    message = str(info.value)
    assert "generator keeps its weights of step 2" in message
    assert "discriminator has taken its update of step 3" in message
    assert same(params(G), state["G"])


def test_train_gan_keyboard_interrupt_returns_history(ring_data, capsys):
    G, D = tiny_models()
    state = {"calls": 0}

    def g_fn(f):
        state["calls"] += 1
        if state["calls"] == 5:
            raise KeyboardInterrupt
        return generator_loss_nonsaturating(f)

    history = train_gan(G, D, ring_data, quick_config(snapshot_every=2), g_loss_fn=g_fn)
    assert history.interrupted is True
    assert len(history) == 4 and history.step == [1, 2, 3, 4]
    assert len(history.d_loss) == len(history.g_loss) == len(history.d_real) == 4
    assert [s["step"] for s in history.snapshots] == [0, 2, 4]
    assert history.seconds > 0
    assert "interrupted" in capsys.readouterr().out.lower()
    # the models are still usable, and training can go on
    samples = G.sample(10)
    assert samples.shape == (10, 2) and torch.isfinite(samples).all()
    assert D.probability(samples).shape == (10,)
    more = train_gan(G, D, ring_data, quick_config(steps=3))
    assert len(more) == 3 and not more.interrupted


def test_train_gan_leaves_models_in_train_mode_on_the_data_device(ring_data):
    G, D = tiny_models()
    G.eval()
    D.eval()
    train_gan(G, D, ring_data, quick_config(steps=1))
    assert G.training and D.training
    assert next(G.parameters()).device.type == "cpu"


def test_train_gan_without_seed_uses_global_rng(ring_data):
    runs = []
    for _ in range(2):
        G, D = tiny_models(seed=3)
        torch.manual_seed(99)
        train_gan(G, D, ring_data, quick_config(steps=5, seed=None))
        runs.append(params(G))
    assert same(*runs)


def test_history_len_and_as_dict_copy():
    h = History(step=[1, 2], extras={"d_loss": [0.1, 0.2], "g_loss": [1.0, 2.0], "d_real": [0.5, 0.6], "d_fake": [0.4, 0.3]})
    assert len(h) == 2
    d = h.as_dict()
    assert d["step"] == [1, 2] and d["interrupted"] is False
    assert "snapshots" not in d
    copy.deepcopy(h)
