"""gankit.train.core: what every loop shares — schedules, the optimiser, the one EMA, the
callback, early stopping, interrupts — and the classifier loop built on it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.data import ring8
from gankit.models import (
    MLPDiscriminator,
    MLPDiscriminatorConfig,
    MLPGenerator,
    MLPGeneratorConfig,
)
from gankit.train import (
    ClassifierTrainConfig,
    GANTrainConfig,
    History,
    LMTrainConfig,
    TrainConfig,
    VAETrainConfig,
    WeightAverage,
    accuracy,
    scheduled_lr,
    train_classifier,
    train_gan,
)
from gankit.train.core import check_examples, make_optimizer
from gankit.utils import check_positive_int, eval_mode

# --------------------------------------------------------------------------- schedules, by hand


def test_linear_schedule_by_hand():
    # 4 steps, no warm-up: 1, 3/4, 1/2, 1/4 (the last update still moves; 0 after it)
    assert [scheduled_lr(s, 2.0, 4, schedule="linear", min_lr_ratio=0.0) for s in range(1, 5)] == [2.0, 1.5, 1.0, 0.5]
    # with a floor of 0.5·lr: 2 → 0.5 over 4 steps, by (2 − 1)/4 = 0.25... of (lr − floor) each
    assert [scheduled_lr(s, 2.0, 4, schedule="linear", min_lr_ratio=0.5) for s in range(1, 5)] == \
        pytest.approx([2.0, 1.75, 1.5, 1.25])
    # warm-up of 2 steps, then the line over the remaining 2
    assert [scheduled_lr(s, 1.0, 4, warmup_steps=2, schedule="linear", min_lr_ratio=0.0) for s in range(1, 5)] == \
        pytest.approx([0.5, 1.0, 1.0, 0.5])


def test_cosine_schedule_by_hand():
    lr = [scheduled_lr(s, 1.0, 10, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1) for s in range(1, 11)]
    assert lr[:2] == [0.5, 1.0]  # warm-up
    assert lr[-1] == pytest.approx(0.1)  # the floor at the last step
    mid = 2 + 4  # halfway through the 8 decay steps: cos(π/2) = 0, halfway between lr and floor
    assert lr[mid - 1] == pytest.approx(0.55)
    assert all(a >= b for a, b in zip(lr[1:], lr[2:]))


def test_every_config_shares_the_common_names():
    shared = ("steps", "batch_size", "lr", "lr_schedule", "warmup_steps", "min_lr_ratio", "grad_clip", "ema",
              "eval_every", "keep_best", "patience", "seed", "progress")
    for cls in (GANTrainConfig, LMTrainConfig, VAETrainConfig, ClassifierTrainConfig):
        cfg = cls()
        assert isinstance(cfg, TrainConfig)
        assert all(hasattr(cfg, name) for name in shared), cls.__name__


@pytest.mark.parametrize("bad, match", [
    (dict(steps=0), "steps must be a positive int"),
    (dict(batch_size=2.5), "batch_size must be a positive int"),
    (dict(lr_schedule="exponential"), "lr_schedule must be one of"),
    (dict(ema=1.0), "ema must be in"),
    (dict(grad_clip=0.0), "grad_clip"),
    (dict(min_lr_ratio=2.0), "min_lr_ratio"),
    (dict(warmup_steps=-1), "warmup_steps"),
])
def test_config_errors_name_the_field(bad, match):
    for cls in (LMTrainConfig, VAETrainConfig):
        with pytest.raises(ValueError, match=match):
            cls(**bad)


def test_a_gan_has_no_validation_loss_to_keep_the_best_of():
    with pytest.raises(ValueError, match="keep_best"):
        GANTrainConfig(keep_best=True)


# --------------------------------------------------------------------------- small shared pieces


def test_check_positive_int():
    assert check_positive_int(3, "n") == 3
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match="n must be a positive int"):
            check_positive_int(bad, "n")


def test_eval_mode_restores_each_models_own_mode():
    a, b = nn.Dropout(), nn.Dropout()
    b.eval()
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(RuntimeError):
        with eval_mode(a):
            raise RuntimeError("boom")
    assert a.training  # restored after an error too


def test_check_examples_messages():
    x = torch.zeros(4, 2)
    assert check_examples(x)[1] is None
    with pytest.raises(ValueError, match="3 items"):
        check_examples((x, x, x))
    with pytest.raises(ValueError, match="integer class indices"):
        check_examples((x, torch.zeros(4)))
    with pytest.raises(ValueError, match="4 examples but 3 labels"):
        check_examples((x, torch.zeros(3, dtype=torch.long)))
    with pytest.raises(ValueError, match="≥ 0"):
        check_examples((x, torch.tensor([0, 1, -1, 0])))
    with pytest.raises(ValueError, match="NaN"):
        check_examples(torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match="val_data must be a non-empty tensor"):
        check_examples(torch.zeros(0, 2), "val_data")


def test_make_optimizer_decays_matrices_only_and_skips_frozen_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    model[2].requires_grad_(False)
    opt = make_optimizer(model, LMTrainConfig(weight_decay=0.1))
    decay, no_decay = opt.param_groups
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 3])] and decay["weight_decay"] == 0.1
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0  # bias, LayerNorm weight and bias
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(model, LMTrainConfig())


def test_weight_average_by_hand():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # decay min(0.5, 1/10) = 0.1: 0.1·0 + 0.9·1
    assert ema.model.weight.item() == pytest.approx(0.9)
    ema.update(model)  # decay min(0.5, 2/11): 0.9 + (1 − 2/11)(1 − 0.9)
    assert ema.model.weight.item() == pytest.approx(0.9 + (1 - 2 / 11) * 0.1)
    assert not ema.model.weight.requires_grad


# --------------------------------------------------------------------------- the loops' shared behaviour


def tiny_gan():
    torch.manual_seed(0)
    return (MLPGenerator(MLPGeneratorConfig(hidden_dim=16, n_hidden=1)),
            MLPDiscriminator(MLPDiscriminatorConfig(hidden_dim=16, n_hidden=1)))


def test_callback_sees_every_step_the_models_and_the_history():
    G, D = tiny_gan()
    seen = []

    def callback(step, models, history):
        seen.append((step, sorted(models), len(history)))

    train_gan(G, D, ring8().sample(200, seed=0), GANTrainConfig(steps=3, batch_size=16, progress=False, seed=0,
                                                               ema=0.9), callback=callback)
    assert seen == [(s, ["discriminator", "ema", "generator"], s) for s in (1, 2, 3)]


def test_gan_ema_ends_with_the_averaged_generator():
    G, D = tiny_gan()
    kept = {}

    def callback(step, models, history):
        kept["ema"] = {k: v.clone() for k, v in models["ema"].state_dict().items()}

    train_gan(G, D, ring8().sample(200, seed=0), GANTrainConfig(steps=5, batch_size=16, progress=False, seed=0,
                                                               ema=0.9), callback=callback)
    assert all(torch.equal(G.state_dict()[k], v) for k, v in kept["ema"].items())


def test_gan_val_data_records_d_on_held_out_examples():
    G, D = tiny_gan()
    data = ring8().sample(300, seed=0)
    history = train_gan(G, D, data[:200], GANTrainConfig(steps=6, batch_size=16, progress=False, seed=0,
                                                        eval_every=3), val_data=data[200:])
    assert history.val_step == [3, 6]
    assert all(0 <= p <= 1 for p in history.val_loss)
    with pytest.raises(ValueError, match="same form"):
        train_gan(G, D, data, GANTrainConfig(steps=1, progress=False),
                  val_data=(data[:10], torch.zeros(10, dtype=torch.long)))


def test_history_curves_by_name():
    h = History()
    h.record(1, 0.1, 2.0, recon=1.5, kl=0.5)
    assert h.loss == [2.0] and h.recon == [1.5] and h.kl == [0.5] and len(h) == 1
    # a GAN loop written by hand (lesson 05) appends to the named curves; they land in extras
    g = History()
    g.step.append(1)
    g.d_loss.append(0.7)
    g.g_loss.append(0.9)
    assert g.extras == {"d_loss": [0.7], "g_loss": [0.9]} and g.as_dict()["extras"]["d_loss"] == [0.7]


# --------------------------------------------------------------------------- the classifier loop


def blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + (y.float() * 3 - 1.5)[:, None]
    return x, y


def test_train_classifier_separates_two_blobs_and_keeps_the_best():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    train, val = blobs(200, 0), blobs(100, 1)
    before = accuracy(model, val)
    history = train_classifier(model, train, ClassifierTrainConfig(steps=60, batch_size=32, warmup_steps=5,
                                                                   eval_every=20, keep_best=True, seed=0,
                                                                   progress=False), val_data=val)
    assert accuracy(model, val) > 0.95 > before - 0.3
    assert history.val_step == [20, 40, 60] and history.best_step in (20, 40, 60)
    assert accuracy(model, val) == pytest.approx(1 - min(history.val_loss))  # the best weights were kept


def test_train_classifier_augment_gets_the_loops_generator():
    calls = []

    def augment(x, generator):
        calls.append(generator)
        return x + 0.01 * torch.randn(x.shape, generator=generator)

    model = nn.Linear(2, 2)
    train_classifier(model, blobs(64), ClassifierTrainConfig(steps=3, batch_size=32, warmup_steps=0, seed=5,
                                                             progress=False), augment=augment)
    assert len(calls) == 3 and all(isinstance(g, torch.Generator) for g in calls)
    with pytest.raises(ValueError, match="needs data = \\(examples, labels\\)"):
        train_classifier(model, torch.zeros(4, 2), ClassifierTrainConfig(progress=False))


def test_an_interrupt_keeps_the_model_and_its_history(capsys):
    model = nn.Linear(2, 2)

    def callback(step, models, history):
        if step == 4:
            raise KeyboardInterrupt

    history = train_classifier(model, blobs(64), ClassifierTrainConfig(steps=10, batch_size=16, warmup_steps=0,
                                                                       progress=False), callback=callback)
    assert history.interrupted and len(history) == 4 and math.isfinite(history.seconds)
    assert "interrupted at step 4" in capsys.readouterr().out
