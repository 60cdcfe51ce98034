"""Lesson 04 (WGAN-GP): the stack that trains several seeds at once is exactly several
independent models, and the gradient-penalty exercise check accepts the right penalty and
names each classic slip."""

from __future__ import annotations

import pytest
import torch

from gankit.checks import CheckFailed, check_gradient_penalty
from gankit.models import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig
from gankit.models.gan import MLPStack
from gankit.train import GANTrainConfig, WGANGP, gradient_penalty, train_gan


def members(cls, config, k=3):
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        out.append(cls(config))
    return out


# --------------------------------------------------------------------------- the stack


def test_stack_sends_row_i_to_member_i_mod_k():
    Ds = members(MLPDiscriminator, MLPDiscriminatorConfig(hidden_dim=8), k=3)
    stack = MLPStack(Ds)
    x = torch.randn(12, 2)
    expected = torch.stack([Ds[i % 3](x[i:i + 1])[0] for i in range(12)])
    assert stack(x).shape == (12,)
    assert torch.allclose(stack(x), expected, atol=1e-6)
    Gs = members(MLPGenerator, MLPGeneratorConfig(hidden_dim=8), k=3)
    z = torch.randn(6, 2)
    assert torch.allclose(MLPStack(Gs)(z), torch.cat([Gs[i % 3](z[i:i + 1]) for i in range(6)]), atol=1e-6)


def test_stacked_gradient_penalty_is_each_members_own():
    # per-example α and per-example norms: the stack's penalty is the mean of the members'
    Ds = members(MLPDiscriminator, MLPDiscriminatorConfig(hidden_dim=8), k=3)
    stack = MLPStack(Ds)
    real, fake = torch.randn(12, 2), torch.randn(12, 2)
    gp, norms = gradient_penalty(stack, real, fake, torch.Generator().manual_seed(1))
    alpha = torch.rand(12, 1, generator=torch.Generator().manual_seed(1))
    x_hat = alpha * real + (1 - alpha) * fake
    for i in range(12):
        xi = x_hat[i:i + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(Ds[i % 3](xi).sum(), xi)
        assert norms[i].item() == pytest.approx(grad.norm().item(), rel=1e-5)
    gp.backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in stack.weights)


def test_unstack_round_trips_and_training_moves_every_member():
    Gs = members(MLPGenerator, MLPGeneratorConfig(hidden_dim=8), k=2)
    Ds = members(MLPDiscriminator, MLPDiscriminatorConfig(hidden_dim=8), k=2)
    G, D = MLPStack(Gs), MLPStack(Ds)
    z = torch.randn(4, 2)
    assert all(torch.allclose(m(z), g(z)) for m, g in zip(G.unstack(), Gs))
    real = torch.randn(200, 2) + 3
    train_gan(G, D, real, GANTrainConfig(steps=2, batch_size=8, d_steps=2, progress=False, seed=0),
              objective=WGANGP(generator=torch.Generator().manual_seed(0)))
    for before, after in zip(Gs, G.unstack()):
        assert not torch.allclose(before(z), after(z)), "every member trains"


def test_stack_errors_explain_themselves():
    with pytest.raises(ValueError, match="equal configs"):
        MLPStack([MLPGenerator(MLPGeneratorConfig(hidden_dim=8)), MLPGenerator(MLPGeneratorConfig(hidden_dim=16))])
    with pytest.raises(ValueError, match="multiple of 3"):
        MLPStack(members(MLPGenerator, MLPGeneratorConfig(hidden_dim=8), k=3))(torch.randn(4, 2))


# --------------------------------------------------------------------------- the exercise check


def reference(critic, real, fake):
    return gradient_penalty(critic, real, fake)[0]


def per_example_alpha(real):
    return torch.rand((real.shape[0],) + (1,) * (real.ndim - 1))


def penalty(critic, real, fake, alpha_fn=per_example_alpha, norm="example", create_graph=True, of="sum"):
    alpha = alpha_fn(real)
    x_hat = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum() if of == "sum" else out.mean(), x_hat, create_graph=create_graph)
    norms = grad.flatten(1).norm(2, dim=1) if norm == "example" else grad.norm()
    return ((norms - 1) ** 2).mean()


def test_check_accepts_gankits_penalty_and_a_hand_written_one(capsys):
    check_gradient_penalty(reference)
    check_gradient_penalty(penalty)
    assert "Gradient penalty correct" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, words", [
    (lambda c, r, f: penalty(c, r, f, alpha_fn=lambda r: torch.rand(1)), "same interpolation weight"),
    (lambda c, r, f: penalty(c, r, f, alpha_fn=lambda r: torch.rand(r.shape)), "its own α"),
    (lambda c, r, f: penalty(c, r, f, alpha_fn=lambda r: torch.randn(r.shape[0], 1)), "outside [0, 1]"),
    (lambda c, r, f: penalty(c, r, f, norm="batch"), "whole batch"),
    (lambda c, r, f: penalty(c, r, f, of="mean"), "mean* output"),
    (lambda c, r, f: penalty(c, r, f, create_graph=False), "create_graph=True"),
])
def test_check_names_the_classic_mistakes(mistake, words):
    with pytest.raises(CheckFailed, match=words.replace("[", r"\[").replace("]", r"\]").replace("*", r"\*")):
        check_gradient_penalty(mistake)


def test_check_says_not_written_yet():
    def stub(critic, real, fake):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="not written yet"):
        check_gradient_penalty(stub)
