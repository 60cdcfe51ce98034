"""dcgan_digits: lesson 02's DCGAN trained longer — the "continue from here" checkpoint.

The same code as the lesson: the DCGAN generator and discriminator of
:mod:`gankit.models.dcgan` (64-dimensional z), the same loop (:func:`gankit.train.train_gan`)
with the lesson's non-saturating loss and one-sided label smoothing (real digits' target
0.9), Adam with β₁ = 0.5 and learning rate 5·10⁻⁴, on the same 4,000 training digits (the
1,000 held-out digits stay unseen: they are what the judge's reference figures are
measured on). What differs from the lesson's one-minute run:

* twice the width (``width`` 48 rather than 24 feature maps: about 4× the computation per
  image) and batches of 128 rather than 64;
* more steps (``steps``, below), with both learning rates falling linearly to 0 by the
  last step;
* an exponential moving average of the generator's weights
  (``GANTrainConfig.ema``: :class:`gankit.train.WeightAverage`, decay 0.999), updated after every step; the
  averaged generator is the one saved, with its batch-norm statistics re-measured
  (:func:`gankit.train.refresh_batch_norm`).

What we tried on the way (seed 0, judge-confident share of 1,000 samples, one thread): at
width 24, 20,000 steps with a linear decay levelled off at 73–74 % (FD 111); at 4,000
steps, label smoothing, the hinge loss, a wider discriminator, batches of 128 and random
2-pixel shifts of D's inputs all landed within 68–71 % of each other (base 68 %); width
48 with batches of 128 and smoothing reached 72–74 % from 3,000 steps on, with the FD
falling to 91; a 10-component Gaussian-mixture noise left a digit out altogether. The
share plateaus near three quarters: what stays is samples drawn *between* two digits,
which a wider network or longer run does not remove (the conditional GAN of lesson 03,
told which digit to draw, reaches over 90 %).

With ``-p lr_schedule constant``, a run of N steps is the first N steps of any longer run
(same seed, same number of threads), so ``save_every`` keeps intermediate generators that
are exactly what ``-p steps N`` would write; with the linear schedule they are snapshots
of this run, not shorter runs.

Only the generator is saved (1.5 MB): enough to draw, interpolate and measure.
Its metadata holds the parameters, the seed and the figures measured at the end
(judge-confident share, rarest class share, Fréchet distance next to the real-vs-real
reference), so ``read_checkpoint(path)["metadata"]`` says what the file reached.

    gankit train dcgan_digits                       # writes data/checkpoints/dcgan_digits.pt
    gankit train dcgan_digits --out /tmp/g.pt -p steps 2000
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from gankit.data import load_mnist_subset
from gankit.metrics import judge_fd, judge_scores, real_reference
from gankit.models import (
    DCGANDiscriminator,
    DCGANDiscriminatorConfig,
    DCGANGenerator,
    DCGANGeneratorConfig,
    save_checkpoint,
)
from gankit.models.dcgan import to_tanh_range, to_unit_range
from gankit.recipes import run_training, save_recipe_checkpoint
from gankit.train import GANTrainConfig, StandardGAN, refresh_batch_norm, train_gan
from gankit.utils import get_device, seed_everything

NAME = "dcgan_digits"
DESCRIPTION = ("lesson 02's DCGAN at twice its width (48, z of 64) trained longer on the 4,000 bundled training "
               "digits with label smoothing and a linear lr decay, generator weights averaged (EMA); saves the "
               "averaged generator")
DEFAULT_OUT = "data/checkpoints/dcgan_digits.pt"
PARAMS = {
    "steps": 10000,  # generator updates
    "batch_size": 128,  # lesson 02: 64
    "lr": 5e-4,  # Adam learning rate of both players (lesson 02's; the DCGAN paper used 2e-4)
    "lr_schedule": "linear",  # both learning rates fall to 0 at the last step; or "constant" (lesson 02)
    "real_label": 0.9,  # D's target for real digits: one-sided label smoothing, as lesson 02 (1.0: none)
    "ema_decay": 0.999,  # weight averaging of the generator (0: none, save the last weights)
    "width": 48,  # feature maps of both networks (lesson 02: 24)
    "latent_dim": 64,
    "eval_every": 2000,  # print the judge's figures every N steps (0: only at the end)
    "n_eval": 1000,  # samples the judge scores
    "save_every": 0,  # also save the averaged generator at every N-th step where it is measured (a
                      # multiple of eval_every), to <out>.step<N>.pt (0: never)
}


def measure(generator: torch.nn.Module, n: int = 1000, seed: int = 1000, reference=None) -> dict[str, float]:
    """The judge's figures for ``generator`` (eval mode, ``n`` samples from noise seed ``seed``):
    confident share, rarest class share, Fréchet distance of 500 samples to 500 held-out
    digits, and the same figures for real held-out digits (``reference``, from
    :func:`gankit.metrics.real_reference`; measured here if not given)."""

    reference = reference or real_reference()
    samples = to_unit_range(generator.sample(n, generator=torch.Generator().manual_seed(seed)))
    scores = judge_scores(samples)
    return {
        "judge_confident": scores.confident,
        "judge_min_class_share": scores.min_class_share,
        "fd": judge_fd(samples[:500], reference.half_b),
        "real_judge_confident": reference.confident,
        "fd_real_reference": reference.fd,
    }


def train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict:
    p = {**PARAMS, **params}
    device = get_device()
    seed_everything(seed)
    images, _ = load_mnist_subset("train")  # (4000, 1, 28, 28) in [0, 1]; the test split stays held out
    real = to_tanh_range(images)
    G = DCGANGenerator(DCGANGeneratorConfig(latent_dim=p["latent_dim"], width=p["width"])).to(device)
    D = DCGANDiscriminator(DCGANDiscriminatorConfig(width=p["width"])).to(device)
    reference = real_reference()  # the held-out digits' figures, measured once

    def watch(step, models, history):
        # called after every step: now and then, measure the averaged generator
        if p["eval_every"] and step % p["eval_every"] == 0 and step < p["steps"]:
            shown = refresh_batch_norm(models["ema"], seed=seed) if "ema" in models else models["generator"]
            figures = measure(shown, p["n_eval"], reference=reference)
            tqdm.write(f"step {step:>6}: {figures['judge_confident']:.1%} confident, rarest class "
                       f"{figures['judge_min_class_share']:.1%}, FD {figures['fd']:.1f}")
            sys.stdout.flush()  # show progress at once, also when the output goes to a file
            if p["save_every"] and step % p["save_every"] == 0:
                # with a constant lr this is exactly what a run of `steps = step` saves
                save_checkpoint(Path(out).with_suffix(f".step{step}.pt"), shown, recipe=NAME, seed=seed,
                                params={**p, "steps": step}, figures=figures, partial_of=p["steps"])

    objective = StandardGAN(real_label=p["real_label"])
    # ema: the loop keeps the average and ends with it in G, batch norm re-measured (seed `seed`)
    config = GANTrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"], betas=(0.5, 0.999),
                            lr_schedule=p["lr_schedule"], ema=p["ema_decay"], progress=progress, seed=seed)
    history, cpu_seconds = run_training(out, train_gan, G, D, real, config, device=device, callback=watch,
                                        objective=objective)

    final = G.eval()  # with ema: the averaged generator
    figures = measure(final, p["n_eval"], reference=reference)
    figures.update(steps=len(history), train_seconds=round(history.seconds, 1), cpu_seconds=round(cpu_seconds, 1))
    save_recipe_checkpoint(out, final.cpu(), NAME, seed, p, figures)
    return figures
