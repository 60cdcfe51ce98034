"""LoRA: low-rank adaptation of a pretrained model's Linear layers (lesson 10).

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022
(arXiv:2106.09685). A pretrained weight W₀ (out × in) stays frozen; the fine-tune learns
only a low-rank change ΔW = B A, with A (r × in) and B (out × r), r ≪ min(in, out):

    h = W₀ x + (α / r) · B A x                      (Hu et al., 2021, eq. 3 and §4.1)

* B starts at zero, so ΔW = 0 and the wrapped model starts *exactly* at the pretrained one;
  A starts random, so the first gradient step can move B (with both at zero, no gradient
  would reach either: ∂h/∂B = (α/r)·(A x)ᵀ = 0 and ∂h/∂A = (α/r)·Bᵀ(...) = 0).
* The paper draws A from a Gaussian. We follow the authors' reference code (microsoft/LoRA,
  ``loralib``), which initialises A as PyTorch initialises a Linear weight: Kaiming-uniform
  with a = √5, i.e. U(−1/√in, 1/√in). Either works: the scale of A only changes how fast
  ΔW grows from 0, and the paper notes it is absorbed into α and the learning rate.
* α / r scales the update, so that changing r does not require retuning the learning
  rate (the paper sets α to the first r it tries and does not tune it).
* ``merge()`` folds the update into one plain ``nn.Linear`` with W₀ + (α / r) B A, so the
  fine-tuned model runs at the base model's speed with no extra layers.

The parameters a fine-tune trains are r · (in + out) per wrapped layer, instead of
in · out: for a 64 → 192 projection with r = 4, 1,024 instead of 12,288.

Simplifications compared with the paper's code: no dropout on the LoRA branch, and no
LoRA for embeddings or convolutions — only ``nn.Linear``.

Read top to bottom: the wrapper (:class:`LoRALinear`), then the functions that put it on
a model's layers (:func:`apply_lora`), fold it back (:func:`merge_lora`) and count what
trains (:func:`trainable_parameters`). A model with LoRA layers must be merged before
:func:`gankit.models.save_checkpoint`, which rebuilds models from their config alone.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import torch
from torch import nn

from gankit.utils import check_positive_int

__all__ = ["LoRALinear", "apply_lora", "merge_lora", "trainable_parameters", "DEFAULT_TARGETS"]

# the Linear layers of every block of gankit.models.GPT: attention's qkv and proj, the MLP's fc and proj
DEFAULT_TARGETS = ("qkv", "proj", "fc")


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive number (the update is scaled by alpha / r), got {alpha!r}. "
                         f"Hu et al. set alpha to the first r they try (scale 1); alpha = 2r is also common.")
    return float(alpha)


class LoRALinear(nn.Module):
    """``base`` (an ``nn.Linear``, frozen) plus a trainable low-rank update: y = base(x) + (α/r)·x Aᵀ Bᵀ.

    ``A`` (r × in_features) is random, ``B`` (out_features × r) is zero, so at creation the
    layer computes exactly what ``base`` computes. ``base``'s weight and bias are frozen
    (``requires_grad=False``) here; only A and B train.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        if isinstance(base, LoRALinear) or not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}"
                            + (" (it already has LoRA: merge it first)." if isinstance(base, LoRALinear) else "."))
        check_positive_int(r, "r (the rank of the update)")
        limit = min(base.in_features, base.out_features)
        if r > limit:
            raise ValueError(f"r={r} is larger than the layer allows: a {base.in_features} → {base.out_features} "
                             f"Linear has rank at most {limit}, so use r ≤ {limit} (LoRA's point is r ≪ {limit}).")
        self.r, self.alpha = r, _check_alpha(alpha)
        self.scale = self.alpha / r
        self.base = base
        base.requires_grad_(False)  # the pretrained W₀ (and bias) stay as they are
        weight = base.weight
        self.A = nn.Parameter(torch.empty(r, base.in_features, device=weight.device, dtype=weight.dtype))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, device=weight.device, dtype=weight.dtype))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear and loralib do

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (..., in) → (..., r) → (..., out): never form the out × in matrix B A
        return self.base(x) + (x @ self.A.T) @ self.B.T * self.scale

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (α / r) · B A, (out × in): what the fine-tune has added to the base weight."""
        return self.scale * (self.B @ self.A)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight W₀ + (α / r) B A and the base's bias: the same
        function as this layer, at the base's cost. Its parameters are frozen like the base's."""
        merged = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        merged.weight.copy_(self.base.weight + self.delta_weight())
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        merged.requires_grad_(self.base.weight.requires_grad)
        return merged

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, scale={self.scale:g}"


