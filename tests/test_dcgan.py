"""DCGAN models: shapes, the paper's guidelines, one training step through train_gan,
checkpoints, and clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from gankit.models import (  # noqa: E402
    MODELS,
    DCGANDiscriminator,
    DCGANDiscriminatorConfig,
    DCGANGenerator,
    DCGANGeneratorConfig,
)
from gankit.models.dcgan import to_tanh_range, to_unit_range  # noqa: E402
from gankit.train import GANTrainConfig, train_gan  # noqa: E402
from gankit.models import load_checkpoint, save_checkpoint  # noqa: E402

SMALL_G = DCGANGeneratorConfig(latent_dim=8, width=4)
SMALL_D = DCGANDiscriminatorConfig(width=4)


def test_generator_shapes_and_range():
    torch.manual_seed(0)
    G = DCGANGenerator(SMALL_G)
    z = G.sample_noise(5)
    assert z.shape == (5, 8)
    x = G(z)
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert G.sample(3).shape == (3, 1, 28, 28)
    assert G.training  # sample() puts the mode back


def test_discriminator_returns_one_logit_per_image():
    D = DCGANDiscriminator(SMALL_D)
    assert D(torch.rand(6, 1, 28, 28)).shape == (6,)
    p = D.probability(torch.rand(6, 1, 28, 28))
    assert p.shape == (6,) and ((p > 0) & (p < 1)).all()


def test_follows_the_dcgan_guidelines():
    G, D = DCGANGenerator(), DCGANDiscriminator()
    layers_g, layers_d = list(G.modules()), list(D.modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in layers_g + layers_d)  # strided convs only
    assert any(isinstance(m, nn.ConvTranspose2d) for m in layers_g)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers_g) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers_d) == 1  # not on D's input layer
    assert isinstance(layers_g[-1], nn.Tanh)
    assert any(isinstance(m, nn.ReLU) for m in layers_g) and not any(isinstance(m, nn.LeakyReLU) for m in layers_g)
    assert any(isinstance(m, nn.LeakyReLU) for m in layers_d) and not any(isinstance(m, nn.ReLU) for m in layers_d)
    assert not any(isinstance(m, nn.Sigmoid) for m in layers_d)  # D returns a logit
    # the paper's init: weights ~ N(0, 0.02^2)
    conv = next(m for m in layers_g if isinstance(m, nn.ConvTranspose2d))
    assert 0.01 < conv.weight.std().item() < 0.03


def test_sample_noise_is_reproducible_with_a_generator():
    G = DCGANGenerator(SMALL_G)
    a = G.sample_noise(4, generator=torch.Generator().manual_seed(1))
    b = G.sample_noise(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_decode_is_deterministic_in_eval_mode():
    G = DCGANGenerator(SMALL_G)
    z = G.sample_noise(4)
    assert torch.equal(G.decode(z), G.decode(z))
    assert G.training


def test_range_helpers_invert_each_other():
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(to_unit_range(to_tanh_range(x)), x, atol=1e-6)
    assert to_tanh_range(torch.zeros(1)).item() == -1 and to_tanh_range(torch.ones(1)).item() == 1


def test_one_train_gan_step_changes_both_models():
    torch.manual_seed(0)
    G, D = DCGANGenerator(SMALL_G), DCGANDiscriminator(SMALL_D)
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    data = to_tanh_range(torch.rand(32, 1, 28, 28))
    history = train_gan(G, D, data, GANTrainConfig(steps=2, batch_size=8, progress=False, seed=0))
    assert len(history) == 2
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))


def test_discriminator_overfits_a_tiny_batch():
    # real = bright images, fake = dark images: D must separate them in a few steps
    torch.manual_seed(0)
    D = DCGANDiscriminator(SMALL_D)
    real, fake = torch.full((8, 1, 28, 28), 0.8), torch.full((8, 1, 28, 28), -0.8)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    for _ in range(30):
        loss = nn.functional.softplus(-D(real)).mean() + nn.functional.softplus(D(fake)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (D.probability(real) > 0.9).all() and (D.probability(fake) < 0.1).all()


def test_checkpoint_round_trip(tmp_path):
    assert MODELS["DCGANGenerator"] is DCGANGenerator and MODELS["DCGANDiscriminator"] is DCGANDiscriminator
    torch.manual_seed(0)
    G, D = DCGANGenerator(SMALL_G).eval(), DCGANDiscriminator(SMALL_D).eval()
    G2 = load_checkpoint(save_checkpoint(tmp_path / "g.pt", G, steps=1), expected=DCGANGenerator)
    D2 = load_checkpoint(save_checkpoint(tmp_path / "d.pt", D), expected=DCGANDiscriminator)
    z = G.sample_noise(3)
    assert G2.config == SMALL_G and torch.allclose(G2(z), G(z))
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(D2(x), D(x))
    assert G2.checkpoint_metadata == {"steps": 1}


def test_bad_inputs_give_clear_errors():
    G, D = DCGANGenerator(SMALL_G), DCGANDiscriminator(SMALL_D)
    with pytest.raises(ValueError, match=r"noise of shape \(batch, 8\)"):
        G(torch.zeros(2, 9))
    with pytest.raises(ValueError, match=r"images of shape \(batch, 1, 28, 28\)"):
        D(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="divisible by 4"):
        DCGANGenerator(DCGANGeneratorConfig(image_size=30))
    with pytest.raises(ValueError, match="positive int"):
        DCGANDiscriminator(DCGANDiscriminatorConfig(width=0))
    with pytest.raises(ValueError, match="dropout"):
        DCGANDiscriminator(DCGANDiscriminatorConfig(dropout=1.0))


def test_other_image_sizes():
    G = DCGANGenerator(DCGANGeneratorConfig(latent_dim=4, width=4, image_size=32, channels=3))
    D = DCGANDiscriminator(DCGANDiscriminatorConfig(width=4, image_size=32, channels=3))
    x = G(G.sample_noise(2))
    assert x.shape == (2, 3, 32, 32)
    assert D(x).shape == (2,)


def test_latent_explorer_redraws_when_a_slider_moves():
    from gankit import widgets
    from gankit.metrics import load_judge

    torch.manual_seed(0)
    G = DCGANGenerator(SMALL_G)
    box = widgets.latent_explorer(G, seeds=(0, 1), n_directions=2, judge=load_judge())
    ax = box.figure.axes[0]
    assert len(box.sliders) == 3 and box.slider is box.sliders[0]
    assert ax.get_title().startswith("t = 0.00") and "judge:" in ax.get_title()
    z0, image0 = box.z().clone(), ax.images[-1].get_array().copy()
    box.slider.value = 1.0
    assert ax.get_title().startswith("t = 1.00")
    z1 = G.sample_noise(1, device="cpu", generator=torch.Generator().manual_seed(1))
    assert torch.allclose(box.z(), z1)  # t = 1 is the second seed's noise
    assert not torch.allclose(box.z(), z0)
    box.sliders[1].value = 2.0
    assert (box.z() - z1).norm().item() == pytest.approx(2.0, rel=1e-5)  # a unit direction, times 2
    assert ax.images[-1].get_array().shape == image0.shape == (28, 28)
    assert G.training  # put back in train mode


def test_weight_average_follows_the_formula():
    from gankit.train import WeightAverage

    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0), model.bias.fill_(0.0)
    ema = WeightAverage(model, decay=0.9)
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert ema.current_decay() == pytest.approx(1 / 10)  # warm-up: (1 + 0) / (10 + 0)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # 0.1 · 0 + 0.9 · 1
    assert ema.model.weight.detach() == pytest.approx(torch.full((1, 2), 0.9))
    ema.updates = 1000  # past the warm-up the decay is the one asked for
    assert ema.current_decay() == 0.9
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema.update(model)  # 0.9 · 0.9 + 0.1 · 2
    assert ema.model.weight.detach() == pytest.approx(torch.full((1, 2), 1.01))
    assert model.weight.detach() == pytest.approx(torch.full((1, 2), 2.0))  # the live model is untouched


def test_weight_average_of_a_constant_model_is_the_model():
    from gankit.train import WeightAverage

    torch.manual_seed(0)
    G = DCGANGenerator(SMALL_G)
    ema = WeightAverage(G, decay=0.99)
    for _ in range(3):
        ema.update(G)
    z = G.sample_noise(4)
    assert torch.allclose(ema.model.decode(z), G.decode(z), atol=1e-6)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(G, decay=1.0)
    with pytest.raises(ValueError, match="other parameters"):
        ema.update(DCGANGenerator(DCGANGeneratorConfig(latent_dim=8, width=5)))


def test_refresh_batch_norm_measures_the_generators_own_statistics():
    from gankit.train import refresh_batch_norm

    torch.manual_seed(0)
    G = DCGANGenerator(SMALL_G)
    bn = G.project[2]
    weights = [p.detach().clone() for p in G.parameters()]
    refresh_batch_norm(G, n_batches=4, batch_size=64, seed=0)
    assert not G.training
    assert all(torch.equal(a, b) for a, b in zip(weights, G.parameters()))  # only statistics change
    # the running mean is now the mean of the pre-norm activations on fresh noise
    with torch.no_grad():
        pre = G.project[:2](G.sample_noise(2000, generator=torch.Generator().manual_seed(5)))  # (2000, 8, 7, 7)
    assert torch.allclose(bn.running_mean, pre.mean(dim=(0, 2, 3)), atol=0.02)
    assert torch.allclose(bn.running_var, pre.var(dim=(0, 2, 3)), rtol=0.15)
    assert bn.momentum == 0.1  # put back


def test_dcgan_digits_recipe_runs_and_records_its_figures(tmp_path):
    from gankit.recipes import get_recipe
    from gankit.models import read_checkpoint

    recipe = get_recipe("dcgan_digits")
    out = tmp_path / "g.pt"
    figures = recipe.train(out, seed=0, progress=False, steps=4, batch_size=8, eval_every=2, save_every=2, n_eval=50)
    assert {"judge_confident", "judge_min_class_share", "fd", "fd_real_reference", "steps"} <= set(figures)
    assert figures["steps"] == 4 and 0.0 <= figures["judge_confident"] <= 1.0
    G = load_checkpoint(out, expected=DCGANGenerator)  # the averaged generator, ready to sample
    assert G.sample(2).shape == (2, 1, 28, 28)
    meta = read_checkpoint(out)["metadata"]
    assert meta["recipe"] == "dcgan_digits" and meta["params"]["steps"] == 4 and meta["figures"] == figures
    partial = read_checkpoint(out.with_suffix(".step2.pt"))["metadata"]  # an intermediate save
    assert partial["params"]["steps"] == 2
