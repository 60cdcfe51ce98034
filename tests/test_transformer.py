"""gankit.models.transformer and gankit.train.train_lm: the maths a student cannot see.

Attention against PyTorch's reference, the causal mask proven on the model by perturbing a
future token, the uniform model's loss, top-k / top-p on a hand-made distribution, one
optimisation step, a tiny overfit, checkpoints, and clear errors for bad inputs.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from gankit.models import MODELS, GPT, GPTConfig
from gankit.models.transformer import causal_mask, filter_logits, scaled_dot_product_attention
from gankit.train import History, LMTrainConfig, TrainingDiverged, evaluate_lm, train_lm
from gankit.models import load_checkpoint, save_checkpoint

TINY = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16)


def tiny_gpt(seed: int = 0, **changes) -> GPT:
    torch.manual_seed(seed)
    return GPT(dataclasses.replace(TINY, **changes))


def quick(**kw) -> LMTrainConfig:
    base = dict(steps=20, batch_size=16, lr=3e-3, warmup_steps=2, eval_every=0, progress=False, seed=0)
    base.update(kw)
    return LMTrainConfig(**base)


# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("causal", [False, True])
def test_attention_equals_pytorch_reference(causal):
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(3, 4, 7, 8, generator=gen), torch.randn(3, 4, 7, 8, generator=gen)
    v = torch.randn(3, 4, 7, 5, generator=gen)  # d_v ≠ d on purpose
    out, weights = scaled_dot_product_attention(q, k, v, causal=causal)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert out.shape == (3, 4, 7, 5) and weights.shape == (3, 4, 7, 7)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 7))
    if causal:
        assert (weights.triu(diagonal=1) == 0).all()  # no weight on the future, exactly


def test_attention_scales_by_sqrt_d():
    # one query, two keys: scores q·k / √d = 4/2 = 2 and 0, so the weights are softmax([2, 0])
    q = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    k = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    _, w = scaled_dot_product_attention(q, k, torch.eye(2))
    torch.testing.assert_close(w, torch.tensor([[2.0, 0.0]]).softmax(-1))


def test_causal_mask():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_model_attention_matches_reference_function():
    model = tiny_gpt().eval()
    attn = model.blocks[0].attn
    x = torch.randn(2, 6, 16)
    B, T, C = x.shape
    q, k, v = attn.qkv(x).split(C, dim=2)
    heads = lambda t: t.view(B, T, 2, C // 2).transpose(1, 2)  # noqa: E731
    ref = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
    expected = attn.proj(ref.transpose(1, 2).reshape(B, T, C))
    got, weights = attn(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 2, 6, 6)


# --------------------------------------------------------------------------- the model


def test_shapes_and_parameter_count_of_defaults():
    model = GPT()  # CPU-sized defaults: about 200K parameters
    assert 150_000 < sum(p.numel() for p in model.parameters()) < 250_000
    idx = torch.randint(27, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, 27) and loss is None
    _, loss = model(idx, idx)
    assert loss.ndim == 0


def test_causal_mask_blocks_the_future_in_the_model():
    """Changing token t+1 must not change the outputs at positions ≤ t."""
    model = tiny_gpt().eval()
    idx = torch.randint(11, (2, 12), generator=torch.Generator().manual_seed(1))
    logits, _ = model(idx)
    for t in range(11):
        changed = idx.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 1) % 11
        new_logits, _ = model(changed)
        torch.testing.assert_close(new_logits[:, : t + 1], logits[:, : t + 1], atol=0, rtol=0)
        assert not torch.allclose(new_logits[:, t + 1], logits[:, t + 1])  # the changed position does see it


def test_positions_matter():
    """Without the positional embedding, attention cannot tell 'ab' from 'ba' at the last position."""
    model = tiny_gpt().eval()
    a, _ = model(torch.tensor([[1, 2, 3]]))
    b, _ = model(torch.tensor([[2, 1, 3]]))
    assert not torch.allclose(a[0, -1], b[0, -1])


def test_uniform_model_loss_is_log_vocab():
    model = tiny_gpt()
    with torch.no_grad():
        model.head.weight.zero_()  # every logit 0: p(token) = 1/V
    idx = torch.randint(11, (4, 12))
    _, loss = model(idx, idx)
    assert loss.item() == pytest.approx(math.log(11), rel=1e-6)


def test_loss_skips_ignored_targets():
    model = tiny_gpt().eval()
    idx = torch.randint(11, (2, 6))
    targets = torch.randint(11, (2, 6))
    logits, loss = model(idx, targets)
    partial = targets.clone()
    partial[:, 3:] = -1
    _, loss_partial = model(idx, partial)
    expected = F.cross_entropy(logits[:, :3].reshape(-1, 11), targets[:, :3].reshape(-1))
    assert loss_partial.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(1, 13, dtype=torch.long), "block_size=12"),
        (torch.tensor([[1, 11]]), "outside the vocabulary"),
        (torch.tensor([[1, -2]]), "outside the vocabulary"),
        (torch.zeros(1, 3), "long tensor"),
        (torch.zeros(3, dtype=torch.long), "long tensor"),
    ],
)
def test_bad_inputs_give_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        tiny_gpt()(bad)


def test_bad_configs():
    with pytest.raises(ValueError, match="divisible"):
        GPT(GPTConfig(n_embd=30, n_head=4))
    with pytest.raises(ValueError, match="n_layer"):
        GPT(GPTConfig(n_layer=0))
    with pytest.raises(ValueError, match="dropout"):
        GPT(GPTConfig(dropout=1.0))


def test_attention_maps():
    model = tiny_gpt().train()
    maps = model.attention_maps(torch.randint(11, (3, 5)))
    assert len(maps) == 2 and maps[0].shape == (3, 2, 5, 5)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(3, 2, 5))
    assert model.training  # left as found


# --------------------------------------------------------------------------- sampling


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.log(torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15]]))
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, False, True, False]]
    assert torch.isfinite(filter_logits(logits, top_k=10)).all()  # k ≥ vocabulary: keep all


@pytest.mark.parametrize(
    "p, expected",
    [
        (0.35, [False, True, False, False, False]),  # 0.4 alone already reaches 0.35
        (0.5, [False, True, False, True, False]),  # 0.4 < 0.5 ≤ 0.4 + 0.3
        (0.8, [False, True, False, True, True]),  # 0.7 < 0.8 ≤ 0.85
        (0.9, [False, True, True, True, True]),  # 0.85 < 0.9 ≤ 0.95
        (1.0, [True, True, True, True, True]),
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(p, expected):
    logits = torch.log(torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15]]))
    assert torch.isfinite(filter_logits(logits, top_p=p)).tolist() == [expected]


def test_top_p_on_a_batch_and_together_with_top_k():
    logits = torch.log(torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15], [0.6, 0.1, 0.1, 0.1, 0.1]]))
    kept = torch.isfinite(filter_logits(logits, top_p=0.5))
    assert kept.tolist() == [[False, True, False, True, False], [True, False, False, False, False]]
    # top-k first: 0.4, 0.3, 0.15 remain, renormalised to 0.47, 0.35, 0.18; then top-p 0.8 keeps two
    kept = torch.isfinite(filter_logits(logits, top_k=3, top_p=0.8))
    assert kept[0].tolist() == [False, True, False, True, False]


def test_top_k_and_top_p_on_random_distributions():
    """On random logits: top-k keeps exactly k tokens, the k largest; top-p keeps the smallest
    set of most likely tokens whose probability reaches p (dropping its least likely member
    would fall below p)."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 27, generator=gen) * 2
    for k in (1, 3, 10, 26):
        kept = torch.isfinite(filter_logits(logits, top_k=k))
        assert (kept.sum(-1) == k).all()
        assert (logits.masked_fill(~kept, float("inf")).min(-1).values >= logits.masked_fill(kept, float("-inf")).max(-1).values).all()
    probs = logits.softmax(-1)
    for p in (0.1, 0.5, 0.9, 0.99):
        kept = torch.isfinite(filter_logits(logits, top_p=p))
        mass = (probs * kept).sum(-1)
        smallest_kept = probs.masked_fill(~kept, float("inf")).min(-1).values
        largest_dropped = probs.masked_fill(kept, float("-inf")).max(-1).values
        assert (mass >= p - 1e-6).all()  # reaches p
        assert (mass - smallest_kept < p).all()  # without its least likely token it would not
        assert (smallest_kept >= largest_dropped).all()  # the most likely tokens, none skipped


