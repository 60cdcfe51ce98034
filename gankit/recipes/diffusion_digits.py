"""diffusion_digits: lesson 12's digit denoiser trained longer — one network that draws any
digit (no label) and, with classifier-free guidance, the digit asked for.

The model of the lesson (:class:`gankit.models.UNetDenoiser`, a small U-Net with the time
and an optional label added to every residual block; widths 16, 32, 64 at 28×28, 14×14 and
7×7) trained by the lesson's loop (:func:`gankit.train.train_diffusion`, Adam with a cosine
learning-rate decay, weights averaged) with flow matching (Lipman et al., 2023; Liu et al.,
2023) on the 4,000 bundled training digits scaled to [−1, 1], with their labels, each label
replaced by "no label" 20 % of the time (Ho & Salimans, "Classifier-Free Diffusion
Guidance", 2021) so that the same network also learns the unconditional velocity. The
1,000 held-out digits are never trained on: the Fréchet distance is measured against half
of them.

The checkpoint's metadata holds the parameters, the seed and the figures, all from
``sample_steps`` Euler steps (:func:`gankit.models.diffusion.sample_flow`) and the digit
judge:

* unconditional (no label): ``judge_confident``, ``judge_min_class_share``, ``fd`` (500
  samples against 500 held-out digits; real against real: ``fd_real_reference``);
* guided, 100 of each digit asked for, at each weight w of ``guidance_weights``
  (w = 0: the plain conditional prediction): ``guided`` — a list of
  ``{"w", "label_agreement", "judge_confident", "fd"}``.

    gankit train diffusion_digits                   # writes data/checkpoints/diffusion_digits.pt
    gankit train diffusion_digits --out /tmp/d.pt -p steps 1000
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from gankit.data import load_mnist_subset
from gankit.metrics import judge_fd, judge_scores, label_agreement, real_reference
from gankit.models import UNetConfig, UNetDenoiser
from gankit.models.dcgan import to_unit_range  # [−1, 1] → the judge's [0, 1]
from gankit.models.diffusion import sample_flow
from gankit.recipes import run_training, save_recipe_checkpoint
from gankit.train import DiffusionTrainConfig, train_diffusion
from gankit.utils import get_device, seed_everything

NAME = "diffusion_digits"
DESCRIPTION = ("lesson 12's U-Net denoiser (widths 16-32-64, labels dropped 20 % of the time) trained with flow "
               "matching on the 4,000 bundled training digits, weights averaged; unconditional and guided "
               "samples scored by the digit judge")
DEFAULT_OUT = "data/checkpoints/diffusion_digits.pt"
PARAMS = {
    "steps": 5000,  # Adam updates
    "batch_size": 128,
    "lr": 2e-3,  # peak learning rate, after a warm-up, cosine decay to 0
    "warmup_steps": 200,
    "ema_decay": 0.999,  # weight averaging; the saved weights are the average
    "p_uncond": 0.2,  # labels dropped this often (Ho & Salimans tried 0.1 and 0.2): the no-label model trains on a fifth
    "base_channels": 16,
    "channel_mults": [1, 2, 4],  # 16 at 28×28, 32 at 14×14, 64 at 7×7
    "sample_steps": 20,  # Euler steps of every figure
    "guidance_weights": [0.0, 1.0, 3.0],  # w of the guided figures
    "n_eval": 1000,  # unconditional samples scored
    "eval_every": 1000,  # print the unconditional figures every N steps (0: only at the end)
}


@torch.no_grad()
def measure(model: torch.nn.Module, n: int = 1000, steps: int = 20, guidance_weights=(0.0, 1.0, 3.0),
            seed: int = 1000, reference=None) -> dict:
    """The judge's figures for a label-conditional flow-matching ``model``: unconditional
    samples (``n`` of them; confident share, rarest class, FD of the first 500) and guided ones
    (``n`` // 10 of each digit at each weight in ``guidance_weights``: label agreement,
    confident share, FD), all with ``steps`` Euler steps and noise from ``seed``."""

    reference = reference or real_reference()
    samples = to_unit_range(sample_flow(model, n, steps, generator=torch.Generator().manual_seed(seed)))
    scores = judge_scores(samples)
    figures = {
        "judge_confident": scores.confident,
        "judge_min_class_share": scores.min_class_share,
        "fd": judge_fd(samples[:500], reference.half_b),
        "real_judge_confident": reference.confident,
        "fd_real_reference": reference.fd,
        "sample_steps": steps,
    }
    if getattr(model, "null_label", None) is not None:
        labels = torch.arange(10).repeat_interleave(n // 10)
        guided = []
        for w in guidance_weights:
            images = to_unit_range(sample_flow(model, len(labels), steps, labels=labels, guidance=w,
                                         generator=torch.Generator().manual_seed(seed + 1)))
            guided.append({"w": w, "label_agreement": label_agreement(images, labels),
                           "judge_confident": judge_scores(images).confident,
                           "fd": judge_fd(images[torch.randperm(len(images), generator=torch.Generator()
                                                                .manual_seed(seed))[:500]], reference.half_b)})
        figures["guided"] = guided
    return figures


def train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict:
    p = {**PARAMS, **params}
    device = get_device()
    seed_everything(seed)
    images, labels = load_mnist_subset("train")  # (4000, 1, 28, 28) in [0, 1]; the test split stays held out
    model = UNetDenoiser(UNetConfig(base_channels=p["base_channels"], channel_mults=list(p["channel_mults"]),
                                    n_classes=10)).to(device)
    reference = real_reference()

    def watch(step, models, history):
        # now and then, how the averaged weights draw without a label
        if p["eval_every"] and step % p["eval_every"] == 0 and step < p["steps"]:
            shown = models.get("ema", models["model"])
            f = measure(shown, p["n_eval"], p["sample_steps"], guidance_weights=(), reference=reference)
            tqdm.write(f"step {step:>6}: {f['judge_confident']:.1%} confident, rarest class "
                       f"{f['judge_min_class_share']:.1%}, FD {f['fd']:.1f}")
            sys.stdout.flush()

    config = DiffusionTrainConfig(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                                  warmup_steps=p["warmup_steps"], lr_schedule="cosine", objective="flow",
                                  p_uncond=p["p_uncond"], ema=p["ema_decay"], seed=seed, progress=progress)
    history, cpu_seconds = run_training(out, train_diffusion, model, (images * 2 - 1, labels), config,
                                        device=device, callback=watch)
    model = model.cpu().eval()  # with ema: the averaged weights
    figures = measure(model, p["n_eval"], p["sample_steps"], p["guidance_weights"], reference=reference)
    figures.update(steps=len(history), train_seconds=round(history.seconds, 1), cpu_seconds=round(cpu_seconds, 1))
    save_recipe_checkpoint(out, model, NAME, seed, p, figures)
    return figures
