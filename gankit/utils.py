"""Small helpers every lesson and every part of the kit needs: the device, seeding,
parameter counts, evaluation mode for a block, and one check of positive integers.

Checkpoints live with the models (:mod:`gankit.models.checkpoint`), since loading one
rebuilds a model from its config.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Iterator

import numpy as np
import torch
from torch import nn

__all__ = [
    "get_device",
    "seed_everything",
    "count_parameters",
    "eval_mode",
    "check_positive_int",
    "check_seed",
]

DEVICE_ENV = "GANKIT_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Pick where to train: CUDA if there is a GPU, then Apple's MPS, then the CPU.

    Override the choice with ``prefer`` ("cpu", "cuda", "cuda:1", "mps") or with the
    environment variable ``GANKIT_DEVICE`` (``make test`` sets it to ``cpu`` so that the
    tests run the same everywhere). Asking for a device that is not there is an error,
    not a silent fall-back, so a lesson never claims a GPU run that happened on the CPU.
    """
    choice = prefer if prefer is not None else os.environ.get(DEVICE_ENV) or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"Unknown device {choice!r}: use 'cpu', 'cuda', 'cuda:N' or 'mps' "
            f"(or leave it as None to pick the best available)."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"Device {choice!r} was asked for, but PyTorch sees no CUDA GPU here. "
            f"Set device=None (or unset {DEVICE_ENV}) to run on the CPU."
        )
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(
            f"Device {choice!r} was asked for, but Apple's MPS backend is not available here. "
            f"Set device=None (or unset {DEVICE_ENV}) to run on the CPU."
        )
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with one number.

    Returns a ``torch.Generator`` seeded the same way, for code that wants its own stream
    of random numbers that other cells cannot disturb.
    """
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters in ``model`` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@contextlib.contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put ``models`` in eval mode for a ``with`` block, then give each back the mode it had.

    Dropout and batch norm behave differently in training and in evaluation; measuring a
    model in the middle of training must not leave it in eval mode (nor switch a model that
    was in eval mode into training)::

        with eval_mode(model):
            loss = model(x_val, y_val)
    """
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)


def check_positive_int(value: object, name: str) -> int:
    """``value`` if it is an int ≥ 1 (not a bool), else a ValueError that names ``name`` and the value."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def check_seed(seed: object) -> int:
    """``seed`` if it is an int (not a bool), else a TypeError that names it — rather than
    torch's "manual_seed expected a long" from deep inside a data set."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r}).")
    return seed