@pytest.mark.parametrize("kw", [dict(top_p=0.0), dict(top_p=1.5), dict(top_k=0), dict(top_k=2.5)])
def test_bad_sampling_settings(kw):
    with pytest.raises(ValueError, match="top_"):
        filter_logits(torch.zeros(1, 5), **kw)


def test_generate_shapes_greedy_and_mode():
    model = tiny_gpt().train()
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = model.generate(prompt, 20, temperature=0)  # longer than block_size: the context slides
    assert out.shape == (2, 23) and torch.equal(out[:, :3], prompt)
    assert model.training  # left as found
    # greedy = the argmax of the model's prediction, step by step
    logits, _ = model.eval()(prompt)
    assert torch.equal(out[:, 3], logits[:, -1].argmax(-1))
    # a tiny temperature behaves like greedy
    cold = model.generate(prompt, 5, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cold, out[:, :8])


def test_generate_top_k_1_is_greedy_and_sampling_is_seeded():
    model = tiny_gpt()
    prompt = torch.tensor([[1]])
    greedy = model.generate(prompt, 8, temperature=0)
    assert torch.equal(model.generate(prompt, 8, top_k=1), greedy)
    a = model.generate(prompt, 8, generator=torch.Generator().manual_seed(3))
    b = model.generate(prompt, 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_generate_bad_inputs():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="prompt has 13 tokens"):
        model.generate(torch.zeros(1, 13, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.generate(torch.tensor([[99]]), 1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(torch.tensor([[1]]), 1, top_p=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.tensor([[1]]), 1, temperature=-1)


# --------------------------------------------------------------------------- training


def copy_task(n: int = 256, seed: int = 0):
    """Sequences a b c | a b c: the second half is predictable from the first."""
    x = torch.randint(10, (n, 3), generator=torch.Generator().manual_seed(seed))
    s = torch.cat([x, torch.full((n, 1), 10), x], dim=1)  # (n, 7)
    inputs, targets = s[:, :-1].clone(), s[:, 1:].clone()
    targets[:, :3] = -1  # the first digits are random: nothing to learn
    return inputs, targets


def test_one_step_lowers_the_loss_on_that_batch():
    model = tiny_gpt()
    data = copy_task(1)  # one sequence, so the random batch is that sequence repeated
    before = evaluate_lm(model, data)
    history = train_lm(model, data, quick(steps=1, batch_size=4, warmup_steps=0, lr=1e-2))
    assert len(history) == 1 and history.loss[0] == pytest.approx(before, rel=1e-5)
    assert evaluate_lm(model, data) < before


def test_train_lm_learns_the_copy_task():
    model = tiny_gpt()
    data, val = copy_task(512), copy_task(128, seed=1)
    history = train_lm(model, data, quick(steps=300, batch_size=32, eval_every=100), val_data=val)
    assert isinstance(history, History)
    assert history.val_step == [100, 200, 300]
    assert history.val_loss[-1] < 0.3 * math.log(11)
    assert model.training  # like train_gan, the model is left in train mode


def test_evaluate_lm_weights_every_token_once():
    model = tiny_gpt()
    data = copy_task(10)
    whole = evaluate_lm(model, data, batch_size=10)
    assert evaluate_lm(model, data, batch_size=3) == pytest.approx(whole, rel=1e-5)


def test_lr_schedule():
    cfg = LMTrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert cfg.lr_at(5) == pytest.approx(0.5)
    assert cfg.lr_at(10) == pytest.approx(1.0)
    assert cfg.lr_at(100) == pytest.approx(0.1)
    assert dataclasses.replace(cfg, lr_schedule="constant").lr_at(100) == 1.0


def test_train_lm_nan_is_a_clear_error():
    model = tiny_gpt()
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="step 1") as info:
        train_lm(model, copy_task(16), quick())
    assert len(info.value.history) == 0


def test_train_lm_interrupt_returns_history(monkeypatch):
    model = tiny_gpt()
    calls = {"n": 0}
    original = GPT.forward

    def interrupting(self, idx, targets=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, idx, targets)

    monkeypatch.setattr(GPT, "forward", interrupting)
    history = train_lm(model, copy_task(16), quick())
    assert history.interrupted and len(history) == 3


@pytest.mark.parametrize("bad", [torch.zeros(4, 5, dtype=torch.long), (torch.zeros(4, 5), torch.zeros(4, 6)), (torch.zeros(0, 5), torch.zeros(0, 5))])
def test_train_lm_bad_data(bad):
    with pytest.raises(ValueError, match="pair"):
        train_lm(tiny_gpt(), bad, quick())


# --------------------------------------------------------------------------- checkpoints


def test_gpt_is_registered_and_round_trips(tmp_path):
    assert MODELS["GPT"] is GPT
    model = tiny_gpt(dropout=0.1)
    path = save_checkpoint(tmp_path / "gpt.pt", model, steps=3)
    loaded = load_checkpoint(path, expected=GPT)
    assert loaded.config == model.config and not loaded.training
    prompt = torch.tensor([[1, 2]])
    a = model.generate(prompt, 10, generator=torch.Generator().manual_seed(0))
    b = loaded.generate(prompt, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)  # the same samples with the same seed


# --------------------------------------------------------------------------- the lesson's exercise check


def _reference_attention(q, k, v):
    return scaled_dot_product_attention(q, k, v, causal=True)


def _mistake(kind):
    def fn(q, k, v):
        d, T = q.shape[-1], q.shape[-2]
        future = torch.ones(T, T, dtype=torch.bool).triu(1)
        scores = q @ k.transpose(-2, -1) / (d if kind == "by d" else 1 if kind == "unscaled" else math.sqrt(d))
        if kind == "no mask":
            pass
        elif kind == "reversed":
            scores = scores.masked_fill(future.T, float("-inf"))
        elif kind == "zero":
            scores = scores.masked_fill(future, 0.0)
        else:
            scores = scores.masked_fill(future, float("-inf"))
        return scores.softmax(-2 if kind == "dim" else -1).nan_to_num() @ v

    return fn


def test_check_causal_attention_accepts_a_right_answer(capsys):
    from gankit.checks import check_causal_attention

    check_causal_attention(_reference_attention)  # returns (out, weights)
    check_causal_attention(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize(
    "kind, hint",
    [("no mask", "not masked"), ("reversed", "wrong way"), ("zero", "not -inf"), ("unscaled", "not scaled"),
     ("by d", "not √d"), ("dim", "wrong dimension")],
)
def test_check_causal_attention_names_the_mistake(kind, hint):
    from gankit.checks import CheckFailed, check_causal_attention

    with pytest.raises(CheckFailed, match=hint):
        check_causal_attention(_mistake(kind))


def test_check_causal_attention_unwritten_and_wrong_shape():
    from gankit.checks import CheckFailed, check_causal_attention

    def unwritten(q, k, v):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="not written yet"):
        check_causal_attention(unwritten)
    with pytest.raises(CheckFailed, match="weights @ v"):
        check_causal_attention(lambda q, k, v: (q @ k.transpose(-2, -1)).softmax(-1))


def _top_p_reference(probs, p):
    sorted_probs, order = probs.sort(descending=True)
    keep_sorted = (sorted_probs.cumsum(0) - sorted_probs) < p
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep[order[keep_sorted]] = True
    out = torch.where(keep, probs, torch.zeros_like(probs))
    return out / out.sum()


def test_check_top_p_accepts_a_right_answer(capsys):
    from gankit.checks import check_top_p

    check_top_p(_top_p_reference)
    check_top_p(lambda probs, p: filter_logits(probs.log(), top_p=p).softmax(-1))  # the model's own
    assert capsys.readouterr().out.count("✓") == 2


def _not_renormalised(probs, p):
    return torch.where(_top_p_reference(probs, p) > 0, probs, torch.zeros_like(probs))


def _strict_cumsum(probs, p):  # keeps tokens while the running sum *including* them is ≤ p: one too few
    sorted_probs, order = probs.sort(descending=True)
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep[order[sorted_probs.cumsum(0) <= p]] = True
    out = torch.where(keep, probs, torch.zeros_like(probs))
    return out / out.sum().clamp_min(1e-12)


def _sorted_output(probs, p):  # forgot to put the tokens back in their order
    return _top_p_reference(probs, p).sort(descending=True).values


@pytest.mark.parametrize(
    "wrong, hint",
    [(_not_renormalised, "divided by"), (_strict_cumsum, "too few"), (_sorted_output, "original order")],
)
def test_check_top_p_names_the_mistake(wrong, hint):
    from gankit.checks import CheckFailed, check_top_p

    with pytest.raises(CheckFailed, match=hint):
        check_top_p(wrong)


def test_masking_after_the_softmax_lets_the_future_leak_in():
    """Lesson 08's pitfall, measured: zero the future's weights after the softmax and an
    earlier position's output changes when only a later key changes (the normaliser saw it);
    mask the scores before the softmax and it does not."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 4, 8, generator=g) for _ in range(3))
    future = torch.ones(4, 4, dtype=torch.bool).triu(1)

    def after_softmax(q, k, v):
        w = (q @ k.transpose(-2, -1) / math.sqrt(8)).softmax(-1).masked_fill(future, 0.0)
        return w @ v

    k2 = k.clone()
    k2[:, 3] += 5.0  # change only the last position's key
    leak = (after_softmax(q, k2, v) - after_softmax(q, k, v))[:, :3].abs().max()
    masked = scaled_dot_product_attention(q, k2, v, causal=True)[0] - scaled_dot_product_attention(q, k, v, causal=True)[0]
    clean = masked[:, :3].abs().max()
    assert leak > 1e-3 and clean < 1e-6
