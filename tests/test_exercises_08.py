"""Lesson 08's exercise checks (gankit.checks.lm): a right answer passes, and each usual
mistake gets its own hint — for causal attention, the predicted attention weights, the
Transformer block and the model without positions."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.checks import (
    CheckFailed,
    check_attention_prediction,
    check_block_parameter_prediction,
    check_causal_attention,
    check_transformer_block,
    check_without_positions,
)
from gankit.checks.lm import _block_variant, _random_block, _reversal_accuracy
from gankit.models import GPT, GPTConfig
from gankit.models.transformer import scaled_dot_product_attention


def fails(check, *args) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args)
    return str(info.value)


# --------------------------------------------------------------------------- causal attention


def test_causal_attention_accepts_gankit_and_pytorch(capsys):
    check_causal_attention(lambda q, k, v: scaled_dot_product_attention(q, k, v, causal=True))
    check_causal_attention(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert capsys.readouterr().out.count("✓") == 2


def _attend(q, k, v, scale=True, mask="future", fill=float("-inf"), dim=-1, after=False):
    T, d = q.shape[-2], q.shape[-1]
    s = q @ k.transpose(-2, -1) / (math.sqrt(d) if scale is True else d if scale == "d" else 1)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    hide = {"future": future, "past": future.T, None: torch.zeros_like(future)}[mask]
    if after:
        return s.softmax(-1).masked_fill(hide, 0.0) @ v
    return (s.masked_fill(hide, fill).softmax(dim) @ v).nan_to_num()


@pytest.mark.parametrize("fn, words", [
    (lambda q, k, v: _attend(q, k, v, mask=None), "not masked"),
    (lambda q, k, v: _attend(q, k, v, mask="past"), "wrong way"),
    (lambda q, k, v: _attend(q, k, v, fill=0.0), "set to 0"),
    (lambda q, k, v: _attend(q, k, v, scale=False), "not scaled"),
    (lambda q, k, v: _attend(q, k, v, scale="d"), "divided by d"),
    (lambda q, k, v: _attend(q, k, v, dim=-2), "wrong dimension"),
    (lambda q, k, v: _attend(q, k, v, after=True), "after the softmax"),
    (lambda q, k, v: torch.zeros(1), "shape"),
])
def test_causal_attention_names_the_mistake(fn, words):
    assert words in fails(check_causal_attention, fn)


def test_causal_attention_stub_is_not_written():
    def stub(q, k, v):
        raise NotImplementedError
    assert "not written yet" in fails(check_causal_attention, stub)


# --------------------------------------------------------------------------- predict the weights


def _measured(T=4):
    q, k, v = torch.randn(T, 8), torch.ones(T, 8), torch.randn(T, 8)
    return scaled_dot_product_attention(q, k, v, causal=True)[1]


def test_prediction_right_passes(capsys):
    T = 4
    check_attention_prediction([[1 / (i + 1) if j <= i else 0 for j in range(T)] for i in range(T)], _measured(T))
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("guess, words", [
    (torch.full((4, 4), 0.25), "without the mask"),
    (torch.ones(4, 4).triu() / torch.tensor([4.0, 3, 2, 1]).unsqueeze(1), "future"),
    (torch.eye(4), "identity"),
    (torch.ones(4, 4).tril(), "sum to 1"),
    (torch.ones(4, 4).tril() / 4, "AFTER the softmax"),
    (torch.rand(4, 4), "differs from the measurement"),
    (torch.ones(3, 3), "shape"),
    (..., "not written yet"),
])
def test_prediction_names_the_mistake(guess, words):
    assert words in fails(check_attention_prediction, guess, _measured())


def test_prediction_is_compared_with_the_measurement_not_a_stored_answer():
    """Against a measurement that is not the causal one, the textbook answer must fail."""
    T = 4
    right = [[1 / (i + 1) if j <= i else 0 for j in range(T)] for i in range(T)]
    fails(check_attention_prediction, right, torch.full((T, T), 1 / T))


# --------------------------------------------------------------------------- the Transformer block


class Layers(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd)
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.attn_proj = nn.Linear(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)


def block_with(**flags):
    class Variant(Layers):
        def forward(self, x):
            return _block_variant(dict(self.state_dict()), x, self.n_head, **flags)
    return Variant


class RightBlock(Layers):
    def forward(self, x):
        B, T, C = x.shape
        heads = lambda t: t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # noqa: E731
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
        y, weights = scaled_dot_product_attention(heads(q), heads(k), heads(v), causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.fc(self.ln_2(x)))), weights


def test_the_written_out_block_is_gankits_block():
    block, flat = _random_block(32, 4)
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        assert torch.allclose(block(x)[0], _block_variant(flat, x, 4), atol=1e-5)


@pytest.mark.parametrize("cls", [RightBlock, block_with()], ids=["by_hand", "variant"])
def test_block_check_accepts_a_right_block(cls, capsys):
    check_transformer_block(cls)
    assert "✓" in capsys.readouterr().out


MISTAKES = [
    (dict(residual_attn=False), "attention's residual"),
    (dict(residual_mlp=False), "MLP's residual"),
    (dict(residual_attn=False, residual_mlp=False), "Both residual"),
    (dict(norm="post"), "post-LN"),
    (dict(norm="none"), "no LayerNorm"),
    (dict(residual_from_normed=True), "normalised x"),
    (dict(causal=False), "not causal"),
    (dict(heads="none"), "heads are not split"),
    (dict(heads="view_only"), "bare .view"),
    (dict(act="relu"), "ReLU"),
    (dict(act="none"), "no non-linearity"),
    (dict(swap_ln=True), "swapped"),
    (dict(attn_proj=False), "not mixed by attn_proj"),
]


@pytest.mark.parametrize("flags, words", MISTAKES, ids=[w for _, w in MISTAKES])
def test_block_check_names_the_mistake(flags, words):
    message = fails(check_transformer_block, block_with(**flags))
    assert words in message
    # and no earlier hint matched first: the mistakes are told apart on the check's inputs
    assert all(other not in message for _, other in MISTAKES if other != words)


def test_block_check_other_failures():
    class Stub(Layers):
        def forward(self, x):
            raise NotImplementedError
    assert "not written yet" in fails(check_transformer_block, Stub)
    assert "not written yet" in fails(check_transformer_block, ...)

    class Extra(RightBlock):
        def __init__(self, n_embd, n_head):
            super().__init__(n_embd, n_head)
            self.extra = nn.Linear(n_embd, n_embd)
    assert "do not load" in fails(check_transformer_block, Extra)

    class Half(Layers):
        def forward(self, x):
            return x[..., :4]
    assert "shape" in fails(check_transformer_block, Half)

    class Twice(RightBlock):
        def forward(self, x):
            return 2 * super().forward(x)[0]
    assert "differs from gankit's Block" in fails(check_transformer_block, Twice)


# --------------------------------------------------------------------------- no positions


SEQ = 3


@pytest.fixture(scope="module")
def reverser():
    """A tiny GPT that reverses 3 digits, trained for a few seconds, and held-out inputs."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)

    def data(n):
        digits = torch.randint(10, (n, SEQ), generator=gen)
        full = torch.cat([digits, torch.full((n, 1), 10), digits.flip(1)], dim=1)
        targets = full[:, 1:].clone()
        targets[:, :SEQ] = -1
        return full[:, :-1], targets

    model = GPT(GPTConfig(vocab_size=11, block_size=2 * SEQ, n_layer=1, n_head=2, n_embd=32))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        x, y = data(128)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, _ = data(300)
    model.eval()
    return model, x


