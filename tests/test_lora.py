"""LoRA (gankit.models.lora): the wrapped model starts exactly at the base, only A and B
train, merging gives the same function in plain Linears, and the counts are the hand-computed
r · (in + out) per wrapped layer."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gankit.models import GPT, GPTConfig, LoRALinear, apply_lora, merge_lora, trainable_parameters
from gankit.train import LMTrainConfig, train_lm

TINY = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
# parameters of TINY, by hand: embeddings 11·16 + 8·16 = 304; per block LayerNorms 2·32, qkv 16·48 + 48,
# attn.proj 16·16 + 16, fc 16·64 + 64, mlp.proj 64·16 + 16 = 3,280; ln_f 32; head 11·16 = 176
TINY_PARAMS = 304 + 2 * 3280 + 32 + 176  # 7,072
# LoRA on qkv, both proj and fc: r·(16 + 48) + r·(16 + 16) + r·(16 + 64) + r·(64 + 16) = 256 r per block


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(TINY)


def tokens(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randint(11, (n, 8), generator=torch.Generator().manual_seed(seed))


def test_the_hand_count_of_the_tiny_gpt():
    assert sum(p.numel() for p in tiny_gpt().parameters()) == TINY_PARAMS == 7072


# --------------------------------------------------------------------------- one layer


def test_lora_linear_starts_exactly_at_the_base():
    torch.manual_seed(0)
    base = nn.Linear(5, 3)
    layer = LoRALinear(base, r=2, alpha=4)
    x = torch.randn(7, 5)
    assert torch.equal(layer(x), base(x))  # exactly: B = 0
    assert layer.A.shape == (2, 5) and layer.B.shape == (3, 2)
    assert torch.equal(layer.B, torch.zeros(3, 2)) and layer.A.abs().sum() > 0
    assert layer.scale == 2.0  # alpha / r
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["A", "B"]
    # A as nn.Linear draws its weight: U(-1/sqrt(in), 1/sqrt(in))
    assert layer.A.abs().max() <= 5 ** -0.5


def test_lora_linear_computes_w_plus_scaled_ba():
    base = nn.Linear(2, 2)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        base.bias.copy_(torch.tensor([0.5, -0.5]))
    layer = LoRALinear(base, r=1, alpha=3)  # scale 3
    with torch.no_grad():
        layer.A.copy_(torch.tensor([[1.0, 2.0]]))
        layer.B.copy_(torch.tensor([[1.0], [-1.0]]))
    # BA = [[1, 2], [-1, -2]]; W + 3·BA = [[4, 6], [-3, -5]]; x = (1, 1) → (10 + 0.5, -8 - 0.5)
    assert torch.allclose(layer(torch.ones(1, 2)), torch.tensor([[10.5, -8.5]]))
    assert torch.allclose(layer.delta_weight(), torch.tensor([[3.0, 6.0], [-3.0, -6.0]]))
    merged = layer.merge()
    assert type(merged) is nn.Linear
    assert torch.allclose(merged.weight, torch.tensor([[4.0, 6.0], [-3.0, -5.0]]))
    assert torch.equal(merged.bias, base.bias)
    assert torch.equal(base.weight, torch.eye(2))  # merging leaves the base as it was


def test_lora_linear_without_bias_and_bad_arguments():
    layer = LoRALinear(nn.Linear(4, 6, bias=False), r=3, alpha=1)
    assert layer.merge().bias is None
    with pytest.raises(ValueError, match="r \\(the rank of the update\\) must be a positive int"):
        LoRALinear(nn.Linear(4, 6), r=0, alpha=1)
    with pytest.raises(ValueError, match="rank at most 4, so use r ≤ 4"):
        LoRALinear(nn.Linear(4, 6), r=5, alpha=1)
    for alpha in (0, -1.0, float("nan"), "2", True):
        with pytest.raises(ValueError, match="alpha must be a positive number"):
            LoRALinear(nn.Linear(4, 6), r=1, alpha=alpha)
    with pytest.raises(TypeError, match="wraps an nn.Linear, got Conv1d"):
        LoRALinear(nn.Conv1d(4, 6, 1), r=1, alpha=1)
    with pytest.raises(TypeError, match="already has LoRA"):
        LoRALinear(LoRALinear(nn.Linear(4, 6), r=1, alpha=1), r=1, alpha=1)


# --------------------------------------------------------------------------- a whole GPT


def test_wrapped_gpt_gives_exactly_the_base_output_at_init():
    base = tiny_gpt()
    model = copy.deepcopy(base)
    apply_lora(model, r=2, alpha=4)
    x = tokens()
    assert torch.equal(model(x)[0], base(x)[0])
    wrapped = sorted(name for name, m in model.named_modules() if isinstance(m, LoRALinear))
    assert wrapped == [f"blocks.{i}.{part}" for i in range(2) for part in ("attn.proj", "attn.qkv", "mlp.fc", "mlp.proj")]
    assert isinstance(model.head, nn.Linear) and not isinstance(model.head, LoRALinear)


def test_counts_by_hand():
    model = tiny_gpt()
    n = apply_lora(model, r=2, alpha=4)
    assert n == 2 * 256 * 2 == 1024  # 2 blocks × 256 r, r = 2
    assert trainable_parameters(model) == (1024, pytest.approx(1024 / TINY_PARAMS))  # of the base model's size
    # only attention's qkv, r = 1: r·(16 + 48) per block
    assert apply_lora(tiny_gpt(), r=1, alpha=1, targets=("qkv",)) == 2 * 64
    # "attn.proj" is attention's only; "proj" both
    assert apply_lora(tiny_gpt(), r=1, alpha=1, targets=("attn.proj",)) == 2 * 32
    assert apply_lora(tiny_gpt(), r=1, alpha=1, targets="proj") == 2 * (32 + 80)
    assert apply_lora(tiny_gpt(), r=1, alpha=1, targets=("blocks.1.mlp.fc",)) == 80
    # the extras: 5 LayerNorms of 32, the head 176
    assert apply_lora(tiny_gpt(), r=2, alpha=4, train_norms=True) == 1024 + 5 * 32
    assert apply_lora(tiny_gpt(), r=2, alpha=4, train_head=True) == 1024 + 176
    assert apply_lora(tiny_gpt(), r=1, alpha=1, targets=("head",)) == 16 + 11
    # untouched, a model is all trainable
    assert trainable_parameters(tiny_gpt()) == (TINY_PARAMS, 1.0)


def test_after_training_steps_only_a_and_b_changed():
    model = tiny_gpt()
    apply_lora(model, r=2, alpha=4)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    x = tokens(32)
    train_lm(model, (x, x.roll(-1, dims=1)), LMTrainConfig(steps=3, batch_size=16, lr=1e-2, warmup_steps=0,
                                                            weight_decay=0.1, eval_every=0, progress=False, seed=0))
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    lora = {name for name in before if name.endswith((".A", ".B"))}
    assert changed == lora and len(lora) == 16  # 8 wrapped layers × (A, B): every one moved
    assert all(model.get_parameter(name).requires_grad for name in lora)


def test_one_optimiser_step_moves_b_first_and_nothing_frozen():
    """At the first step only B gets a gradient (the A branch is multiplied by B = 0)."""
    model = tiny_gpt()
    apply_lora(model, r=2, alpha=4)
    x = tokens(8)
    _, loss = model(x, x.roll(-1, dims=1))
    loss.backward()
    for name, p in model.named_parameters():
        if name.endswith(".B"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        elif name.endswith(".A"):
            assert torch.equal(p.grad, torch.zeros_like(p)), name
        else:
            assert p.grad is None, f"{name} is frozen but got a gradient"


def test_merge_gives_the_same_outputs_in_plain_linears():
    model = tiny_gpt()
    apply_lora(model, r=4, alpha=8)
    with torch.no_grad():  # a trained-looking update, so that merging has something to fold
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.B.normal_(0, 0.5)
    x = tokens()
    wrapped = model(x)[0]
    assert not torch.allclose(wrapped, tiny_gpt()(x)[0], atol=1e-3)
    assert merge_lora(model) == 8
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert all(type(model.get_submodule(f"blocks.{i}.{part}")) is nn.Linear
               for i in range(2) for part in ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"))
    assert torch.allclose(model(x)[0], wrapped, atol=1e-5)
    assert sum(p.numel() for p in model.parameters()) == TINY_PARAMS  # the same size as the base again
    assert merge_lora(model) == 0
    # a merged model is a plain GPT: its state dict loads into a fresh one
    fresh = GPT(TINY)
    fresh.load_state_dict(model.state_dict())
    assert torch.allclose(fresh(x)[0], wrapped, atol=1e-5)


def test_state_dict_round_trip_of_a_wrapped_model():
    model = tiny_gpt()
    apply_lora(model, r=2, alpha=4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.B.normal_()
    state = model.state_dict()
    assert "blocks.0.attn.qkv.base.weight" in state and "blocks.0.attn.qkv.A" in state
    other = tiny_gpt(seed=5)
    apply_lora(other, r=2, alpha=4)
    other.load_state_dict(state)
    x = tokens()
    assert torch.equal(other(x)[0], model(x)[0])
    with pytest.raises(RuntimeError, match="size mismatch"):  # another rank does not fit
        third = tiny_gpt()
        apply_lora(third, r=3, alpha=4)
        third.load_state_dict(state)


def test_apply_lora_bad_arguments_name_the_allowed_values():
    with pytest.raises(ValueError, match=r"No nn.Linear in the model is called 'query'.*'attn.qkv'.*'fc'.*'head'"):
        apply_lora(tiny_gpt(), r=2, alpha=4, targets=("query",))
    with pytest.raises(ValueError, match="targets is empty"):
        apply_lora(tiny_gpt(), r=2, alpha=4, targets=())
    with pytest.raises(ValueError, match="r \\(the rank of the update\\) must be a positive int, got 0"):
        apply_lora(tiny_gpt(), r=0, alpha=4)
    with pytest.raises(ValueError, match="r \\(the rank of the update\\) must be a positive int, got 2.5"):
        apply_lora(tiny_gpt(), r=2.5, alpha=4)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        apply_lora(tiny_gpt(), r=2, alpha=0)
    with pytest.raises(ValueError, match="rank at most 16"):
        apply_lora(tiny_gpt(), r=17, alpha=4)
    with pytest.raises(ValueError, match="choose one"):
        apply_lora(tiny_gpt(), r=1, alpha=1, targets=("qkv", "head"), train_head=True)
    model = tiny_gpt()
    apply_lora(model, r=1, alpha=1)
    with pytest.raises(ValueError, match="already has LoRA layers: merge them first"):
        apply_lora(model, r=1, alpha=1)
