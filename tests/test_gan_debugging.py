"""gankit.checks.gan_debugging (lesson 05): each check passes the right piece and fails every
buggy variant with a message that names the mistake."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.checks import CheckFailed
from gankit.checks.gan_debugging import (
    GANParts,
    check_criterion,
    check_d_step,
    check_g_step,
    check_image_generator,
    check_optimizers,
    check_real_batch,
    check_update,
    show_error,
)
from gankit.models import MLPDiscriminator, MLPGenerator


def fails(check, *args) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args)
    return str(info.value)


def passes(check, *args, capsys) -> str:
    check(*args)
    out = capsys.readouterr().out
    assert out.startswith("✓"), out
    return out


def not_written(*args, **kwargs):
    raise NotImplementedError("Exercise: write it (see the instructions above).")


# --------------------------------------------------------------------------- the pieces, right and wrong


def update_right(optimizer, loss):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def update_zero_grad_after_backward(optimizer, loss):
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()


def update_no_zero_grad(optimizer, loss):
    loss.backward()
    optimizer.step()


def update_no_step(optimizer, loss):
    optimizer.zero_grad()
    loss.backward()


def d_step_right(gan, real, fake):
    real_logits, fake_logits = gan.D(real), gan.D(fake.detach())
    loss = gan.criterion(real_logits, torch.ones_like(real_logits)) + gan.criterion(fake_logits, torch.zeros_like(fake_logits))
    update_right(gan.opt_d, loss)
    return loss.item()


def d_step_averaged(gan, real, fake):
    real_logits, fake_logits = gan.D(real), gan.D(fake.detach())
    loss = (gan.criterion(real_logits, torch.ones_like(real_logits))
            + gan.criterion(fake_logits, torch.zeros_like(fake_logits))) / 2
    update_right(gan.opt_d, loss)
    return loss  # a one-element tensor is fine too


def d_step_no_detach(gan, real, fake):
    real_logits, fake_logits = gan.D(real), gan.D(fake)
    loss = gan.criterion(real_logits, torch.ones_like(real_logits)) + gan.criterion(fake_logits, torch.zeros_like(fake_logits))
    update_right(gan.opt_d, loss)
    return loss.item()


def d_step_retain_graph(gan, real, fake):
    """The tempting wrong fix of the autograd error: keep the graph, still no detach."""
    real_logits, fake_logits = gan.D(real), gan.D(fake)
    loss = gan.criterion(real_logits, torch.ones_like(real_logits)) + gan.criterion(fake_logits, torch.zeros_like(fake_logits))
    gan.opt_d.zero_grad()
    loss.backward(retain_graph=True)
    gan.opt_d.step()
    return loss.item()


def d_step_swapped_targets(gan, real, fake):
    real_logits, fake_logits = gan.D(real), gan.D(fake.detach())
    loss = gan.criterion(real_logits, torch.zeros_like(real_logits)) + gan.criterion(fake_logits, torch.ones_like(fake_logits))
    update_right(gan.opt_d, loss)
    return loss.item()


def d_step_with_buggy_update(gan, real, fake):
    """Right in itself; the update it calls is the broken one (lesson 05's state at exercise 3)."""
    real_logits, fake_logits = gan.D(real), gan.D(fake.detach())
    loss = gan.criterion(real_logits, torch.ones_like(real_logits)) + gan.criterion(fake_logits, torch.zeros_like(fake_logits))
    update_zero_grad_after_backward(gan.opt_d, loss)
    return loss.item()


def d_step_steps_g(gan, real, fake):
    real_logits, fake_logits = gan.D(real), gan.D(fake.detach())
    loss = gan.criterion(real_logits, torch.ones_like(real_logits)) + gan.criterion(fake_logits, torch.zeros_like(fake_logits))
    update_right(gan.opt_g, loss)
    return loss.item()


def g_step_right(gan, fake):
    fake_logits = gan.D(fake)
    loss = gan.criterion(fake_logits, torch.ones_like(fake_logits))
    update_right(gan.opt_g, loss)
    return loss.item()


def g_step_wrong_network(gan, fake):
    fake_logits = gan.D(fake)
    loss = gan.criterion(fake_logits, torch.ones_like(fake_logits))
    update_right(gan.opt_d, loss)
    return loss.item()


def g_step_target_zero(gan, fake):
    fake_logits = gan.D(fake)
    loss = gan.criterion(fake_logits, torch.zeros_like(fake_logits))
    update_right(gan.opt_g, loss)
    return loss.item()


def g_step_no_update(gan, fake):
    fake_logits = gan.D(fake)
    return gan.criterion(fake_logits, torch.ones_like(fake_logits)).item()


def g_step_steps_both(gan, fake):
    fake_logits = gan.D(fake)
    loss = gan.criterion(fake_logits, torch.ones_like(fake_logits))
    gan.opt_g.zero_grad()
    gan.opt_d.zero_grad()
    loss.backward()
    gan.opt_g.step()
    gan.opt_d.step()
    return loss.item()


def real_batch_right(data, batch_size, generator=None):
    return data[torch.randint(len(data), (batch_size,), generator=generator)]


def real_batch_noise(data, batch_size, generator=None):
    return torch.randn(batch_size, data.shape[1], generator=generator)


def real_batch_first_rows(data, batch_size, generator=None):
    return data[:batch_size]


def real_batch_ignores_generator(data, batch_size, generator=None):
    return data[torch.randint(len(data), (batch_size,))]


def real_batch_small_range(data, batch_size, generator=None):
    return data[torch.randint(batch_size, (batch_size,), generator=generator)]


def make_optimizers_right(G, D, lr):
    return torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)), torch.optim.Adam(D.parameters(), lr=lr)


