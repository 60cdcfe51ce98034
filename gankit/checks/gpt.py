"""Exercise checks of the GPT lessons: top-p sampling (lesson 09) and freezing all but the
top block (lesson 10)."""

from __future__ import annotations

from typing import Callable

import torch

from gankit.checks.core import CheckFailed, run_student
from gankit.models import GPT, GPTConfig
from gankit.models.transformer import freeze_all_but_top

__all__ = ["check_top_p", "check_freeze_top"]


def check_top_p(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """Check ``fn(probs, p)``: nucleus (top-p) filtering of a probability vector (V,). It
    must keep the smallest set of most likely tokens whose probabilities add up to at least
    p, set the others to 0, and renormalise what it keeps so that it sums to 1."""
    probs = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])
    cases = [(0.35, [1]), (0.5, [1, 3]), (0.8, [1, 3, 4]), (0.9, [1, 2, 3, 4]), (1.0, [0, 1, 2, 3, 4])]
    for p, keep in cases:
        out = run_student(fn, "top_p_filter", probs.clone(), p)
        if not isinstance(out, torch.Tensor) or out.shape != probs.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"top_p_filter should return probabilities of the same shape {tuple(probs.shape)}, got {shape}.")
        expected = torch.zeros_like(probs)
        expected[keep] = probs[keep] / probs[keep].sum()
        if torch.allclose(out, expected, atol=1e-5):
            continue
        kept = (out > 0).nonzero().flatten().tolist()
        where = f"With probs {probs.tolist()} and p = {p}"
        if sorted(kept) == keep:
            raise CheckFailed(f"{where} you kept the right tokens {keep}, but their probabilities must be divided by "
                              f"their sum ({probs[keep].sum():.2f}) so that they add up to 1 again.")
        if len(kept) == len(keep) + 1:
            raise CheckFailed(f"{where} you kept {kept}, one token too many: stop as soon as the kept "
                              f"probabilities reach p (expected {keep}).")
        if len(kept) == len(keep) - 1:
            raise CheckFailed(f"{where} you kept {kept}, one token too few: the kept probabilities must add up "
                              f"to at least p — include the token that crosses p (expected {keep}).")
        if len(kept) == len(keep):
            raise CheckFailed(f"{where} you kept {kept} instead of {keep}: keep the most likely tokens (sort in "
                              f"descending order), and put the result back in the tokens' original order.")
        raise CheckFailed(f"{where} expected to keep the tokens {keep} (the most likely ones, until their "
                          f"probabilities reach p), got {kept}.")
    print("✓ top-p filtering correct: it keeps the smallest set of most likely tokens reaching p, renormalised.")


def check_freeze_top(fn: Callable) -> None:
    """Check ``fn(model, n_blocks) -> int``: freeze every parameter of a GPT except its last
    ``n_blocks`` blocks, the final LayerNorm ``ln_f`` and the ``head``, and return the number
    of parameters left trainable (lesson 10's partial fine-tune)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=16))
    reference = GPT(model.config)
    for n_blocks in (1, 2, 0):  # a model may come in partly frozen: every flag must be set
        count = run_student(fn, "freeze_top", model, n_blocks)
        expected_count = freeze_all_but_top(reference, n_blocks)
        got = {name: p.requires_grad for name, p in model.named_parameters()}
        want = {name: p.requires_grad for name, p in reference.named_parameters()}
        wrong = [name for name in want if got[name] != want[name]]
        where = f"With n_blocks={n_blocks} (of 3 blocks)"
        if wrong:
            if all(got.values()):
                raise CheckFailed(f"{where} every parameter is still trainable: first freeze them all "
                                  f"(p.requires_grad_(False) for p in model.parameters()), then unfreeze the top.")
            if not any(got.values()):
                raise CheckFailed(f"{where} every parameter is frozen: unfreeze the last blocks, model.ln_f and model.head.")
            parts = sorted({name.split(".")[0] + ("." + name.split(".")[1] if name.startswith("blocks.") else "")
                            for name in wrong})
            hint = ""
            if any(name.startswith(("head", "ln_f")) for name in wrong):
                hint = " The final LayerNorm (model.ln_f) and the head (model.head) sit on top of the last block: train them too."
            elif any(name.startswith("blocks.") for name in wrong):
                hint = (" The top blocks are the last ones, model.blocks[len(model.blocks) - n_blocks:] "
                        "(careful: model.blocks[-0:] is every block).")
            elif any(name.startswith(("tok_emb", "pos_emb")) for name in wrong):
                hint = " The embeddings are at the bottom of the model: freeze them."
            raise CheckFailed(f"{where} the trainable parts are wrong for: {', '.join(parts)}.{hint}")
        if count != expected_count:
            raise CheckFailed(f"{where} the right parameters are trainable, but the function returned {count!r}; "
                              f"return how many numbers are trainable, sum(p.numel() for p in model.parameters() "
                              f"if p.requires_grad) = {expected_count}.")
    print("✓ freeze_top is correct: only the last blocks, ln_f and the head stay trainable, and the count is right.")
