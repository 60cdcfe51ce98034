"""names_gpt: lesson 09's names GPT, trained longer — the model lesson 11 evaluates.

The same GPT (``gankit.models.GPT``: 4 blocks, 4 heads, width 64, context 16, dropout 0.1;
about 200K parameters), the same loop (:func:`gankit.train.train_lm`) and the same data as
lesson 09: the census first names' training split (4,131 names), each once after the start
token "." and once after the control token of its census list (``<female>`` or ``<male>``;
a name on both lists once with each), so the model writes any first name after "." and a
name of the asked-for list after a control token. What differs from the lesson: twice as
many steps (4,000 instead of 2,000).

The checkpoint's metadata holds the vocabulary (``gankit.text.CharVocab.as_dict()``, with
the control tokens), the parameters, the seed and the figures below, measured on the
held-out first names that neither training nor the choice of settings saw:

    model = gankit.models.load_checkpoint(gankit.recipes.checkpoint_path("names_gpt"))
    vocab = gankit.text.CharVocab.from_dict(model.checkpoint_metadata["vocab"])
    gankit.text.sample_texts(model, vocab, 10)                      # any first names
    gankit.text.sample_texts(model, vocab, 10, control="male")      # from the male list's kind

Reproduce it with ``gankit train names_gpt`` (writes data/checkpoints/names_gpt.pt).
"""

from __future__ import annotations

from pathlib import Path

from gankit import text
from gankit.models import GPT, GPTConfig
from gankit.recipes import run_training, save_recipe_checkpoint
from gankit.train import LMTrainConfig, evaluate_lm, train_lm
from gankit.utils import get_device, seed_everything

NAME = "names_gpt"
DESCRIPTION = ("lesson 09's names GPT (about 200K parameters, <female>/<male> control tokens) trained 4,000 steps "
               "on the census first names' training split; for lesson 11")
DEFAULT_OUT = "data/checkpoints/names_gpt.pt"
PARAMS = {
    "steps": 4000,  # optimiser updates (lesson 09: 2,000)
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 0.1,
    "warmup_steps": 100,
    "dropout": 0.1,
    "block_size": 16,  # the longest first name has 11 letters
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 64,
    "eval_every": 250,
}
CONTROLS = ("female", "male")


def training_data(vocab, block_size: int):
    """Lesson 09's training rows: every training name after ".", and again after its list's token."""

    names = text.load_names("first", "train")
    pairs = text.labelled_names("train")
    items = names + [name for name, _ in pairs]
    controls = [None] * len(names) + [label for _, label in pairs]
    return text.lm_examples(items, vocab, block_size, controls)


def train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict:
    p = {**PARAMS, **params}
    device = get_device()
    seed_everything(seed)
    vocab = text.CharVocab.from_texts(text.load_names("first", "all"), controls=CONTROLS)
    bs = p["block_size"]
    train_data = training_data(vocab, bs)
    val_data = text.lm_examples(text.load_names("first", "val"), vocab, bs)
    config = GPTConfig(vocab_size=len(vocab), block_size=bs, n_layer=p["n_layer"], n_head=p["n_head"],
                       n_embd=p["n_embd"], dropout=p["dropout"])
    model = GPT(config).to(device)
    train_config = LMTrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                                 weight_decay=p["weight_decay"], warmup_steps=p["warmup_steps"],
                                 eval_every=p["eval_every"], progress=progress, seed=seed)
    history, cpu_seconds = run_training(out, train_lm, model, train_data, train_config, device=device,
                                        val_data=val_data)

    test_names = text.load_names("first", "test")
    pairs = text.labelled_names("test")
    pair_names, labels = [n for n, _ in pairs], [label for _, label in pairs]
    other = {"female": "male", "male": "female"}
    figures = {
        "test_loss": evaluate_lm(model, text.lm_examples(test_names, vocab, bs)),
        "val_loss": history.val_loss[-1],
        "conditional_test_loss": evaluate_lm(model, text.lm_examples(pair_names, vocab, bs, labels)),
        "wrong_condition_test_loss": evaluate_lm(model, text.lm_examples(pair_names, vocab, bs,
                                                                         [other[label] for label in labels])),
        "steps": len(history),
        "train_seconds": round(history.seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
    }
    save_recipe_checkpoint(out, model.cpu(), NAME, seed, p, figures, vocab=vocab.as_dict(),
                           history={"val_step": history.val_step, "val_loss": history.val_loss})
    return figures