def make_optimizers_classes(G, D, lr):
    opt_g = torch.optim.Adam(MLPGenerator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(MLPDiscriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    return opt_g, opt_d


class ImageGenerator(nn.Module):
    """The article's MLP image generator, with the last layer's size as a parameter."""

    def __init__(self, latent_dim=64, image_shape=(1, 28, 28), out_features=None, flat=-1):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.flat = flat
        out = out_features if out_features is not None else math.prod(self.image_shape)
        self.net = nn.Sequential(nn.Linear(latent_dim, 32), nn.LeakyReLU(0.2), nn.Linear(32, out), nn.Tanh())

    def forward(self, z):
        batch = z.shape[0] if self.flat is None else self.flat
        return self.net(z).view(batch, *self.image_shape)


# --------------------------------------------------------------------------- 1 · optimisers


def test_optimizers_check(capsys):
    passes(check_optimizers, make_optimizers_right, capsys=capsys)
    message = fails(check_optimizers, make_optimizers_classes)
    assert "TypeError" in message and "class" in message and "G.parameters()" in message
    assert "swapped" in fails(check_optimizers, lambda G, D, lr: make_optimizers_right(D, G, lr))
    assert "learning rate" in fails(check_optimizers, lambda G, D, lr: make_optimizers_right(G, D, 1e-2))
    message = fails(check_optimizers, lambda G, D, lr: make_optimizers_right(G, G, lr))
    assert "opt_d should hold exactly the parameters of D" in message
    assert "not written yet" in fails(check_optimizers, not_written)
    assert "pair" in fails(check_optimizers, lambda G, D, lr: torch.optim.Adam(G.parameters(), lr=lr))


# --------------------------------------------------------------------------- 2 · criterion


def test_criterion_check(capsys):
    out = passes(check_criterion, nn.BCEWithLogitsLoss(), capsys=capsys)
    passes(check_criterion, F.binary_cross_entropy_with_logits, capsys=capsys)
    passes(check_criterion, lambda a, t: (F.softplus(a) - t * a).mean(), capsys=capsys)  # by hand
    # the hand computation the check compares with: mean[log(1 + e^a) - t a] on its test batch
    a, t = torch.tensor([-3.0, 0.5, 2.0, 40.0]), torch.tensor([0.0, 1.0, 1.0, 0.0])
    by_hand = sum(math.log1p(math.exp(x)) - y * x for x, y in zip(a.tolist(), t.tolist())) / 4
    assert f"{by_hand:.4f}" in out

    message = fails(check_criterion, nn.BCELoss())
    assert "BCELoss expects probabilities" in message and "BCEWithLogitsLoss" in message
    assert "sigmoid followed by BCELoss" in fails(check_criterion, lambda a, t: nn.BCELoss()(torch.sigmoid(a), t))
    assert "sum" in fails(check_criterion, nn.BCEWithLogitsLoss(reduction="sum"))
    assert "flipped" in fails(check_criterion, lambda a, t: F.binary_cross_entropy_with_logits(a, 1 - t))
    assert "gradient" in fails(check_criterion, lambda a, t: F.binary_cross_entropy_with_logits(a, t).detach())
    assert "not written yet" in fails(check_criterion, ...)  # the student version's `criterion = ...`
    assert "not written yet" in fails(check_criterion, not_written)


# --------------------------------------------------------------------------- 3 · D's step


def test_d_step_check(capsys):
    passes(check_d_step, d_step_right, capsys=capsys)
    passes(check_d_step, d_step_averaged, capsys=capsys)
    passes(check_d_step, d_step_with_buggy_update, capsys=capsys)  # exercise 3 comes before update's fix
    message = fails(check_d_step, d_step_no_detach)
    assert "detach" in message and "G" in message
    assert "retain_graph" in fails(check_d_step, d_step_retain_graph)
    assert "target 1" in fails(check_d_step, d_step_swapped_targets)
    assert "not written yet" in fails(check_d_step, not_written)
    assert "number" in fails(check_d_step, lambda gan, real, fake: None)


# --------------------------------------------------------------------------- 4 · update


def test_update_check(capsys):
    out = passes(check_update, update_right, capsys=capsys)
    assert "D's step" not in out
    out = passes(check_update, update_right, d_step_right, capsys=capsys)
    assert "only D" in out
    message = fails(check_update, update_zero_grad_after_backward)
    assert "zero_grad() ran after backward()" in message
    assert "call optimizer.zero_grad() before loss.backward()" in fails(check_update, update_no_zero_grad)
    assert "call optimizer.step()" in fails(check_update, update_no_step)
    assert "not written yet" in fails(check_update, not_written)
    # with a right update, a d_step that steps the wrong optimiser is caught too
    assert "did not change D's weights" in fails(check_update, update_right, d_step_steps_g)


def test_update_check_with_d_step_still_calling_the_buggy_update():
    message = fails(check_update, update_right, d_step_with_buggy_update)
    assert "did not change D's weights" in message


# --------------------------------------------------------------------------- 5 · G's step


def test_g_step_check(capsys):
    passes(check_g_step, g_step_right, capsys=capsys)
    message = fails(check_g_step, g_step_wrong_network)
    assert "wrong network" in message and "gan.opt_g" in message
    assert "target is 1" in fails(check_g_step, g_step_target_zero)
    assert "did not change" in fails(check_g_step, g_step_no_update)
    assert "D's weights changed" in fails(check_g_step, g_step_steps_both)
    assert "not written yet" in fails(check_g_step, not_written)


def test_g_step_check_catches_a_buggy_update():
    def g_step(gan, fake):
        fake_logits = gan.D(fake)
        loss = gan.criterion(fake_logits, torch.ones_like(fake_logits))
        update_zero_grad_after_backward(gan.opt_g, loss)
        return loss.item()

    assert "G's weights did not change" in fails(check_g_step, g_step)


# --------------------------------------------------------------------------- 6 · the real batch


def test_real_batch_check(capsys):
    passes(check_real_batch, real_batch_right, capsys=capsys)
    message = fails(check_real_batch, real_batch_noise)
    assert "noise" in message and "passed off as the real batch" in message
    assert "same rows at every call" in fails(check_real_batch, real_batch_first_rows)
    assert "generator" in fails(check_real_batch, real_batch_ignores_generator)
    assert "whole data set" in fails(check_real_batch, real_batch_small_range)
    assert "shape (64, 2)" in fails(check_real_batch, lambda data, n, generator=None: data[:n].T)
    message = fails(check_real_batch, lambda data, n, generator=None: real_batch_right(data, n, generator) * 2)
    assert "not examples of data" in message
    assert "not written yet" in fails(check_real_batch, not_written)


# --------------------------------------------------------------------------- 7 · an image generator


def test_image_generator_check(capsys):
    passes(check_image_generator, ImageGenerator, capsys=capsys)
    passes(check_image_generator, lambda **kw: ImageGenerator(flat=None, **kw), capsys=capsys)

    # the article's bug: 32 x 32 = 1024 numbers per sample for a 1 x 28 x 28 image
    message = fails(check_image_generator, lambda **kw: ImageGenerator(out_features=32 * 32, **kw))
    assert "1024 numbers per sample" in message and "784" in message and "math.prod(image_shape)" in message
    # the size hard-coded for digits: right for (1, 28, 28), wrong for any other image
    message = fails(check_image_generator, lambda **kw: ImageGenerator(out_features=784, **kw))
    assert "(3, 8, 8)" in message and "784 numbers per sample" in message
    assert "not written yet" in fails(check_image_generator, not_written)


def test_image_generator_check_names_a_silently_wrong_batch():
    """49 · 1024 = 64 · 784: view(-1, 1, 28, 28) succeeds with the wrong number of images.
    Checked at batch 49 directly, on a generator that accepts only that batch."""

    class OnlyBatch49(ImageGenerator):
        def forward(self, z):
            if z.shape[0] != 49:
                return super().forward(torch.zeros(49, z.shape[1]))[: z.shape[0]]
            return super().forward(z)

    message = fails(check_image_generator, lambda **kw: OnlyBatch49(out_features=32 * 32, **kw))
    assert "49 noise vectors gave 64 images" in message and "silently" in message


# --------------------------------------------------------------------------- helpers


def test_show_error_prints_the_error_and_returns_it(capsys):
    def broken():
        return torch.zeros(2) @ torch.zeros(3)

    exc = show_error(broken)
    out = capsys.readouterr().out
    assert isinstance(exc, RuntimeError)
    assert "in broken(), line" in out and "RuntimeError" in out
    assert show_error(lambda: 1) is None
    assert "No error" in capsys.readouterr().out


def test_checks_leave_the_global_random_stream_alone(capsys):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_d_step(d_step_right)
    check_image_generator(ImageGenerator)
    capsys.readouterr()
    assert torch.equal(torch.rand(3), expected)


def test_gan_parts_holds_what_a_step_needs():
    G, D = MLPGenerator(), MLPDiscriminator()
    opt_g, opt_d = make_optimizers_right(G, D, 1e-3)
    gan = GANParts(G, D, opt_g, opt_d, nn.BCEWithLogitsLoss())
    fake = G(G.sample_noise(8))
    assert isinstance(d_step_right(gan, torch.randn(8, 2), fake), float)
    assert isinstance(g_step_right(gan, fake), float)  # fake's graph survived D's step
