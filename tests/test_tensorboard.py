"""TensorBoard logs from the training loops (``config.log_dir``, gankit.train.core.TrainingLog).

Each test trains a tiny model for a few steps with a log in ``tmp_path``, reads the event
file back with TensorBoard's own reader (``EventAccumulator``) and checks what a student
would see: which curves, at which steps (predicted from ``log_every``, ``image_every`` and
the number of steps), with the history's own values, and the sample grids of the image
models. A run with a log must train exactly as one without, and the file must be complete
however the run ends (■, a NaN loss).
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.models import GPT, VAE, GPTConfig, MLPDenoiser, MLPDenoiserConfig, VAEConfig
from gankit.models.diffusion import sample_flow
from gankit.train import (
    ClassifierTrainConfig,
    DiffusionTrainConfig,
    GANTrainConfig,
    LMTrainConfig,
    TrainingDiverged,
    VAETrainConfig,
    train_classifier,
    train_diffusion,
    train_gan,
    train_lm,
    train_vae,
)
from gankit.train.core import display_range, scale_to_unit

tensorboard = pytest.importorskip("tensorboard", reason="the TensorBoard log needs the tensorboard package")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_log(log_dir) -> EventAccumulator:
    """Everything in the event files under ``log_dir`` (no sampling: size_guidance 0 keeps all)."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def scalar_steps(events: EventAccumulator) -> dict[str, list[int]]:
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def scalar(events: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in events.Scalars(tag)}


def grid_pixels(event) -> torch.Tensor:
    """The PNG of one logged grid, as a (height, width) tensor of grey levels 0 … 255."""
    image = Image.open(io.BytesIO(event.encoded_image_string)).convert("L")
    return torch.from_numpy(np.array(image)).long()


# --------------------------------------------------------------------------- tiny models


