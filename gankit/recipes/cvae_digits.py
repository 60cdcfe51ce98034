"""cvae_digits: lesson 07's conditional VAE, trained with early stopping on a validation
split: a bundled style-transfer model, and the conditional VAE of lesson 12's kit-wide table.

The model of the lesson (:class:`gankit.models.ConditionalVAE`: MLP encoder and
decoder of widths 256, 256, the one-hot label appended to each network's input,
Bernoulli decoder) with a 4-number code (the lesson now uses 3), trained by the same loop (:func:`gankit.train.train_vae`, Adam
with a cosine learning-rate decay) on the same 4,000 training digits with their labels,
binarised at 0.5 as in lessons 06 and 07 (so that the Bernoulli decoder's −log p(x | z, y)
is the log-probability of a binary image, in nats). The 1,000 held-out digits, binarised
the same way, are never trained on: every figure is measured on them. What differs from
the lesson's run:

* up to four times as many steps, with early stopping: 400 of the 4,000 training digits
  (40 per class, drawn with the seed) are set aside for validation, the validation
  −ELBO is measured every ``eval_every`` steps, and the weights of the best one are kept
  (``VAETrainConfig(keep_best=True)``; the step is stored as ``best_step``), because
  trained on this few digits for that long the model overfits: its training loss keeps
  falling while the validation −ELBO turns up.

The checkpoint's metadata holds the parameters, the seed and the figures:

* ``label_agreement`` — style transfer judged: every held-out digit encoded with its own
  label and decoded with each of the 10 labels, the share of those 10,000 images in which
  the digit judge sees the digit asked for (:func:`gankit.metrics.style_transfer_agreement`);
* ``test_nelbo``, ``test_recon``, ``test_kl`` — the held-out negative conditional ELBO and
  its two terms, nats per image (:func:`gankit.train.evaluate_vae`);
* ``test_nll`` — an importance-weighted estimate of −log p(x | y), ``k`` samples, nats per
  image (:func:`gankit.models.vae.importance_weighted_nll`), on the binarised digits: a
  bound on a real log-probability, on the scale of lesson 06's figures.

    gankit train cvae_digits                        # writes data/checkpoints/cvae_digits.pt
    gankit train cvae_digits --out /tmp/c.pt -p latent_dim 8
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.data import load_mnist_subset, per_class_split
from gankit.metrics import style_transfer_agreement
from gankit.models import ConditionalVAE, ConditionalVAEConfig
from gankit.models.vae import importance_weighted_nll
from gankit.recipes import run_training, save_recipe_checkpoint
from gankit.train import VAETrainConfig, evaluate_vae, train_vae
from gankit.utils import get_device, seed_everything

NAME = "cvae_digits"
DESCRIPTION = ("lesson 07's conditional VAE (MLP 256-256, one-hot labels) with a code of 4 trained up to 8,000 steps on the "
               "bundled training digits (binarised) with their labels, early-stopped on 400 of them; style-transfer agreement and "
               "likelihoods on the held-out 1,000")
DEFAULT_OUT = "data/checkpoints/cvae_digits.pt"
PARAMS = {
    "steps": 8000,  # Adam updates at most (the lesson: 2,000)
    "val_per_class": 40,  # training digits per class set aside for early stopping
    "eval_every": 250,  # validation −ELBO every N steps; the best weights are kept
    "batch_size": 128,
    "lr": 3e-3,  # peak learning rate, cosine decay (as the lesson)
    "latent_dim": 4,  # lesson 07 uses 3 (its section 7 measures agreement against the code size)
    "hidden_dims": [256, 256],
    "beta": 1.0,
    "k": 100,  # importance samples of the held-out NLL estimate
}


def binarise(x: torch.Tensor) -> torch.Tensor:
    """Pixels thresholded at 0.5, as lessons 06 and 07 do: 0 or 1, so the Bernoulli likelihood is a probability."""
    return (x > 0.5).float()


def measure(model: torch.nn.Module, k: int = 100, seed: int = 0) -> dict[str, float]:
    """The held-out figures of a conditional VAE: style-transfer agreement, −ELBO and its
    terms, and the importance-weighted NLL with ``k`` samples (nats per image)."""

    x, y = load_mnist_subset("test")
    x = binarise(x)
    held_out = evaluate_vae(model, (x, y), seed=seed)
    nll = importance_weighted_nll(model, x, k=k, labels=y, generator=torch.Generator().manual_seed(seed))
    return {
        "label_agreement": style_transfer_agreement(model, x, y),
        "test_nelbo": held_out["nelbo"],
        "test_recon": held_out["recon"],
        "test_kl": held_out["kl"],
        "test_nll": float(nll.mean()),
        "k": k,
    }


def train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict:
    p = {**PARAMS, **params}
    device = get_device()
    seed_everything(seed)
    images, labels = load_mnist_subset("train")  # the test split stays held out
    images = binarise(images)
    train_idx, val_idx = per_class_split(labels, p["val_per_class"], seed)
    model = ConditionalVAE(ConditionalVAEConfig(latent_dim=p["latent_dim"], hidden_dims=list(p["hidden_dims"]),
                                                beta=p["beta"])).to(device)
    config = VAETrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"], eval_every=p["eval_every"],
                            keep_best=True, seed=seed, progress=progress)
    history, cpu_seconds = run_training(out, train_vae, model, (images[train_idx], labels[train_idx]), config,
                                        device=device, val_data=(images[val_idx], labels[val_idx]))

    model = model.cpu().eval()
    figures = measure(model, k=p["k"], seed=seed)
    figures.update(steps=len(history), best_step=history.best_step, val_nelbo=min(history.val_nelbo),
                   train_seconds=round(history.seconds, 1), cpu_seconds=round(cpu_seconds, 1))
    save_recipe_checkpoint(out, model, NAME, seed, p, figures)
    return figures
