"""What the service serves: checkpoints, each wrapped by the adapter of its task.

A checkpoint file holds one model (:mod:`gankit.models.checkpoint`); the service needs more
than the model to answer a request — the vocabulary that turns tokens into names, how to
draw a digit — and one rule for all of them: a request runs in eval mode, under
``torch.inference_mode``, with a generator seeded from the request, and one request at a
time per model. That is an adapter:

* :class:`NameGenerator` — a character model (:class:`~gankit.models.GPT` with the
  vocabulary in its metadata) that writes names, through :func:`gankit.text.sample_texts`;
* :class:`DigitGenerator` — a class-conditional image model (the conditional VAE of
  lesson 07) that draws the digits asked for;
* :class:`DiffusionDigitGenerator` — the same task answered by lesson 12's U-Net
  (``diffusion_digits``): :meth:`~DiffusionDigitGenerator.draw` runs the flow-matching
  sampler with classifier-free guidance. A client picks it with ``"model":
  "diffusion_digits"``; without a ``model`` field the first digit model served answers
  (the conditional VAE, by default).

``ADAPTERS`` maps a model class to its adapter. Another model family plugs in with one
line there and an adapter class that answers its task's calls, as the diffusion model did.

What one request may cost is part of the adapter too: the conditional VAE draws an image
with one decoder pass, the diffusion model with 20 Euler steps of two U-Net passes each
(with and without the label, for guidance), about 40 ms an image on one core and several
times that on a busy machine. So each digit adapter says how many images one request may
ask for (``max_images``), and the service answers a request over it with a 422, as it does
any other bad value.

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
from gankit.models import GPT, ConditionalVAE, UNetDenoiser, load_checkpoint
from gankit.models.dcgan import to_unit_range  # [−1, 1] → [0, 1]
from gankit.models.diffusion import sample_flow
from gankit.serve.schemas import MAX_IMAGES
from gankit.text import CharVocab, sample_texts

__all__ = [
    "CHECKPOINT_DIR",
    "DEFAULT_MODELS",
    "ServedModel",
    "NameGenerator",
    "DigitGenerator",
    "DiffusionDigitGenerator",
    "ADAPTERS",
    "resolve_checkpoint",
    "load_served",
]

CHECKPOINT_DIR = DATA_DIR / "checkpoints"
# the bundled checkpoints served by default; the first of a task answers requests that name no model
DEFAULT_MODELS = ("names_gpt", "cvae_digits", "diffusion_digits")


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
    max_images = MAX_IMAGES  # images one request may ask for (the schema's limit; a slower model sets less)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_images": self.max_images}

    def request_errors(self, n_images: int) -> list[tuple[str, str]]:
        """(field, message) if a request for ``n_images`` images is more than this model
        draws in one request."""
        if n_images <= self.max_images:
            return []
        return [("n", f"{self.name} draws at most {self.max_images} images per request and this one asks for "
                      f"{n_images} (digits × n); ask for fewer, or in several requests")]

    def draw(self, labels: Sequence[int], *, seed: int) -> torch.Tensor:
        """One image per label, (N, 1, 28, 28) in [0, 1] on the CPU, the same for the same seed.
        The conditional VAE draws z ~ N(0, I) and shows the mean image E[x | z, y]."""
        generator = torch.Generator().manual_seed(seed)
        with self.lock, torch.inference_mode():
            return self.model.sample(len(labels), torch.tensor(labels, dtype=torch.long), generator=generator)


class DiffusionDigitGenerator(DigitGenerator):
    """A label-conditional flow-matching denoiser (:class:`~gankit.models.UNetDenoiser`, the
    ``diffusion_digits`` recipe) that draws the digits asked for.

    It draws as the recipe measured it: ``sample_steps`` Euler steps of
    :func:`~gankit.models.diffusion.sample_flow` (the recipe's own number, read from the
    checkpoint, not a request field: more steps cost more and the figures were measured at
    this one), guided towards the label with classifier-free guidance of weight
    ``guidance`` (Ho & Salimans, 2021). At w = 1 the recipe measured 100 % label agreement
    (FD 45.8); at w = 0, the plain conditional model, 93.8 % and FD 16.7: sharper about the
    digit asked for, at some cost in variety. The images come out in [−1, 1] and are moved
    to [0, 1] like every served image.
    """

    guidance = 1.0  # the weight of recipes.bundled_digit_models and the kit's family table
    max_images = 16  # 20 Euler steps × 2 U-Net passes an image: ~0.6 s a request on one idle core

    def __post_init__(self) -> None:
        if getattr(self.model, "null_label", None) is None:
            raise ValueError(
                f"{self.path} holds a {type(self.model).__name__} without labels (n_classes=0): it cannot draw the "
                f"digit a request asks for. Serve a denoiser trained on (images, labels) with labels dropped now and "
                f"then, as the diffusion_digits recipe does.")
        params = self.metadata.get("params", {})
        if params.get("objective", "flow") != "flow" or "sample_steps" not in params:
            raise ValueError(
                f"{self.path} does not say it was trained with flow matching and how many sampling steps its "
                f"figures used (metadata params 'sample_steps'; 'objective' 'flow' if given), so the service "
                f"cannot sample it as it was measured. Save it as the diffusion_digits recipe does.")
        self.sample_steps = int(params["sample_steps"])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sample_steps": self.sample_steps, "guidance": self.guidance}

    def draw(self, labels: Sequence[int], *, seed: int) -> torch.Tensor:
        """One image per label, (N, 1, 28, 28) in [0, 1], the same for the same seed: noise from
        the request's generator, then ``sample_steps`` guided Euler steps back to an image."""
        generator = torch.Generator().manual_seed(seed)
        with self.lock, torch.inference_mode():
            images = sample_flow(self.model, len(labels), self.sample_steps,
                                 labels=torch.tensor(labels, dtype=torch.long), guidance=self.guidance,
                                 generator=generator)  # (N, 1, 28, 28) around [−1, 1]
            return to_unit_range(images)


# model class → adapter; a new family that the service should answer with adds its line here
ADAPTERS: dict[type[nn.Module], type[ServedModel]] = {
    GPT: NameGenerator,
    ConditionalVAE: DigitGenerator,
    UNetDenoiser: DiffusionDigitGenerator,
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