class TinyImageGenerator(nn.Module):
    """z (B, 4) → images (B, 1, 4, 4) in [−1, 1]; batch norm, so that sampling in eval mode
    between steps is put to the test (it must leave the running statistics alone)."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh())

    def sample_noise(self, n, device=None, generator=None):
        return torch.randn(n, self.latent_dim, generator=generator).to(device or "cpu")

    def forward(self, z):
        return self.net(z).view(len(z), 1, 4, 4)  # (B, 1, 4, 4)


def tiny_gan(seed=0):
    torch.manual_seed(seed)
    return TinyImageGenerator(), nn.Sequential(nn.Flatten(), nn.Linear(16, 1))


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return VAE(VAEConfig(image_size=8, latent_dim=2, hidden_dims=[8]))


def image_data(n=64, seed=0, low=0.0):
    g = torch.Generator().manual_seed(seed)
    return low + (1 - low) * torch.rand(n, 1, 8, 8, generator=g)


def blobs(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    return torch.randn(n, 2, generator=g) * 0.5 + (y.float() * 3 - 1.5)[:, None], y


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------- the three families


def test_a_gan_logs_its_four_curves_the_learning_rate_and_a_grid_of_fixed_noise(tmp_path):
    data = image_data(low=-1.0)[:, :, :4, :4]  # (64, 1, 4, 4) in [−1, 1], like a tanh generator's
    cfg = dict(steps=6, batch_size=16, lr_schedule="cosine", progress=False, seed=0)
    G, D = tiny_gan()
    history = train_gan(G, D, data, GANTrainConfig(**cfg, log_dir=tmp_path, log_every=2, image_every=3),
                        val_data=data[:16])

    events = read_log(tmp_path)
    curves = ["train/lr", "train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"]
    assert scalar_steps(events) == {**{tag: [2, 4, 6] for tag in curves}, "val/d_real": [6]}
    for tag in curves[1:]:  # the history's own numbers, unsmoothed
        name = tag.split("/")[1]
        assert scalar(events, tag) == pytest.approx({s: history.extras[name][s - 1] for s in (2, 4, 6)}, rel=1e-6)
    config = GANTrainConfig(**cfg)
    assert scalar(events, "train/lr") == pytest.approx({s: config.lr_at(s) for s in (2, 4, 6)}, rel=1e-6)
    assert scalar(events, "val/d_real") == pytest.approx({6: history.val_loss[0]}, rel=1e-6)
    grids = events.Images("samples")
    assert [g.step for g in grids] == [3, 6]
    assert all((g.width, g.height) == (32, 32) for g in grids)  # 64 samples of 4×4, 8 to a row

    # the log changes nothing: the same seed without it trains the same weights
    G2, D2 = tiny_gan()
    again = train_gan(G2, D2, data, GANTrainConfig(**cfg), val_data=data[:16])
    assert again.extras == history.extras and same_weights(G, G2) and same_weights(D, D2)


def test_a_gan_on_points_logs_curves_but_no_grid(tmp_path):
    torch.manual_seed(0)
    G = nn.Linear(2, 2)
    G.sample_noise = lambda n, device=None, generator=None: torch.randn(n, 2, generator=generator)
    train_gan(G, nn.Linear(2, 1), torch.randn(64, 2),
              GANTrainConfig(steps=3, batch_size=8, progress=False, seed=0, log_dir=tmp_path, log_every=1,
                             image_every=1))
    events = read_log(tmp_path)
    assert events.Tags()["images"] == [] and scalar_steps(events)["train/g_loss"] == [1, 2, 3]


def test_a_vae_logs_loss_recon_kl_validation_and_samples(tmp_path):
    data = image_data()
    cfg = dict(steps=7, batch_size=16, progress=False, seed=0, eval_every=4)
    model = tiny_vae()
    history = train_vae(model, data, VAETrainConfig(**cfg, log_dir=tmp_path, log_every=2, image_every=3),
                        val_data=data[:16])

    events = read_log(tmp_path)
    # every 2 steps, and the last (7); validations where they were taken (every 4, and the end)
    assert scalar_steps(events) == {"train/lr": [2, 4, 6, 7], "train/loss": [2, 4, 6, 7],
                                    "train/recon": [2, 4, 6, 7], "train/kl": [2, 4, 6, 7], "val/nelbo": [4, 7]}
    assert scalar(events, "train/loss") == pytest.approx({s: history.loss[s - 1] for s in (2, 4, 6, 7)}, rel=1e-6)
    assert scalar(events, "train/kl") == pytest.approx({s: history.kl[s - 1] for s in (2, 4, 6, 7)}, rel=1e-6)
    assert scalar(events, "val/nelbo") == pytest.approx(dict(zip(history.val_step, history.val_loss)), rel=1e-6)
    grids = events.Images("samples")
    assert [g.step for g in grids] == [3, 6, 7]  # every 3 steps, and the end of a run that finished
    assert all((g.width, g.height) == (64, 64) for g in grids)  # 64 samples of 8×8
    assert "config/text_summary" in events.Tags()["tensors"]  # the run says how it was configured

    model2 = tiny_vae()
    again = train_vae(model2, data, VAETrainConfig(**cfg), val_data=data[:16])
    assert again.loss == history.loss and again.val_loss == history.val_loss and same_weights(model, model2)


def test_a_language_model_logs_loss_and_validation_and_no_images(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=8))
    tokens = torch.randint(0, 5, (32, 5), generator=torch.Generator().manual_seed(0))
    data = (tokens[:, :-1], tokens[:, 1:])
    history = train_lm(model, data, LMTrainConfig(steps=5, batch_size=8, warmup_steps=2, eval_every=2,
                                                  progress=False, seed=0, log_dir=tmp_path, log_every=2),
                       val_data=data)
    events = read_log(tmp_path)
    assert scalar_steps(events) == {"train/lr": [2, 4, 5], "train/loss": [2, 4, 5], "val/loss": [2, 4, 5]}
    assert scalar(events, "train/lr")[2] == pytest.approx(1e-3)  # the end of the 2-step warm-up: the peak lr
    assert scalar(events, "val/loss") == pytest.approx(dict(zip(history.val_step, history.val_loss)), rel=1e-6)
    assert events.Tags()["images"] == []


def test_a_diffusion_run_shows_what_its_images_hook_draws(tmp_path):
    """A denoiser has no sampler the loop may call: the grid is what ``images(model)``
    returns — here a real one, two Euler steps of flow matching on 2×2 'images'."""
    torch.manual_seed(0)
    model = MLPDenoiser(MLPDenoiserConfig(data_dim=4, hidden_dim=8, n_hidden=1, time_dim=4))
    data = torch.rand(32, 4) * 2 - 1
    seen = []

    def images(m):
        seen.append(m)
        x = sample_flow(m, 6, steps=2, generator=torch.Generator().manual_seed(0))  # (6, 4) in about [−1, 1]
        return ((x.view(6, 1, 2, 2) + 1) / 2).clamp(0, 1)

    train_diffusion(model, data, DiffusionTrainConfig(steps=4, batch_size=8, objective="flow", progress=False,
                                                      seed=0, log_dir=tmp_path, log_every=4, image_every=2),
                    images=images)
    events = read_log(tmp_path)
    assert scalar_steps(events) == {"train/lr": [4], "train/loss": [4]}
    assert [(g.step, g.width, g.height) for g in events.Images("samples")] == [(2, 12, 2), (4, 12, 2)]  # 6 in a row
    assert seen == [model, model]  # without ema, the live model

    seen.clear()  # without a log the hook is never called
    train_diffusion(model, data, DiffusionTrainConfig(steps=2, batch_size=8, objective="flow", progress=False),
                    images=images)
    assert seen == []


def test_the_grid_holds_the_hooks_pixels(tmp_path):
    """A hook of constant grey 0.2 gives a PNG of grey level 0.2 · 255 = 51 everywhere."""
    model = MLPDenoiser(MLPDenoiserConfig(data_dim=2, hidden_dim=8, n_hidden=1, time_dim=4))
    train_diffusion(model, torch.randn(16, 2), DiffusionTrainConfig(steps=1, batch_size=8, progress=False,
                                                                     log_dir=tmp_path),
                    images=lambda m: torch.full((2, 1, 3, 3), 0.2))
    (grid,) = read_log(tmp_path).Images("samples")  # the end of the run: step 1
    pixels = grid_pixels(grid)
    assert grid.step == 1 and pixels.shape == (3, 6) and (pixels == 51).all()


# --------------------------------------------------------------------------- however the run ends


def test_an_interrupted_run_leaves_a_complete_log_up_to_its_last_step(tmp_path, capsys):
    def stop(step, models, history):
        if step == 3:
            raise KeyboardInterrupt  # the ■ button

    model = tiny_vae()
    history = train_vae(model, image_data(), VAETrainConfig(steps=10, batch_size=16, progress=False, seed=0,
                                                            log_dir=tmp_path, log_every=2, image_every=2),
                        callback=stop)
    assert history.interrupted and len(history) == 3 and "interrupted at step 3" in capsys.readouterr().out
    events = read_log(tmp_path)  # readable at once: closed, not waiting for a flush
    assert scalar_steps(events)["train/loss"] == [2, 3]  # every 2 steps, and the last completed one
    assert scalar(events, "train/loss")[3] == pytest.approx(history.loss[2], rel=1e-6)
    assert [g.step for g in events.Images("samples")] == [2]  # no grid drawn after ■


def test_a_diverged_run_leaves_a_complete_log_and_raises(tmp_path):
    model = nn.Linear(2, 2)

    def poison(step, models, history):
        if step == 2:
            with torch.no_grad():
                models["model"].weight.fill_(float("nan"))  # step 3's loss is NaN

    with pytest.raises(TrainingDiverged) as info:
        train_classifier(model, blobs(), ClassifierTrainConfig(steps=10, batch_size=16, warmup_steps=0,
                                                               progress=False, log_dir=tmp_path, log_every=5),
                         callback=poison)
    assert len(info.value.history) == 2
    assert scalar_steps(read_log(tmp_path)) == {"train/lr": [2], "train/loss": [2]}  # the last completed step


def test_a_classifier_logs_its_error_rate_as_val_error(tmp_path):
    history = train_classifier(nn.Linear(2, 2), blobs(), ClassifierTrainConfig(steps=4, batch_size=16, seed=0,
                                                                               progress=False, log_dir=tmp_path,
                                                                               log_every=4),
                               val_data=blobs(32, seed=1))
    events = read_log(tmp_path)
    assert scalar(events, "val/error") == pytest.approx({4: history.val_loss[-1]}, rel=1e-6)
    assert events.Tags()["images"] == []


# --------------------------------------------------------------------------- no log, no tensorboard


def test_without_log_dir_tensorboard_is_never_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # any import of it now fails
    history = train_classifier(nn.Linear(2, 2), blobs(), ClassifierTrainConfig(steps=2, batch_size=16,
                                                                               progress=False))
    assert len(history) == 2


def test_a_log_without_tensorboard_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    model = nn.Linear(2, 2)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ImportError, match="pip install tensorboard"):
        train_classifier(model, blobs(), ClassifierTrainConfig(steps=2, batch_size=16, progress=False,
                                                               log_dir=tmp_path / "run"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # stopped before step 1


@pytest.mark.parametrize("bad, message", [
    (dict(log_every=0), "log_every must be a positive int"),
    (dict(image_every=-1), "image_every must be an int ≥ 0"),
    (dict(log_dir=5), "log_dir must be a folder"),
])
def test_bad_log_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        VAETrainConfig(**bad)


def test_a_hook_that_returns_no_images_is_named(tmp_path):
    model = MLPDenoiser(MLPDenoiserConfig(data_dim=2, hidden_dim=8, n_hidden=1, time_dim=4))
    with pytest.raises(ValueError, match=r"must return images \(N, C, H, W\).*got \(4, 2\)"):
        train_diffusion(model, torch.randn(16, 2), DiffusionTrainConfig(steps=2, batch_size=8, progress=False,
                                                                         log_dir=tmp_path, image_every=1),
                        images=lambda m: torch.zeros(4, 2))


def test_samples_are_shown_on_the_datas_scale():
    assert display_range(torch.tensor([0.0, 0.5, 1.0])) == (0.0, 1.0)  # [0, 1]: as it is
    assert display_range(torch.tensor([-0.9, 0.3])) == (-1.0, 1.0)  # within [−1, 1]: a tanh's range
    assert display_range(torch.tensor([0.0, 255.0])) == (0.0, 255.0)  # anything else: its min and max
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0, 3.0])
    assert torch.equal(scale_to_unit(x, -1.0, 1.0), torch.tensor([0.0, 0.5, 0.75, 1.0, 1.0]))  # (x + 1) / 2, clipped
