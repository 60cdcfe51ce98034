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

from gankit.models import save_checkpoint

__all__ = ["find_recipes", "get_recipe", "checkpoint_path", "REPO_ROOT"]

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
