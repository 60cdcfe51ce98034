"""What the service serves: checkpoints, each wrapped by the adapter of its task.

A checkpoint file holds one model (:mod:`gankit.models.checkpoint`); the service needs more
than the model to answer a request — the vocabulary that turns tokens into names, how to
draw a digit — and one rule for all of them: a request runs in eval mode, under
``torch.inference_mode``, with a generator seeded from the request, and one request at a
time per model. That is an adapter:

* :class:`NameGenerator` — a character model (:class:`~gankit.models.GPT` with the
  vocabulary in its metadata) that writes names, through :func:`gankit.text.sample_texts`;
* :class:`DigitGenerator` — a class-conditional image model (the conditional VAE of
  lesson 07) that draws the digits asked for.

``ADAPTERS`` maps a model class to its adapter. Another model family plugs in with one
line there and an adapter class that answers its task's calls: a diffusion model that draws
digits would be a :class:`DigitGenerator` whose :meth:`~DigitGenerator.draw` runs its sampler.

Why the lock: ``GPT.generate`` switches the model into eval mode and back (a module's
``training`` flag is shared state), and two requests interleaving inside one model would
race on it. The models here answer in milliseconds, so one request at a time per model
costs little; a busier service would batch the waiting requests instead.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from gankit.data import DATA_DIR, sha256_of
from gankit.models import GPT, ConditionalVAE, load_checkpoint
from gankit.text import CharVocab, sample_texts

__all__ = [
    "CHECKPOINT_DIR",
    "DEFAULT_MODELS",
    "ServedModel",
    "NameGenerator",
    "DigitGenerator",
    "ADAPTERS",
    "resolve_checkpoint",
    "load_served",
]

CHECKPOINT_DIR = DATA_DIR / "checkpoints"
DEFAULT_MODELS = ("names_gpt", "cvae_digits")  # the bundled checkpoints served by default


@dataclass
class ServedModel:
    """One checkpoint in service: its model (eval mode, CPU), where it came from and a lock.

    ``name`` is what a request and ``GET /v1/models`` call it (the file's stem);
    ``sha256`` identifies the exact file, so a client can tell which weights answered.
    """

    name: str
    path: Path
    sha256: str
    model: nn.Module
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    task = ""  # "names" or "digits": the endpoint that serves this model

    def __post_init__(self) -> None:
        """Each adapter checks here that the checkpoint has what its task needs."""

    @property
    def metadata(self) -> dict[str, Any]:
        return getattr(self.model, "checkpoint_metadata", {})

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this checkpoint: its identity and the figures
        its recipe measured when it was trained (data/README.md gives their meaning)."""
        meta = self.metadata
        return {
            "name": self.name,
            "task": self.task,
            "model_class": type(self.model).__name__,
            "file": self.path.name,
            "bytes": self.path.stat().st_size,
            "sha256": self.sha256,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "recipe": meta.get("recipe"),
            "seed": meta.get("seed"),
            "figures": meta.get("figures", {}),
        }


class NameGenerator(ServedModel):
    """A character-level language model that writes names (``POST /v1/names``)."""

    task = "names"

    def __post_init__(self) -> None:
        if "vocab" not in self.metadata:
            raise ValueError(
                f"{self.path} holds a {type(self.model).__name__} without a vocabulary in its metadata, so its "
                f"tokens cannot be turned into names. Save it with save_checkpoint(path, model, "
                f"vocab=vocab.as_dict()), as the names_gpt recipe does.")
        self.vocab = CharVocab.from_dict(self.metadata["vocab"])

    @property
    def max_prompt(self) -> int:
        """The longest prompt that leaves room for one more character in the context."""
        return self.model.config.block_size - 2

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "alphabet": "".join(self.vocab.chars),
                "controls": list(self.vocab.controls), "max_prompt": self.max_prompt}

    def request_errors(self, prompt: str, control: str | None) -> list[tuple[str, str]]:
        """(field, message) for each part of a request that this model cannot take: the
        limits that depend on the model (its alphabet, context and control tokens) rather
        than on the schema."""
        errors = []
        alphabet = "".join(self.vocab.chars)
        bad = sorted({c for c in prompt if c not in self.vocab.chars})
        if bad:
            errors.append(("prompt", f"characters {''.join(bad)!r} are not in the model's vocabulary; "
                                     f"a prompt may use only {alphabet!r}"))
        if len(prompt) > self.max_prompt:
            errors.append(("prompt", f"{len(prompt)} characters are too many for the model's context of "
                                     f"{self.model.config.block_size} tokens; at most {self.max_prompt}"))
        if control is not None and control not in self.vocab.controls:
            known = ", ".join(self.vocab.controls) or "none"
            errors.append(("control", f"{self.name} has no control token {control!r}; its controls: {known}"))
        return errors

    def names(self, n: int, *, seed: int, temperature: float = 1.0, top_k: int | None = None,
              top_p: float | None = None, prompt: str = "", control: str | None = None) -> list[str]:
        """``n`` names from the model (lesson 09's sampling, unchanged), the same for the same seed."""
        generator = torch.Generator().manual_seed(seed)
        with self.lock, torch.inference_mode():
            return sample_texts(self.model, self.vocab, n, prompt=prompt, temperature=temperature,
                                top_k=top_k, top_p=top_p, generator=generator, control=control)


class DigitGenerator(ServedModel):
    """A class-conditional model of 28×28 digits (``POST /v1/digits``)."""

    task = "digits"

    def draw(self, labels: Sequence[int], *, seed: int) -> torch.Tensor:
        """One image per label, (N, 1, 28, 28) in [0, 1] on the CPU, the same for the same seed.
        The conditional VAE draws z ~ N(0, I) and shows the mean image E[x | z, y]."""
        generator = torch.Generator().manual_seed(seed)
        with self.lock, torch.inference_mode():
            return self.model.sample(len(labels), torch.tensor(labels, dtype=torch.long), generator=generator)


# model class → adapter; a new family that the service should answer with adds its line here
ADAPTERS: dict[type[nn.Module], type[ServedModel]] = {
    GPT: NameGenerator,
    ConditionalVAE: DigitGenerator,
}


def resolve_checkpoint(spec: str | os.PathLike) -> Path:
    """A checkpoint file from a path, or from the name of a bundled checkpoint ("names_gpt")."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled = CHECKPOINT_DIR / f"{spec}.pt"
    if bundled.is_file():
        return bundled
    known = ", ".join(sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt")))
    raise FileNotFoundError(
        f"No checkpoint {str(spec)!r}: it is neither a file nor one of the bundled checkpoints ({known}). "
        f"Give a path to a file written by gankit.models.save_checkpoint, or one of those names.")


def load_served(spec: str | os.PathLike) -> ServedModel:
    """Load a checkpoint (path or bundled name) into the adapter of its model class."""
    path = resolve_checkpoint(spec)
    model = load_checkpoint(path, device="cpu")  # eval mode, CPU; the weights are read with weights_only=True
    adapter = ADAPTERS.get(type(model))
    if adapter is None:
        servable = ", ".join(f"{cls.__name__} ({a.task})" for cls, a in ADAPTERS.items())
        raise ValueError(f"{path} holds a {type(model).__name__}, which the service has no adapter for; it "
                         f"serves {servable}. Add an adapter to gankit.serve.models.ADAPTERS.")
    return adapter(name=path.stem, path=path, sha256=sha256_of(path), model=model)
