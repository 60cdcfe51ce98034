"""The conditional VAE: the label reaches both networks, the conditional ELBO's scaling,
shapes, one optimisation step, training through train_vae with labels, style transfer,
clear errors for bad labels and images, and the checkpoint round trip."""

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.models import MODELS, ConditionalVAE, ConditionalVAEConfig
from gankit.metrics import style_transfer_agreement
from gankit.models.cvae import style_transfer_grid
from gankit.models.vae import VAE, VAEConfig, importance_weighted_nll
from gankit.train import VAETrainConfig, evaluate_vae, train_vae
from gankit.models import load_checkpoint, save_checkpoint


def small_cvae(**changes) -> ConditionalVAE:
    torch.manual_seed(0)
    base = dict(image_size=8, latent_dim=3, hidden_dims=[16], n_classes=4)
    base.update(changes)
    return ConditionalVAE(ConditionalVAEConfig(**base))


def batch(n=6, size=8, n_classes=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=gen), torch.arange(n) % n_classes


# --------------------------------------------------------------------------- the model


def test_it_is_a_vae_with_the_label_added_to_both_inputs():
    model = small_cvae()
    assert isinstance(model, VAE) and isinstance(model.config, VAEConfig)
    assert model.encoder[0].in_features == 8 * 8 + 4  # [x; one_hot(y)]
    assert model.decoder[0].in_features == 3 + 4  # [z; one_hot(y)]
    assert model.encoder[-1].out_features == 2 * 3  # μ and log σ²
    assert model.decoder[-1].out_features == 8 * 8


def test_defaults_are_the_lessons():
    config = ConditionalVAEConfig()
    assert (config.image_size, config.channels, config.n_classes) == (28, 1, 10)
    assert config.latent_dim == 4 and config.likelihood == "bernoulli" and config.beta == 1.0


@pytest.mark.parametrize("likelihood, levels", [("bernoulli", 2), ("categorical", 5)])
def test_shapes(likelihood, levels):
    model = small_cvae(likelihood=likelihood, levels=levels)
    x, y = batch()
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (6, 3)
    logits = model.decode(mu, y)
    assert logits.shape == ((6, 1, 8, 8) if likelihood == "bernoulli" else (6, levels, 64))
    logits, mu, logvar = model(x, y)
    assert model.log_likelihood(logits, x).shape == (6,)
    for images in (model.reconstruct(x, y), model.sample(6), model.style_transfer(x, y, 2),
                   model.decode_image(mu.detach(), y)):
        assert images.shape == (6, 1, 8, 8)
        assert images.min() >= 0 and images.max() <= 1


def test_the_label_changes_the_decoded_image():
    model = small_cvae()
    z = torch.randn(4, 3)
    a, b = model.decode(z, torch.zeros(4, dtype=torch.long)), model.decode(z, torch.ones(4, dtype=torch.long))
    assert not torch.allclose(a, b)
    # one-hot concatenated into a linear layer = a learned vector per class added to W_z·z
    first = model.decoder[0]
    direct = first(torch.cat([z, F.one_hot(torch.full((4,), 2), 4).float()], dim=1))
    by_hand = z @ first.weight[:, :3].T + first.weight[:, 3 + 2] + first.bias
    assert torch.allclose(direct, by_hand, atol=1e-6)


def test_labels_may_be_an_int_a_list_or_none():
    model = small_cvae()
    assert model.labels_for(None, 6).tolist() == [0, 1, 2, 3, 0, 1]
    assert model.labels_for(3, 2).tolist() == [3, 3]
    assert model.labels_for([1, 2], 2).tolist() == [1, 2]
    z = torch.zeros(2, 3)
    assert torch.allclose(model.decode(z, 1), model.decode(z, torch.tensor([1, 1])))


def test_loss_is_the_conditional_negative_elbo_per_image():
    model = small_cvae()
    x, y = batch()
    torch.manual_seed(1)
    loss, stats = model.loss(x, y)
    torch.manual_seed(1)  # the same ε
    logits, mu, logvar = model(x, y)
    recon = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)  # summed over pixels
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)  # summed over latent dims
    assert loss.item() == pytest.approx(-(recon - kl).mean().item(), rel=1e-5)  # averaged over the batch
    assert stats["nelbo"] == pytest.approx(stats["recon"] + stats["kl"], rel=1e-5)
    # untrained: every pixel costs about log 2 nats
    assert 0.3 * 64 * math.log(2) < stats["recon"] < 3 * 64 * math.log(2)


