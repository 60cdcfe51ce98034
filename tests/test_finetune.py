"""Lesson 10's pieces: partial fine-tuning (freeze_all_but_top), the pretraining data without
the first names, and the bundled pretrained checkpoint and its recipe."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gankit import text
from gankit.models import GPT, GPTConfig
from gankit.models.transformer import freeze_all_but_top
from gankit.train import LMTrainConfig, evaluate_lm, train_lm

TINY = GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=16)


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(dataclasses.replace(TINY))


def batch(n: int = 32, seed: int = 0):
    x = torch.randint(11, (n, 8), generator=torch.Generator().manual_seed(seed))
    return x, x.roll(-1, dims=1)


def test_freeze_leaves_only_the_top_trainable():
    model = tiny_gpt()
    top = [*model.blocks[2].parameters(), *model.ln_f.parameters(), *model.head.parameters()]
    n = freeze_all_but_top(model, n_blocks=1)
    assert n == sum(p.numel() for p in top)
    assert all(p.requires_grad for p in top)
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert len(frozen) == len(list(model.parameters())) - len(top)
    assert any(p is model.tok_emb.weight for p in frozen) and any(p is model.pos_emb.weight for p in frozen)
    # n_blocks = n_layer makes everything but the embeddings trainable again; 0 leaves the head and ln_f
    n_all = freeze_all_but_top(model, n_blocks=3)
    assert n_all == sum(p.numel() for p in model.parameters()) - model.tok_emb.weight.numel() - model.pos_emb.weight.numel()
    assert freeze_all_but_top(model, n_blocks=0) == sum(p.numel() for m in (model.ln_f, model.head) for p in m.parameters())


def test_frozen_parameters_do_not_change_after_training_steps():
    model = tiny_gpt()
    freeze_all_but_top(model, n_blocks=1)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    data = batch()
    loss_before = evaluate_lm(model, data)
    train_lm(model, data, LMTrainConfig(steps=5, batch_size=16, lr=1e-2, warmup_steps=0, weight_decay=0.1,
                                        eval_every=0, progress=False, seed=0))
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, before[name]), f"{name} is trainable but did not change"
        else:  # not even weight decay may touch a frozen weight
            assert torch.equal(p, before[name]), f"{name} is frozen but changed"
            assert p.grad is None
    assert evaluate_lm(model, data) < loss_before


def test_train_lm_refuses_a_fully_frozen_model():
    model = tiny_gpt()
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_lm(model, batch(), LMTrainConfig(steps=1, progress=False))


def test_freeze_bad_n_blocks():
    with pytest.raises(ValueError, match="n_blocks must be an int from 0 to the model's 3 blocks"):
        freeze_all_but_top(tiny_gpt(), n_blocks=4)
    with pytest.raises(ValueError, match="n_blocks"):
        freeze_all_but_top(tiny_gpt(), n_blocks=-1)


def test_pretraining_surnames_exclude_every_first_name():
    from gankit.recipes.names_gpt_surnames import pretraining_data

    first = set(text.load_names("first", "all"))
    surnames = text.load_names("surnames", "train", exclude=first)
    assert surnames and not first & set(surnames)
    assert len(surnames) < len(text.load_names("surnames", "train"))  # "james", "lee", ... are gone
    # excluding after the split keeps every other surname in its part
    assert set(surnames) == set(text.load_names("surnames", "train")) - first
    data = pretraining_data(block_size=16)
    assert len(data["vocab"]) == 27 and data["train"][0].shape == (len(surnames), 16)


def test_recipe_runs_and_writes_a_loadable_checkpoint(tmp_path):
    from gankit.recipes import get_recipe
    from gankit.models import load_checkpoint

    recipe = get_recipe("names_gpt_surnames")
    figures = recipe.train(tmp_path / "s.pt", seed=0, progress=False, steps=60, eval_every=30,
                           n_layer=1, n_embd=16, n_head=2)
    assert figures["steps"] == 60 and figures["surname_test_loss"] < 3.3  # below the uniform log 27
    model = load_checkpoint(tmp_path / "s.pt", expected=GPT)
    meta = model.checkpoint_metadata
    assert text.CharVocab.from_dict(meta["vocab"]) == text.CharVocab(tuple("abcdefghijklmnopqrstuvwxyz"))
    assert meta["curve"]["step"] == [50] and meta["curve"]["val_step"] == [30, 60]


def test_bundled_pretrained_checkpoint():
    from gankit.recipes import checkpoint_path
    from gankit.models import load_checkpoint

    path = checkpoint_path("names_gpt_surnames")
    if not path.exists():
        pytest.skip(f"{path} is not there yet: make it with `gankit train names_gpt_surnames`")
    model = load_checkpoint(path, expected=GPT)
    meta = model.checkpoint_metadata
    vocab = text.CharVocab.from_dict(meta["vocab"])
    assert model.config.vocab_size == len(vocab) == 27
    surnames = text.load_names("surnames", "test", exclude=text.load_names("first", "all"))
    loss = evaluate_lm(model, text.lm_examples(surnames, vocab, model.config.block_size))
    assert loss == pytest.approx(meta["figures"]["surname_test_loss"], abs=1e-4)
    assert path.stat().st_size < 5_000_000


def test_check_freeze_top_accepts_the_reference_and_names_mistakes(capsys):
    from gankit.checks import CheckFailed, check_freeze_top

    check_freeze_top(freeze_all_but_top)
    assert "✓" in capsys.readouterr().out

    def unwritten(model, n_blocks):
        raise NotImplementedError

    def blocks_only(model, n_blocks):  # forgets ln_f and the head
        for p in model.parameters():
            p.requires_grad_(False)
        for block in model.blocks[len(model.blocks) - n_blocks:]:
            block.requires_grad_(True)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def minus_zero(model, n_blocks):  # model.blocks[-0:] is every block
        for p in model.parameters():
            p.requires_grad_(False)
        for module in [*model.blocks[-n_blocks:], model.ln_f, model.head]:
            module.requires_grad_(True)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def counts_tensors(model, n_blocks):
        freeze_all_but_top(model, n_blocks)
        return sum(1 for p in model.parameters() if p.requires_grad)

    for fn, hint in [(unwritten, "not written yet"), (lambda m, n: 0, "every parameter is still trainable"),
                     (blocks_only, "head, ln_f"), (minus_zero, r"blocks\[-0:\]"), (counts_tensors, "returned")]:
        with pytest.raises(CheckFailed, match=hint):
            check_freeze_top(fn)


def test_names_gpt_recipe_smoke(tmp_path):
    from gankit.recipes import get_recipe
    from gankit.models import load_checkpoint

    figures = get_recipe("names_gpt").train(tmp_path / "n.pt", seed=0, progress=False, steps=40, eval_every=20,
                                            n_layer=1, n_embd=16, n_head=2)
    assert figures["steps"] == 40 and figures["test_loss"] < 3.3
    model = load_checkpoint(tmp_path / "n.pt", expected=GPT)
    vocab = text.CharVocab.from_dict(model.checkpoint_metadata["vocab"])
    assert vocab.controls == ("female", "male") and len(vocab) == model.config.vocab_size == 29
    assert len(text.sample_texts(model, vocab, 3, control="female")) == 3


def test_what_lesson_10_says_of_freezing_a_parameter_the_optimiser_holds():
    """Adam/AdamW skip a parameter whose .grad is None; one that keeps a zero gradient tensor
    is still moved by Adam's momentum and shrunk by AdamW's weight decay."""
    for cls, kwargs in ((torch.optim.Adam, {}), (torch.optim.AdamW, {"weight_decay": 0.1})):
        layer = torch.nn.Linear(3, 1)
        opt = cls(layer.parameters(), lr=0.1, **kwargs)
        layer(torch.ones(2, 3)).sum().backward()
        opt.step()  # one real step: Adam's moments are no longer 0
        layer.weight.requires_grad_(False)
        before = layer.weight.clone()
        opt.zero_grad(set_to_none=True)  # .grad is None: the frozen weight is skipped
        layer(torch.ones(2, 3)).sum().backward()
        opt.step()
        assert torch.equal(layer.weight, before), cls.__name__
        layer.weight.grad = torch.zeros_like(layer.weight)  # a stale zero gradient, as set_to_none=False leaves
        opt.step()
        assert not torch.equal(layer.weight, before), cls.__name__
