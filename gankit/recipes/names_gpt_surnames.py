"""names_gpt_surnames: lesson 10's pretrained model — the names GPT trained on surnames.

The same GPT as lesson 09 (``gankit.models.GPT``: 4 blocks, 4 heads, width 64, context
16, dropout 0.1; about 200K parameters) and the same loop (:func:`gankit.train.train_lm`:
AdamW, warm-up then cosine decay), trained on the 1990 US Census surnames — a list about
seventeen times larger than the first names — with one change to the data:

* every surname that is also a first name (on either census first-name list) is left out
  of the training, validation and test surnames (about 2 % of them: "james", "lee", ...).
  Lesson 10 fine-tunes this model on first names and measures it on held-out first names;
  without the exclusion the pretraining would already have seen some of those test names.

The checkpoint's metadata holds the vocabulary (``gankit.text.CharVocab.as_dict()``), the
parameters, the seed, the figures below and the loss curves (training loss averaged over
every 50 steps, validation loss), which lesson 10 plots next to its own short run.

    gankit train names_gpt_surnames                    # writes data/checkpoints/names_gpt_surnames.pt
    gankit train names_gpt_surnames --out /tmp/s.pt -p steps 500
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit import text
from gankit.models import GPT, GPTConfig
from gankit.recipes import run_training, save_recipe_checkpoint
from gankit.train import LMTrainConfig, evaluate_lm, train_lm
from gankit.utils import get_device, seed_everything

NAME = "names_gpt_surnames"
DESCRIPTION = ("lesson 09's names GPT (about 200K parameters) pretrained 4,000 steps on the census surnames "
               "that are not also first names; lesson 10 fine-tunes it on first names")
DEFAULT_OUT = "data/checkpoints/names_gpt_surnames.pt"
PARAMS = {
    "steps": 4000,  # optimiser updates (batch 64: about 3.7 passes over the 69,415 training surnames)
    "batch_size": 64,
    "lr": 3e-3,  # peak learning rate, as in lesson 09
    "weight_decay": 0.1,
    "warmup_steps": 200,
    "dropout": 0.1,
    "block_size": 16,  # the longest surname has 13 letters; first names at most 11
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 64,
    "eval_every": 500,  # validation loss every N steps
}
CURVE_EVERY = 50  # the stored training curve: mean loss of each run of this many steps


def pretraining_data(block_size: int = 16) -> dict:
    """The vocabulary and the (inputs, targets) of the train / val / test surnames, each
    without the first names (see the module's docstring)."""

    first_names = text.load_names("first", "all")
    vocab = text.CharVocab(tuple("abcdefghijklmnopqrstuvwxyz"))  # the same 27 tokens as the first names
    data = {"vocab": vocab}
    for split in ("train", "val", "test"):
        names = text.load_names("surnames", split, exclude=first_names)
        data[split] = text.lm_examples(names, vocab, block_size)
    return data


def train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict:
    p = {**PARAMS, **params}
    device = get_device()
    seed_everything(seed)
    data = pretraining_data(p["block_size"])
    vocab = data["vocab"]
    config = GPTConfig(vocab_size=len(vocab), block_size=p["block_size"], n_layer=p["n_layer"],
                       n_head=p["n_head"], n_embd=p["n_embd"], dropout=p["dropout"])
    model = GPT(config).to(device)
    train_config = LMTrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                                 weight_decay=p["weight_decay"], warmup_steps=p["warmup_steps"],
                                 eval_every=p["eval_every"], progress=progress, seed=seed)
    history, cpu_seconds = run_training(out, train_lm, model, data["train"], train_config, device=device,
                                        val_data=data["val"])

    first_test = text.lm_examples(text.load_names("first", "test"), vocab, p["block_size"])
    figures = {
        "surname_test_loss": evaluate_lm(model, data["test"]),
        "first_names_test_loss": evaluate_lm(model, first_test),  # before any fine-tuning
        "steps": len(history),
        "train_seconds": round(history.seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
    }
    n = len(history.loss) // CURVE_EVERY * CURVE_EVERY
    curve = torch.tensor(history.loss[:n]).view(-1, CURVE_EVERY).mean(1)
    save_recipe_checkpoint(
        out, model.cpu(), NAME, seed, p, figures, vocab=vocab.as_dict(),
        curve={"step": [CURVE_EVERY * (i + 1) for i in range(len(curve))], "loss": curve.tolist(),
               "val_step": history.val_step, "val_loss": history.val_loss},
    )
    return figures