def test_beta_weights_the_kl_in_the_loss_only():
    x, y = batch()
    model = small_cvae(beta=4.0)
    torch.manual_seed(1)
    loss, stats = model.loss(x, y)
    assert loss.item() == pytest.approx(stats["recon"] + 4.0 * stats["kl"], rel=1e-5)
    assert stats["nelbo"] == pytest.approx(stats["recon"] + stats["kl"], rel=1e-5)


def test_one_optimisation_step_lowers_the_loss_on_that_batch():
    model = small_cvae()
    x, y = batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    before, _ = model.loss(x, y, generator=gen)
    opt.zero_grad()
    before.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    opt.step()
    after, _ = model.loss(x, y, generator=torch.Generator().manual_seed(0))
    assert after.item() < before.item()


def test_train_vae_trains_it_with_labels_and_evaluates_it():
    model = small_cvae()
    x, y = batch(n=64)
    first = evaluate_vae(model, (x, y))["nelbo"]
    history = train_vae(model, (x, y), VAETrainConfig(steps=60, batch_size=16, lr=3e-3, seed=0, progress=False))
    assert len(history) == 60 and all(math.isfinite(v) for v in history.loss)
    assert evaluate_vae(model, (x, y))["nelbo"] < first
    nll = importance_weighted_nll(model, x[:8], k=5, labels=y[:8], generator=torch.Generator().manual_seed(0))
    assert nll.shape == (8,) and torch.isfinite(nll).all()


# --------------------------------------------------------------------------- style transfer


def test_style_transfer_encodes_with_the_source_and_decodes_with_the_target():
    model = small_cvae()
    x, y = batch()
    target = (y + 1) % 4
    mu, _ = model.eval().encode(x, y)  # the code of each image, read with its own label
    expected = torch.sigmoid(model.decode(mu, target))
    assert torch.allclose(model.style_transfer(x, y, target), expected, atol=1e-6)
    assert torch.allclose(model.style_transfer(x, y, y), model.reconstruct(x, y), atol=1e-6)


def test_style_transfer_grid_is_one_row_per_source():
    model = small_cvae()
    x, y = batch(n=3)
    images, targets = style_transfer_grid(model, x, y)
    assert images.shape == (3 * 4, 1, 8, 8)
    assert targets.tolist() == [0, 1, 2, 3] * 3
    # row 1, column 2: image 1 written as a 2
    assert torch.allclose(images[1 * 4 + 2], model.style_transfer(x[1:2], y[1:2], 2)[0], atol=1e-6)


def test_style_transfer_agreement_uses_the_judge():
    torch.manual_seed(0)
    model = ConditionalVAE(ConditionalVAEConfig(latent_dim=2, hidden_dims=[8]))  # 28×28 digits, 10 classes

    class Oracle(torch.nn.Module):  # a "judge" that always sees a 3
        config = type("C", (), {"n_classes": 10})()

        def predict_proba(self, images):
            return F.one_hot(torch.full((len(images),), 3), 10).float()

    x, y = torch.rand(7, 1, 28, 28), torch.arange(7)
    assert style_transfer_agreement(model, x, y, judge=Oracle(), batch_size=3) == pytest.approx(0.1)


# --------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, 1, 2, 3, 4, 0]), "0 … 3"),  # out of range (n_classes = 4)
    (torch.tensor([0, 1, 2, 3, -1, 0]), "0 … 3"),
    (torch.tensor([0.0, 1, 2, 3, 0, 1]), "integer"),  # float labels
    (torch.tensor([0, 1, 2]), r"\(6,\)"),  # one label per image
])
def test_bad_labels_are_clear_errors(labels, message):
    model = small_cvae()
    x, _ = batch()
    with pytest.raises(ValueError, match=message):
        model.encode(x, labels)
    with pytest.raises(ValueError, match=message):
        model.decode(torch.zeros(6, 3), labels)
    with pytest.raises(ValueError, match=message):
        model.loss(x, labels)


def test_label_out_of_range_for_sampling_and_transfer():
    model = small_cvae()
    x, y = batch()
    with pytest.raises(ValueError, match="n_classes=4"):
        model.sample(3, labels=7)
    with pytest.raises(ValueError, match="n_classes=4"):
        model.style_transfer(x, y, 4)