def zero_positions(model):
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.pos_emb.weight.zero_()
    return changed


def test_without_positions_right_passes(reverser, capsys):
    model, x = reverser
    accuracy_with, _ = _reversal_accuracy(model, x, SEQ)
    assert accuracy_with > 0.9, "the fixture's model did not learn to reverse"
    accuracy = check_without_positions(zero_positions, model, x, SEQ, accuracy_with)
    assert accuracy < 0.5 * accuracy_with and "✓" in capsys.readouterr().out


def test_without_positions_mistakes(reverser):
    model, x = reverser
    kept = copy.deepcopy(model.state_dict())

    def in_place(m):
        with torch.no_grad():
            m.pos_emb.weight.zero_()
        return m
    assert "changed the trained model itself" in fails(check_without_positions, in_place, model, x, SEQ, 1.0)
    assert all(torch.equal(kept[k], v) for k, v in model.state_dict().items()), "the check must restore the model"

    def shuffled(m):
        c = copy.deepcopy(m)
        with torch.no_grad():
            c.pos_emb.weight.copy_(c.pos_emb.weight[torch.randperm(c.pos_emb.weight.shape[0])])
        return c
    assert "still differ" in fails(check_without_positions, shuffled, model, x, SEQ, 1.0)

    def also_tokens(m):
        c = zero_positions(m)
        with torch.no_grad():
            c.tok_emb.weight.zero_()
        return c
    assert "Change only pos_emb" in fails(check_without_positions, also_tokens, model, x, SEQ, 1.0)
    assert "should return the changed copy" in fails(check_without_positions, lambda m: None, model, x, SEQ, 1.0)

    def stub(m):
        raise NotImplementedError
    assert "not written yet" in fails(check_without_positions, stub, model, x, SEQ, 1.0)


def test_without_positions_fails_when_the_model_still_reverses(reverser):
    """The measurement is a real test: a copy without positions that reverses more than half as
    well as the model it is compared with fails (here against an accuracy no copy can be below half of)."""
    model, x = reverser
    message = fails(check_without_positions, zero_positions, model, x, SEQ, -1.0)
    assert "still reverses" in message


# --------------------------------------------------------------------------- predict the parameters of a block


def _count(C):
    from gankit.models.transformer import Block
    return sum(p.numel() for p in Block(GPTConfig(n_embd=C, n_head=4)).parameters())


def test_parameter_prediction_right_passes(capsys):
    check_block_parameter_prediction(12 * 64 * 64 + 13 * 64, _count(64), 64)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("guess, words", [
    (12 * 64 * 64 + 4 * 64, "biases"),
    (12 * 64 * 64 + 9 * 64, "LayerNorms"),
    (12 * 64 * 64, "biases and the LayerNorms"),
    (12 * 64 * 64 + 11 * 64, "scale AND a shift"),
    (6 * 64 * 64 + 10 * 64, "4C wide"),
    (10 * 64 * 64 + 11 * 64, "qkv maps C to 3C"),
    (11 * 64 * 64 + 12 * 64, "attn_proj"),
    (12345, "layer by layer"),
    (..., "not written yet"),
    ("many", "whole number"),
])
def test_parameter_prediction_names_the_mistake(guess, words):
    assert words in fails(check_block_parameter_prediction, guess, _count(64), 64)


def test_parameter_prediction_is_compared_with_the_measurement():
    fails(check_block_parameter_prediction, 12 * 64 * 64 + 13 * 64, _count(64) + 1, 64)
