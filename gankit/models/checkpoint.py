"""Checkpoints: one model in one file — its weights, the config it was built from and the
gankit version that wrote it. Loading rebuilds the model from that config, so a lesson
(or a student a week later) needs nothing but the file:

    save_checkpoint("g.pt", generator)
    generator = load_checkpoint("g.pt")

Files are read with ``torch.load(..., weights_only=True)``, which refuses to run code
hidden in a pickle; that is why the config is stored as a plain dict.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gankit import __version__
from gankit.models.cgan import ConditionalDiscriminator, ConditionalGenerator
from gankit.models.cvae import ConditionalVAE
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.diffusion import MLPDenoiser
from gankit.models.gan import MLPDiscriminator, MLPGenerator
from gankit.models.judge import DigitJudge
from gankit.models.transformer import GPT
from gankit.models.unet import UNetDenoiser
from gankit.models.vae import VAE
from gankit.utils import get_device

__all__ = ["MODELS", "save_checkpoint", "read_checkpoint", "load_checkpoint", "CheckpointError"]

# Every model that save_checkpoint / load_checkpoint may handle, by class name (the name is
# what a file stores, so a class keeps its name once checkpoints of it exist).
# A new model family adds its classes here.
MODELS: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (
    MLPGenerator, MLPDiscriminator, DCGANGenerator, DCGANDiscriminator, ConditionalGenerator,
    ConditionalDiscriminator, DigitJudge, GPT, VAE, ConditionalVAE, MLPDenoiser, UNetDenoiser)}


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be turned back into a model."""


_CHECKPOINT_KEYS = ("format", "gankit_version", "model_class", "config", "state_dict")
_FORMAT = "gankit-checkpoint-v1"


def _plain(value: Any, where: str) -> Any:
    """``value`` as the plain types that ``torch.load(weights_only=True)`` reads back:
    numbers, strings, None, and lists / dicts of them (numpy or 0-d tensor scalars become
    Python numbers). Anything else is refused now, rather than saved into a file that
    cannot be loaded."""
    if isinstance(value, (np.generic, torch.Tensor)) and getattr(value, "ndim", 0) == 0:
        return value.item()  # before the float check: np.float64 is a subclass of float
    if value is None or isinstance(value, bool):
        return value
    for plain_type in (int, float, str):  # exact types: a str subclass such as
        if isinstance(value, plain_type):  # torch.__version__ would not load back
            return plain_type(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(
        f"Checkpoint metadata {where} is a {type(value).__name__}; use numbers, strings, None, "
        f"and lists or dicts (with string keys) of those, e.g. str(path) or float(x)."
    )


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **metadata: Any) -> Path:
    """Save ``model`` (weights + config + gankit version) to ``path``.

    ``model`` must be one of gankit's models (it has a ``config`` dataclass). Extra
    keyword arguments (numbers, strings, lists, dicts of those) are stored as metadata,
    for example ``steps=3000`` or ``history=history.as_dict()``.
    The file is written to a temporary name first and then renamed, so an interrupted
    save never leaves a half-written checkpoint under the real name.
    """
    name = type(model).__name__
    registry = MODELS
    if registry.get(name) is not type(model):
        raise TypeError(
            f"save_checkpoint needs one of gankit's models ({', '.join(sorted(registry))}); "
            f"got {name}. For your own module, save model.state_dict() with torch.save."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "gankit_version": __version__,
        "model_class": name,
        "config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": {k: _plain(v, k) for k, v in metadata.items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file into its dict, checking that it is a gankit checkpoint."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No checkpoint at {path}. Check the path, or train the model and save it with "
            f"gankit.models.save_checkpoint(path, model)."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, a pickle with code in it, ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint: the file is corrupt or truncated "
            f"(for example an interrupted copy or download), or it was not written by "
            f"torch.save. Save or copy it again. (torch.load said: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise CheckpointError(
            f"{path} was read, but it is not a gankit checkpoint (missing {', '.join(missing)}). "
            f"gankit checkpoints are written by gankit.models.save_checkpoint."
        )
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    expected: type[nn.Module] | None = None,
    device: str | torch.device | None = "cpu",
) -> nn.Module:
    """Rebuild a model from a checkpoint written by :func:`save_checkpoint`.

    The model is built from the stored config, its weights are loaded, and it is moved
    to ``device`` and put in eval mode. ``expected`` (a model class) makes loading the
    wrong kind of model an error. The stored metadata is at ``model.checkpoint_metadata``.
    """
    path = Path(path)
    payload = read_checkpoint(path)
    registry = MODELS
    name = payload["model_class"]
    if name not in registry:
        raise CheckpointError(
            f"{path} holds a {name!r}, which this gankit ({__version__}) does not know; "
            f"known models: {', '.join(sorted(registry))}. It was written by gankit "
            f"{payload['gankit_version']}."
        )
    cls = registry[name]
    if expected is not None and cls is not expected:
        raise CheckpointError(f"{path} holds a {name}, but a {expected.__name__} was expected.")
    try:
        config = cls.config_class(**payload["config"])
    except TypeError as exc:
        raise CheckpointError(
            f"{path}: its config does not fit {cls.config_class.__name__} ({exc}). It was "
            f"written by gankit {payload['gankit_version']}; this is gankit {__version__}."
        ) from exc
    model = cls(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the stored weights do not match a {name} built from the stored config "
            f"(the file was edited, or mixes two models):\n{exc}"
        ) from exc
    model.checkpoint_metadata = payload.get("metadata", {})
    if device is not None:
        model.to(get_device(device))
    return model.eval()