@pytest.mark.parametrize("shape", [(6, 1, 28, 28), (6, 64), (6, 3, 8, 8)])
def test_wrong_image_size_is_a_clear_error(shape):
    model = small_cvae()
    with pytest.raises(ValueError, match=r"ConditionalVAE expects images of shape \(batch, 1, 8, 8\)"):
        model.encode(torch.rand(shape), torch.arange(6) % 4)


def test_wrong_code_size_is_a_clear_error():
    with pytest.raises(ValueError, match=r"codes of shape \(batch, 3\)"):
        small_cvae().decode(torch.zeros(2, 5), torch.tensor([0, 1]))


@pytest.mark.parametrize("bad", [dict(n_classes=1), dict(n_classes=2.5), dict(latent_dim=0)])
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="must be"):
        ConditionalVAEConfig(**bad)


def test_a_plain_vae_config_is_refused():
    with pytest.raises(TypeError, match="ConditionalVAEConfig"):
        ConditionalVAE(VAEConfig())


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    assert MODELS["ConditionalVAE"] is ConditionalVAE
    model = small_cvae(hidden_dims=[16, 12])
    x, y = batch()
    save_checkpoint(tmp_path / "cvae.pt", model, label_agreement=0.95)
    loaded = load_checkpoint(tmp_path / "cvae.pt", expected=ConditionalVAE)
    assert loaded.config == model.config and loaded.config.hidden_dims == [16, 12]
    assert loaded.checkpoint_metadata["label_agreement"] == 0.95
    assert torch.allclose(loaded.style_transfer(x, y, 1), model.style_transfer(x, y, 1))


# --------------------------------------------------------------------------- the widget


def test_style_transfer_explorer_redraws_source_and_target():
    from gankit import widgets
    from gankit.metrics import load_judge

    torch.manual_seed(0)
    model = ConditionalVAE(ConditionalVAEConfig(latent_dim=2, hidden_dims=[8]))
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([4, 7, 1])
    box = widgets.style_transfer_explorer(model, x, y, judge=load_judge())
    assert box.target.value == 5 and "written as a <b>5</b>" in box.readout.value
    shown = box.images()
    assert shown.shape == (3, 1, 28, 28) and torch.equal(shown[0], x[0])
    assert torch.allclose(shown[2], model.style_transfer(x[:1], y[:1], 5)[0])
    box.target.value = 9
    assert torch.allclose(box.images()[2], model.style_transfer(x[:1], y[:1], 9)[0])
    assert "judge:" in box.figure.axes[2].get_title()
    box.source.value = 2
    assert torch.equal(box.images()[0], x[2]) and "(a 1)" in box.readout.value
    with pytest.raises(ValueError, match="one label per image"):
        widgets.style_transfer_explorer(model, x, y[:2])


# --------------------------------------------------------------------------- the exercise check


def _right(model, x, source, target):
    mu, _ = model.encode(x, source)
    return torch.sigmoid(model.decode(mu, target))


@pytest.mark.parametrize("wrong, message", [
    (lambda m, x, s, t: torch.sigmoid(m.decode(m.encode(x, s)[0], s)), "reconstructions"),
    (lambda m, x, s, t: torch.sigmoid(m.decode(m.encode(x, t)[0], t)), "encoded with the target labels"),
    (lambda m, x, s, t: m.decode(m.encode(x, s)[0], t), "logits"),
    (lambda m, x, s, t: torch.sigmoid(m.decode(m.reparameterize(*m.encode(x, s)), t)), "changes from call to call"),
    (lambda m, x, s, t: torch.zeros_like(x), "differ"),
    (lambda m, x, s, t: x[:1], "same shape"),
])
def test_check_style_transfer_names_the_mistake(wrong, message):
    from gankit.checks import CheckFailed, check_style_transfer

    torch.manual_seed(0)
    model = ConditionalVAE(ConditionalVAEConfig(latent_dim=2, hidden_dims=[8]))
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 3, 9, 9, 4])
    check_style_transfer(_right, model, x, y)  # passes
    with pytest.raises(CheckFailed, match=message):
        check_style_transfer(wrong, model, x, y)


def test_check_style_transfer_says_not_written_yet():
    from gankit.checks import CheckFailed, check_style_transfer

    def stub(model, x, source, target):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="not written yet"):
        check_style_transfer(stub, small_cvae(image_size=28, n_classes=10), torch.rand(2, 1, 28, 28), torch.tensor([1, 2]))
