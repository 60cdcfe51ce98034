"""vae_digits: lesson 06's VAE trained longer — the model the evaluation lesson loads.

The same model as the lesson (:class:`gankit.models.VAE`: an MLP encoder 784 → 400 →
2·16 and its mirror as decoder, ELU, dropout 0.3, a code of 16 numbers, a Bernoulli
decoder), trained by the same loop (:func:`gankit.train.train_vae`: Adam with a cosine
learning-rate decay, weights averaged over the last ~200 steps) on the same binarised
training digits (pixels > 0.5), with the same 500 held back for early stopping (50 of
each digit, :func:`gankit.data.per_class_split`). What differs from the lesson's run: more steps (4,000 rather
than 1,500), with validation every 200 steps and the best weights kept.

The 1,000 test digits are never trained on; the checkpoint's metadata holds the figures
measured on them (binarised the same way):

* ``test_nelbo``, ``test_recon``, ``test_kl`` — the negative ELBO and its two terms, nats
  per image (:func:`gankit.train.evaluate_vae`);
* ``test_nll`` — the importance-weighted estimate of −log p(x) with ``k`` samples, nats
  per image (:func:`gankit.models.vae.importance_weighted_nll`);
* ``psnr`` (dB) and ``ssim`` of the reconstructions E[x | z = μ(x)] (:mod:`gankit.metrics`).

    gankit train vae_digits                        # writes data/checkpoints/vae_digits.pt
    gankit train vae_digits --out /tmp/v.pt -p steps 2000
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.data import load_mnist_subset, per_class_split
from gankit.metrics import psnr, ssim
from gankit.models import VAE, VAEConfig
from gankit.models.vae import importance_weighted_nll
from gankit.recipes import run_training, save_recipe_checkpoint
from gankit.train import VAETrainConfig, evaluate_vae, train_vae
from gankit.utils import get_device, seed_everything

NAME = "vae_digits"
DESCRIPTION = ("lesson 06's VAE (MLP 400, code of 16, Bernoulli decoder) trained up to 4,000 steps on the binarised "
               "bundled training digits, early-stopped on 500 of them; −ELBO, importance-weighted NLL, PSNR and SSIM "
               "on the held-out 1,000")
DEFAULT_OUT = "data/checkpoints/vae_digits.pt"
PARAMS = {
    "steps": 4000,  # Adam updates at most (the lesson: 1,500)
    "val_per_class": 50,  # training digits of each class held back for early stopping (as the lesson)
    "eval_every": 200,
    "batch_size": 128,
    "lr": 2e-3,
    "ema": 0.995,
    "latent_dim": 16,
    "hidden_dims": [400],
    "activation": "elu",
    "dropout": 0.3,
    "k": 100,  # importance samples of the held-out NLL estimate
}


def binarised(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled digits of ``split`` with pixels > 0.5 set to 1 and the rest to 0, and their labels."""

    images, labels = load_mnist_subset(split)
    return (images > 0.5).float(), labels


def measure(model: torch.nn.Module, k: int = 100, seed: int = 0) -> dict[str, float]:
    """The held-out figures of a VAE on the binarised test digits (nats per image, dB)."""

    x, _ = binarised("test")
    held_out = evaluate_vae(model, x, seed=seed)
    nll = importance_weighted_nll(model, x, k=k, generator=torch.Generator().manual_seed(seed))
    reconstructions = model.reconstruct(x)
    return {
        "test_nelbo": held_out["nelbo"],
        "test_recon": held_out["recon"],
        "test_kl": held_out["kl"],
        "test_nll": float(nll.mean()),
        "k": k,
        "psnr": float(psnr(x, reconstructions).mean()),
        "ssim": float(ssim(x, reconstructions).mean()),
    }


def train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict:
    p = {**PARAMS, **params}
    device = get_device()
    seed_everything(seed)
    x, labels = binarised("train")  # the test split stays held out
    fit, val = per_class_split(labels, p["val_per_class"], seed)  # the file is sorted by digit: hold back every digit
    x_fit, x_val = x[fit], x[val]
    model = VAE(VAEConfig(image_size=28, latent_dim=p["latent_dim"], hidden_dims=list(p["hidden_dims"]),
                          activation=p["activation"], dropout=p["dropout"])).to(device)
    config = VAETrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"], ema=p["ema"],
                            eval_every=p["eval_every"], keep_best=True, seed=seed, progress=progress)
    history, cpu_seconds = run_training(out, train_vae, model, x_fit, config, device=device, val_data=x_val)

    model = model.cpu().eval()
    figures = measure(model, k=p["k"], seed=seed)
    figures.update(steps=len(history), best_step=history.best_step, val_nelbo=min(history.val_nelbo),
                   train_seconds=round(history.seconds, 1), cpu_seconds=round(cpu_seconds, 1))
    save_recipe_checkpoint(out, model, NAME, seed, p, figures)
    return figures