# --------------------------------------------------------------------------- on a whole model


def _linear_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def _matches(name: str, target: str) -> bool:
    """Whether ``target`` names the module ``name``: the whole dotted name or its last parts
    ("proj" is every ``...proj``, "attn.proj" only attention's, "blocks.0.attn.qkv" one layer)."""
    return name == target or name.endswith("." + target)


def _allowed_targets(names: Iterable[str]) -> str:
    short = {part for name in names for part in (name.split(".")[-1], ".".join(name.split(".")[-2:]))}
    return ", ".join(repr(s) for s in sorted(short))


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def apply_lora(model: nn.Module, r: int, alpha: float, targets: Iterable[str] = DEFAULT_TARGETS,
               train_norms: bool = False, train_head: bool = False) -> int:
    """Wrap the ``nn.Linear`` layers of ``model`` named by ``targets`` in :class:`LoRALinear`
    (in place), freeze every other parameter, and return how many parameters are trainable.

    ``targets`` are names or endings of names of Linear layers: in a
    :class:`gankit.models.GPT`, "qkv" and "proj" (attention), "fc" and "proj" (the MLP —
    "attn.proj" or "mlp.proj" for only one of them), "head"; or a full name such as
    "blocks.3.attn.qkv". The default, ("qkv", "proj", "fc"), is every projection of every
    block. ``train_norms=True`` also trains every LayerNorm, ``train_head=True`` the output
    head (a cheap addition the lesson measures).
    """
    check_positive_int(r, "r (the rank of the update)")
    _check_alpha(alpha)
    if isinstance(targets, str):
        targets = (targets,)
    targets = tuple(targets)
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("This model already has LoRA layers: merge them first (merge_lora(model)), "
                         "or start again from a copy of the pretrained model.")
    names = _linear_names(model)
    if not targets:
        raise ValueError(f"targets is empty: name the Linear layers to adapt, from {_allowed_targets(names)}.")
    chosen = []
    for target in targets:
        hits = [name for name in names if _matches(name, target)] if isinstance(target, str) else []
        if not hits:
            raise ValueError(f"No nn.Linear in the model is called {target!r}. The names (or endings of "
                             f"names) of its Linear layers are: {_allowed_targets(names)}.")
        chosen += [name for name in hits if name not in chosen]
    if train_head and any(_matches(name, "head") for name in chosen):
        raise ValueError("train_head=True trains the whole head, but 'head' is also a LoRA target: choose one.")
    for name in chosen:  # refuse before changing anything, not half-way through the model
        layer = model.get_submodule(name)
        if r > min(layer.in_features, layer.out_features):
            raise ValueError(f"r={r} is larger than {name} allows: a {layer.in_features} → {layer.out_features} "
                             f"Linear has rank at most {min(layer.in_features, layer.out_features)}.")
    model.requires_grad_(False)  # (1) freeze everything
    for name in chosen:  # (2) wrap the targets: their A and B are the new trainable parameters
        _set_module(model, name, LoRALinear(model.get_submodule(name), r, alpha))
    if train_norms:  # (3) optionally unfreeze the small extras
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.requires_grad_(True)
    if train_head:
        head = getattr(model, "head", None)
        if not isinstance(head, nn.Module):
            raise ValueError("train_head=True, but the model has no `head` module.")
        head.requires_grad_(True)
    return trainable_parameters(model)[0]


def merge_lora(model: nn.Module) -> int:
    """Replace every :class:`LoRALinear` of ``model`` by its merged ``nn.Linear`` (in place) and
    return how many were merged. The model computes the same function (up to rounding), with
    no LoRA parameters left: it can be saved as a plain model."""
    names = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in names:
        _set_module(model, name, model.get_submodule(name).merge())
    return len(names)


def trainable_parameters(model: nn.Module) -> tuple[int, float]:
    """(number of trainable parameters, that number as a share of the model's own size).

    The size leaves out LoRA's A and B matrices: it is the size of the pretrained model, so
    that full fine-tuning is a share of 1 and every method is measured against the same
    yardstick, as Hu et al. compare LoRA's trainable parameters with full fine-tuning's."""
    lora = {id(p) for m in model.modules() if isinstance(m, LoRALinear) for p in (m.A, m.B)}
    size = sum(p.numel() for p in model.parameters() if id(p) not in lora)
    if size == 0:
        raise ValueError("The model has no parameters.")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, trainable / size
