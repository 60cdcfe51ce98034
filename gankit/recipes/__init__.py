"""Recipes: the exact training runs behind the checkpoints bundled in ``data/checkpoints/``.

A bundled checkpoint is only as trustworthy as the command that made it, so each one is
produced by a recipe that runs the same gankit code as the lessons, from the command line::

    gankit train --list                     # the recipes, with what each one writes
    gankit train dcgan_digits               # reproduce data/checkpoints/dcgan_digits.pt
    gankit train dcgan_digits --out /tmp/x.pt --seed 1 -p steps 500

A recipe is one module in this package that defines

``NAME``
    the name used on the command line (the module's own name);
``DESCRIPTION``
    one line saying what it trains and on what;
``DEFAULT_OUT``
    the file it writes, relative to the repository (``data/checkpoints/<name>.pt``);
``PARAMS``
    a dict of the parameters it accepts, with their defaults (``-p NAME VALUE`` overrides);
``train(out: Path, seed: int = 0, progress: bool = True, **params) -> dict``
    trains, saves the checkpoint(s) to ``out`` with :func:`gankit.models.save_checkpoint`
    (parameters, seed and figures in its metadata) and returns the figures it measured
    (numbers, for ``data/README.md`` and for the test that reproduces a recipe).

Adding a recipe is adding a module: :func:`find_recipes` discovers it.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch

from gankit.metrics import FamilyRow, load_judge, score_digit_images
from gankit.models import load_checkpoint, save_checkpoint
from gankit.models.dcgan import to_unit_range
from gankit.models.diffusion import sample_flow

__all__ = ["find_recipes", "get_recipe", "checkpoint_path", "bundled_digit_models", "family_table", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_REQUIRED = ("NAME", "DESCRIPTION", "DEFAULT_OUT", "PARAMS", "train")


def find_recipes() -> dict[str, ModuleType]:
    """Every recipe module in this package, by name."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [attr for attr in _REQUIRED if not hasattr(module, attr)]
        if missing:
            raise AttributeError(f"recipe module {module.__name__} lacks {', '.join(missing)} (see gankit.recipes).")
        found[module.NAME] = module
    return dict(sorted(found.items()))


def get_recipe(name: str) -> ModuleType:
    """The recipe called ``name``; an unknown name lists the known ones."""
    recipes = find_recipes()
    if name not in recipes:
        raise KeyError(f"no recipe called {name!r}; known recipes: {', '.join(recipes) or '(none)'}.")
    return recipes[name]


def checkpoint_path(name: str) -> Path:
    """Where recipe ``name`` writes its bundled checkpoint (``data/checkpoints/<name>.pt``)."""
    return REPO_ROOT / get_recipe(name).DEFAULT_OUT


def run_training(out: Path, train: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call one of the kit's training loops, ``train(*args, **kwargs)`` (``train_gan``,
    ``train_lm``, ``train_vae``), and measure the CPU time it takes. Returns ``(history,
    cpu_seconds)``. A run stopped early (■ in Jupyter, Ctrl-C: ``history.interrupted``) raises
    KeyboardInterrupt, so a recipe never writes a half-trained model to ``out``."""
    start = time.process_time()
    history = train(*args, **kwargs)
    cpu_seconds = time.process_time() - start
    if history.interrupted:
        raise KeyboardInterrupt(f"training stopped at step {len(history)}; nothing was saved to {out}.")
    return history, cpu_seconds


def save_recipe_checkpoint(out: Path, model: Any, name: str, seed: int, params: dict, figures: dict,
                           **extra: Any) -> Path:
    """:func:`gankit.models.save_checkpoint` with the metadata every recipe records: its name,
    seed, parameters and measured figures, any ``extra`` items (a vocabulary, a loss curve),
    and the number of torch threads and the torch version of the run (results depend on both)."""

    return save_checkpoint(out, model, recipe=name, seed=seed, params=params, figures=figures, **extra,
                           threads=torch.get_num_threads(), torch_version=torch.__version__)


# --------------------------------------------------------------------------- every bundled digit model, one table


def bundled_digit_models(device: torch.device | str | None = "cpu", sample_steps: int = 20,
                         guidance: float = 1.0) -> dict[str, tuple[Callable, bool, float | None]]:
    """The bundled digit models, loaded: ``{row name: (draw, conditional, train_cpu_s)}`` where
    ``draw(n, labels, generator)`` returns n images in [0, 1] on the CPU (``labels`` only used
    when ``conditional``). ``"diffusion"`` draws with ``sample_steps`` Euler steps without a
    label, ``"guided diffusion"`` the digits asked for, guided with weight ``guidance``."""
    def cpu_s(model) -> float | None:
        return model.checkpoint_metadata.get("figures", {}).get("cpu_seconds")

    dcgan = load_checkpoint(checkpoint_path("dcgan_digits"), device=device).eval()
    vae = load_checkpoint(checkpoint_path("vae_digits"), device=device).eval()
    cvae = load_checkpoint(checkpoint_path("cvae_digits"), device=device).eval()
    diffusion = load_checkpoint(checkpoint_path("diffusion_digits"), device=device).eval()

    return {
        "DCGAN": (lambda n, y, g: to_unit_range(dcgan.sample(n, generator=g)).cpu(), False, cpu_s(dcgan)),
        "VAE": (lambda n, y, g: vae.sample(n, generator=g), False, cpu_s(vae)),
        "conditional VAE": (lambda n, y, g: cvae.sample(n, y, generator=g), True, cpu_s(cvae)),
        "diffusion": (
            lambda n, y, g: to_unit_range(sample_flow(diffusion, n, sample_steps, generator=g)), False, cpu_s(diffusion)),
        "guided diffusion": (
            lambda n, y, g: to_unit_range(sample_flow(diffusion, n, sample_steps, labels=y, guidance=guidance, generator=g)),
            True, cpu_s(diffusion)),
    }


def family_table(n: int = 1000, seed: int = 0, device: torch.device | str | None = "cpu",
                 sample_steps: int = 20, guidance: float = 1.0) -> list[FamilyRow]:
    """Draw ``n`` images from every bundled digit model (conditional ones asked for 0–9 in
    turn) and score them with :func:`score_digit_images`; the sampling time of each is
    measured here. ``make bench`` writes the result to ``benchmarks/results.md``; see
    :mod:`gankit.metrics.family` for the columns."""
    judge = load_judge()
    rows: list[FamilyRow] = []
    labels = torch.arange(n) % 10
    for i, (name, (draw, conditional, cpu)) in enumerate(bundled_digit_models(device, sample_steps, guidance).items()):
        start = time.perf_counter()
        with torch.inference_mode():
            images = draw(n, labels if conditional else None, torch.Generator().manual_seed(seed + 100 + i))
        ms = 1000 * (time.perf_counter() - start) / n
        rows.append(score_digit_images(name, images, labels if conditional else None, judge=judge, seed=seed,
                                       train_cpu_s=cpu, sample_ms=ms))
    return rows
