"""Conditional DCGAN (lesson 03): shapes, how the label enters G and D (checked by hand),
one optimisation step through train_gan, labels out of range, checkpoints, the grid of
classes × noise and the digit picker."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gankit.models import (  # noqa: E402
    MODELS,
    ConditionalDiscriminator,
    ConditionalDiscriminatorConfig,
    ConditionalGenerator,
    ConditionalGeneratorConfig,
)
from gankit.models.cgan import one_hot_concat  # noqa: E402
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator, to_tanh_range  # noqa: E402
from gankit.train import GANTrainConfig, train_gan  # noqa: E402
from gankit.models import load_checkpoint, save_checkpoint  # noqa: E402

SMALL_G = ConditionalGeneratorConfig(latent_dim=8, n_classes=10, width=4)
SMALL_D = ConditionalDiscriminatorConfig(n_classes=10, width=4)
SMALL_D_CONCAT = ConditionalDiscriminatorConfig(n_classes=10, width=4, conditioning="concat")


def test_generator_shapes_range_and_noise():
    torch.manual_seed(0)
    G = ConditionalGenerator(SMALL_G)
    z = G.sample_noise(5)
    assert z.shape == (5, 8)  # the noise alone: the label is appended inside G
    x = G(z, torch.tensor([0, 1, 2, 3, 9]))
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert G.sample(3).shape == (3, 1, 28, 28)
    assert G.sample(4, labels=7).shape == (4, 1, 28, 28)
    assert G.training  # sample() puts the mode back
    assert isinstance(G.body, DCGANGenerator)  # lesson 02's generator, reused
    assert G.body.config.latent_dim == 8 + 10


@pytest.mark.parametrize("config", [SMALL_D, SMALL_D_CONCAT], ids=["projection", "concat"])
def test_discriminator_returns_one_logit_per_pair(config):
    D = ConditionalDiscriminator(config)
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])
    assert D(x, y).shape == (6,)
    p = D.probability(x, y)
    assert p.shape == (6,) and ((p > 0) & (p < 1)).all()
    assert isinstance(D.body, DCGANDiscriminator)


def test_one_hot_concat_by_hand():
    z = torch.tensor([[0.5, -1.0], [2.0, 3.0]])
    out = one_hot_concat(z, torch.tensor([2, 0]), n_classes=3)
    assert torch.equal(out, torch.tensor([[0.5, -1.0, 0.0, 0.0, 1.0], [2.0, 3.0, 1.0, 0.0, 0.0]]))


def test_one_hot_concat_is_a_class_embedding_added_to_the_projection():
    # G's first layer is linear: W·[z; e_y] = W_z·z + (column y of W_y)
    G = ConditionalGenerator(SMALL_G)
    linear = G.body.project[0]
    z, y = torch.randn(4, 8), torch.tensor([3, 3, 0, 9])
    W_z, W_y = linear.weight[:, :8], linear.weight[:, 8:]
    assert torch.allclose(linear(G.condition(z, y)), z @ W_z.T + W_y.T[y], atol=1e-6)


def test_the_label_changes_the_image_and_the_noise_the_style():
    torch.manual_seed(0)
    G = ConditionalGenerator(SMALL_G)
    z = G.sample_noise(1, device="cpu").repeat(2, 1)
    a, b = G.decode(z, torch.tensor([1, 7]))
    assert not torch.allclose(a, b)
    same = G.decode(z, torch.tensor([4, 4]))
    assert torch.allclose(same[0], same[1])


def test_projection_discriminator_by_hand():
    # D(x, y) − D(x, y') = ⟨embed(y) − embed(y'), φ(x)⟩: only the projection term depends on y
    torch.manual_seed(0)
    D = ConditionalDiscriminator(SMALL_D).eval()
    x = torch.rand(3, 1, 28, 28)
    y, y2 = torch.tensor([1, 2, 3]), torch.tensor([5, 5, 0])
    phi = D.body.features(x).flatten(1)
    expected = ((D.embed.weight[y] - D.embed.weight[y2]) * phi).sum(1)
    assert torch.allclose(D(x, y) - D(x, y2), expected, atol=1e-5)
    assert torch.allclose(D(x, y), D.body.classify(phi).squeeze(1) + (D.embed.weight[y] * phi).sum(1), atol=1e-5)


def test_concat_discriminator_sees_the_label_as_constant_planes():
    torch.manual_seed(0)
    D = ConditionalDiscriminator(SMALL_D_CONCAT).eval()
    assert D.body.config.channels == 1 + 10
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([4, 8])
    planes = F.one_hot(y, 10).float()[:, :, None, None].expand(-1, -1, 28, 28)
    assert torch.allclose(D(x, y), D.body(torch.cat([x, planes], 1)))
    assert not torch.allclose(D(x, y), D(x, torch.tensor([5, 1])))


@pytest.mark.parametrize("config", [SMALL_D, SMALL_D_CONCAT], ids=["projection", "concat"])
def test_one_train_gan_step_with_labels_changes_both_models(config):
    torch.manual_seed(0)
    G, D = ConditionalGenerator(SMALL_G), ConditionalDiscriminator(config)
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    images, labels = to_tanh_range(torch.rand(32, 1, 28, 28)), torch.arange(32) % 10
    history = train_gan(G, D, (images, labels),
                        GANTrainConfig(steps=2, batch_size=8, progress=False, seed=0, snapshot_every=1))
    assert len(history) == 2
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    if config.conditioning == "projection":
        assert not torch.equal(d0[-1], D.embed.weight)  # the class vectors learn too
    snap = history.snapshots[-1]
    assert snap["samples"].shape == (512, 1, 28, 28)
    assert torch.equal(snap["labels"][:12], torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]))


def test_train_gan_rejects_labels_the_generator_does_not_know():
    G, D = ConditionalGenerator(SMALL_G), ConditionalDiscriminator(SMALL_D)
    images, labels = torch.zeros(4, 1, 28, 28), torch.tensor([0, 3, 10, 2])
    with pytest.raises(ValueError, match="n_classes=10"):
        train_gan(G, D, (images, labels), GANTrainConfig(steps=1, batch_size=2, progress=False))


def test_labels_out_of_range_give_clear_errors():
    G, D = ConditionalGenerator(SMALL_G), ConditionalDiscriminator(SMALL_D)
    z, x = G.sample_noise(2), torch.zeros(2, 1, 28, 28)
    for bad in (torch.tensor([0, 10]), torch.tensor([-1, 3])):
        with pytest.raises(ValueError, match=r"ConditionalGenerator has n_classes=10, so labels must lie in 0 … 9"):
            G(z, bad)
        with pytest.raises(ValueError, match=r"ConditionalDiscriminator has n_classes=10, so labels must lie in 0 … 9"):
            D(x, bad)
    with pytest.raises(ValueError, match="labels must lie in 0 … 9; got labels from 12 to 12"):
        G.sample(3, labels=12)
    with pytest.raises(ValueError, match="integer class indices"):
        G(z, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"one label per example, shape \(2,\)"):
        D(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="tensor of class indices"):
        G(z, [1, 2])


def test_bad_configs_and_shapes_give_clear_errors():
    G, D = ConditionalGenerator(SMALL_G), ConditionalDiscriminator(SMALL_D)
    with pytest.raises(ValueError, match=r"noise of shape \(batch, 8\)"):
        G(torch.zeros(2, 18), torch.tensor([0, 1]))  # noise with the one-hot already appended
    with pytest.raises(ValueError, match=r"images of shape \(batch, 1, 28, 28\)"):
        D(torch.zeros(2, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="conditioning must be one of projection, concat"):
        ConditionalDiscriminator(ConditionalDiscriminatorConfig(conditioning="embed"))
    with pytest.raises(ValueError, match="n_classes must be an int ≥ 2"):
        ConditionalGenerator(ConditionalGeneratorConfig(n_classes=1))


@pytest.mark.parametrize("d_config", [SMALL_D, SMALL_D_CONCAT], ids=["projection", "concat"])
def test_checkpoint_round_trip(tmp_path, d_config):
    assert MODELS["ConditionalGenerator"] is ConditionalGenerator
    assert MODELS["ConditionalDiscriminator"] is ConditionalDiscriminator
    torch.manual_seed(0)
    G, D = ConditionalGenerator(SMALL_G).eval(), ConditionalDiscriminator(d_config).eval()
    G2 = load_checkpoint(save_checkpoint(tmp_path / "g.pt", G, steps=1), expected=ConditionalGenerator)
    D2 = load_checkpoint(save_checkpoint(tmp_path / "d.pt", D), expected=ConditionalDiscriminator)
    z, y = G.sample_noise(3), torch.tensor([0, 5, 9])
    assert G2.config == SMALL_G and torch.allclose(G2(z, y), G(z, y))
    x = torch.rand(3, 1, 28, 28)
    assert D2.config == d_config and torch.allclose(D2(x, y), D(x, y))
    assert G2.checkpoint_metadata == {"steps": 1}


def test_digit_picker_redraws_the_asked_digit():
    from gankit import widgets
    from gankit.metrics import load_judge

    torch.manual_seed(0)
    G = ConditionalGenerator(SMALL_G)
    box = widgets.digit_picker(G, n=4, judge=load_judge())
    assert len(box.figure.axes) == 4 and box.slider is box.sliders[0]
    assert "asked for <b>0</b>" in box.readout.value and "the judge agrees on" in box.readout.value
    z = G.sample_noise(4, device="cpu", generator=torch.Generator().manual_seed(0))
    assert torch.allclose(box.images(), ((G.decode(z, 0) + 1) / 2).clamp(0, 1))
    box.slider.value = 7  # another digit, the same noise
    assert "asked for <b>7</b>" in box.readout.value
    assert torch.allclose(box.images(), ((G.decode(z, 7) + 1) / 2).clamp(0, 1))
    box.sliders[1].value = 5  # another seed
    assert "noise seed 5" in box.readout.value and box.figure.axes[0].get_title().startswith("judge: ")
    assert G.training  # put back in train mode


def test_sample_asks_for_the_random_generator_by_name():
    G = ConditionalGenerator(SMALL_G)
    with pytest.raises(TypeError, match="generator=gen"):
        G.sample(2, torch.Generator().manual_seed(0))
    a = G.sample(3, [1, 2, 3], generator=torch.Generator().manual_seed(0))
    b = G.sample(3, torch.tensor([1, 2, 3]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
