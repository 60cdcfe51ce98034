"""Exercise checks of issue 18's pieces. Lesson 10: a LoRA layer (Hu et al., 2021). Lesson 09:
beam search, and one merge step of byte-pair encoding (Sennrich et al., 2016).

Each check runs the student's code on inputs with a known answer — a Linear layer with
chosen weights, a "language model" whose next-token probabilities are a written-out table,
a tiny word-frequency corpus — compares with gankit's reference (:mod:`gankit.models.lora`,
:func:`gankit.text.beam_search`, :func:`gankit.text.bpe_merge_step`), and names the likely
mistake when they differ.
"""

from __future__ import annotations

import math
import numbers
from types import SimpleNamespace
from typing import Callable

import torch
from torch import nn

from gankit import text
from gankit.checks.core import CheckFailed, run_student

__all__ = ["check_lora_linear", "check_beam_search", "check_bpe_merge_step"]


# --------------------------------------------------------------------------- LoRA


def _first_match(got: torch.Tensor, candidates: dict[str, torch.Tensor], atol: float = 1e-5) -> str | None:
    for hint, value in candidates.items():
        if got.shape == value.shape and torch.allclose(got, value, atol=atol):
            return hint
    return None


def _layer_output(layer: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    out = run_student(layer, what, x)
    if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0], 3):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(f"{what} should return a tensor of shape {(x.shape[0], 3)} for an input {tuple(x.shape)}, got {shape}.")
    return out


def check_lora_linear(cls: Callable) -> None:
    """Check ``cls(base, r, alpha)``: a LoRA wrapper of the ``nn.Linear`` ``base`` that freezes
    it and adds (α / r) · x Aᵀ Bᵀ, with trainable A (r × in) random and B (out × r) zero, and a
    ``merge()`` that returns one plain ``nn.Linear`` with weight W + (α / r) B A.

    Run on a 5 → 3 Linear with r = 2 and α = 4 (scale 2): the start, which parameters train,
    the output with A and B set to known values, a gradient step, and the merge."""
    torch.manual_seed(0)
    base = nn.Linear(5, 3)
    original = {name: p.detach().clone() for name, p in base.named_parameters()}
    x = torch.randn(4, 5)
    with torch.no_grad():
        y_base = base(x)
    layer = run_student(cls, "LoRALinear", base, 2, 4.0)
    if not isinstance(layer, nn.Module):
        raise CheckFailed(f"LoRALinear(base, r, alpha) should make an nn.Module, got {type(layer).__name__}.")
    # (1) what trains: only A and B, of the paper's shapes
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        raise CheckFailed("The base Linear is still trainable: LoRA freezes the pretrained weight and bias "
                          "(base.requires_grad_(False)) and trains only A and B.")
    trainable = [(name, p) for name, p in layer.named_parameters() if p.requires_grad]
    shapes = {name: tuple(p.shape) for name, p in trainable}
    A = [p for _, p in trainable if tuple(p.shape) == (2, 5)]
    B = [p for _, p in trainable if tuple(p.shape) == (3, 2)]
    if len(A) != 1 or len(B) != 1 or len(trainable) != 2:
        raise CheckFailed(f"For a 5 → 3 Linear and r = 2 the trainable parameters should be exactly A, shape (r, in) "
                          f"= (2, 5), and B, shape (out, r) = (3, 2) (nn.Parameter each); found {shapes or 'none'}.")
    A, B = A[0], B[0]
    # (2) the start: exactly the base
    y0 = _layer_output(layer, x, "LoRALinear.forward")
    if not torch.allclose(y0, y_base, atol=1e-6):
        if B.detach().abs().sum() > 0:
            raise CheckFailed("At creation the wrapped layer must compute exactly what the base computes, but yours "
                              "differs: B starts non-zero. Initialise B with zeros (and A at random), so that B A = 0.")
        raise CheckFailed("At creation the wrapped layer should compute exactly base(x) (B is zero, so the update "
                          "is 0), but it does not: forward should return base(x) + scale · (x @ A.T) @ B.T.")
    if A.detach().abs().sum() == 0:
        raise CheckFailed("A starts at zero too: with A = 0 and B = 0, no gradient reaches either (the gradient "
                          "of B is multiplied by A x, that of A by B), so LoRA would never learn. Start A at random "
                          "(e.g. nn.init.kaiming_uniform_(A, a=math.sqrt(5))) and only B at zero.")
    # (3) the update and its scale, with A and B set to known values
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        A.copy_(torch.randn(2, 5, generator=g))
        B.copy_(torch.randn(3, 2, generator=g))
    y = _layer_output(layer, x, "LoRALinear.forward")
    with torch.no_grad():
        update = (x @ A.T) @ B.T  # (4, 3)
    expected = y_base + 2.0 * update
    if not torch.allclose(y, expected, atol=1e-5):
        hint = _first_match(y, {
            "the update is scaled by r/α (0.5) instead of α/r (2)": y_base + 0.5 * update,
            "the update is not scaled: multiply it by alpha / r": y_base + update,
            "the update is scaled by α alone (4): divide by r, scale = alpha / r": y_base + 4.0 * update,
            "the base layer's output is missing: return base(x) plus the update": 2.0 * update,
        })
        raise CheckFailed(f"With A and B set to known values (r = 2, α = 4), the output is wrong: "
                          f"{hint or 'expected base(x) + (alpha / r) · (x @ A.T) @ B.T'}.")
    # (4) a gradient step moves A and B, never the base
    layer.zero_grad(set_to_none=True)
    y.sum().backward()
    if A.grad is None or B.grad is None:
        raise CheckFailed("After backward, A or B has no gradient: compute the update from the parameters themselves "
                          "(no .detach() or torch.no_grad() in forward).")
    # (5) the merge
    merged = run_student(layer.merge, "LoRALinear.merge")
    if type(merged) is not nn.Linear:
        raise CheckFailed(f"merge() should return a plain nn.Linear (same in and out features) holding the merged "
                          f"weight, got {type(merged).__name__}.")
    changed = [name for name, p in base.named_parameters() if not torch.equal(p, original[name])]
    if changed:
        raise CheckFailed(f"merge() changed the base layer's {', '.join(changed)} in place: build a new nn.Linear "
                          f"(the wrapped layer would now add B A twice).")
    with torch.no_grad():
        ym = merged(x)
        w, b = base.weight, base.bias
        delta = B @ A  # (3, 5)
    if not torch.allclose(ym, expected, atol=1e-5):
        hint = _first_match(ym, {
            "the merge forgot the scale: the weight is W + (alpha / r) · B @ A": x @ (w + delta).T + b,
            "the merge scales by r/α instead of α/r": x @ (w + 0.5 * delta).T + b,
            "the merge forgot B A: the merged layer is only the base": y_base,
            "the merge dropped the base's bias: copy it into the new Linear": x @ (w + 2.0 * delta).T,
        })
        raise CheckFailed(f"The merged Linear gives other outputs than the wrapped layer: "
                          f"{hint or 'its weight should be base.weight + (alpha / r) · B @ A, its bias the base bias'}.")
    print("✓ LoRALinear is correct: the base is frozen, it starts exactly at the base (B = 0, A random), only A and "
          "B train, the update is scaled by α/r, and merge() folds it into one plain Linear with the same outputs.")


# --------------------------------------------------------------------------- beam search


class _TableModel(nn.Module):
    """A "language model" over {end, a, b} whose next-token probabilities are a table:
    text so far → (p(end), p(a), p(b)); a text not in the table gets ``default``."""

    vocab = text.CharVocab(("a", "b"))

    def __init__(self, table: dict[str, tuple[float, float, float]], default: tuple[float, float, float],
                 block_size: int = 8):
        super().__init__()
        self.table, self.default = table, default
        self.config = SimpleNamespace(block_size=block_size, vocab_size=3)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        B, T = idx.shape
        logits = torch.empty(B, T, 3)  # (B, T, V): log-probabilities are logits
        for b in range(B):
            for t in range(T):
                prefix = self.vocab.decode(idx[b, 1:t + 1], stop_at_end=False)
                logits[b, t] = torch.tensor(self.table.get(prefix, self.default)).log()
        return logits, None

    def logp(self, name: str) -> float:
        """log p(name, end) by hand: each character's log-probability given the ones before, plus the end's."""
        total = 0.0
        for i, c in enumerate(name):
            total += math.log(self.table.get(name[:i], self.default)[self.vocab.encode(c)[0]])
        return total + math.log(self.table.get(name, self.default)[0])


# greedy writes "a" (0.6) and stops (0.4): p = 0.24, while "b" (0.35 · 0.9 = 0.315) is likelier
_GREEDY_TRAP = _TableModel({"": (0.05, 0.6, 0.35), "a": (0.4, 0.3, 0.3), "b": (0.9, 0.05, 0.05)}, (0.2, 0.4, 0.4))
# never wants to stop: a cap of 3 characters must force the end
_LONG = _TableModel({"": (1e-4, 0.98, 0.0199)}, (0.01, 0.98, 0.01))


def _beam_output(out, width: int, case: str) -> list[tuple[str, float]]:
    if not isinstance(out, (list, tuple)) or not all(
            isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) for item in out):
        raise CheckFailed(f"{case}: beam_search should return a list of (name, log-probability) pairs, best first; "
                          f"got {out!r:.200}.")
    pairs = []
    for name, score in out:
        if isinstance(score, torch.Tensor) and score.numel() == 1:
            score = score.item()
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise CheckFailed(f"{case}: the score of {name!r} should be a number (its total log-probability), got {score!r}.")
        pairs.append((name, float(score)))
    return pairs


def check_beam_search(fn: Callable) -> None:
    """Check ``fn(model, vocab, width, max_len) -> [(name, log p), ...]``: beam search over a
    character model, returning the finished names, best first, each with its total
    log-probability log p(name, end) in nats.

    The beam keeps the ``width`` best extensions of all kept names; a name that ends (the end
    token) is finished and leaves the beam, which narrows by one; at ``max_len`` characters
    the only allowed continuation is the end token. Run on small models over {end, a, b}
    whose next-token probabilities are written out, so every answer is known by hand."""
    vocab = _TableModel.vocab
    cases = [(_GREEDY_TRAP, 1, 5), (_GREEDY_TRAP, 2, 5), (_GREEDY_TRAP, 3, 5), (_LONG, 2, 3)]
    for model, width, max_len in cases:
        case = f"With width={width}, max_len={max_len}"
        out = _beam_output(run_student(fn, "beam_search", model, vocab, width, max_len), width, case)
        want = text.beam_search(model, vocab, width, max_len)
        names, want_names = [n for n, _ in out], [n for n, _ in want]
        if any(set(n) - set(vocab.chars) for n in names):
            raise CheckFailed(f"{case} you returned {names}: the model writes only {vocab.chars} and the end token; "
                              f"decode the token ids after the start token with vocab.decode.")
        if any(len(n) > max_len for n in names):
            raise CheckFailed(f"{case} you returned {names}: a name may have at most max_len characters and no end "
                              f"token ({vocab.end!r}). At max_len characters only the end token may follow, and a "
                              f"name that has ended leaves the beam instead of growing.")
        for name, score in out:
            true = model.logp(name)
            if math.isclose(score, true, abs_tol=1e-4):
                continue
            last = math.log(model.table.get(name, model.default)[0])
            without_end = true - last
            if len(name) == max_len and math.isclose(score, without_end, abs_tol=1e-4):
                hint = (f"{name!r} reached max_len without paying for its end: at max_len force the end token and "
                        f"add its log-probability")
            else:
                hint = {
                    math.exp(true): "that is a probability; return log-probabilities, summed (a product of "
                                    "probabilities underflows for long texts)",
                    last: "that is only the last token's log-probability: add each token's log-probability to the "
                          "running total of the name it extends",
                    true / (len(name) + 1): "that is the mean log-probability per token: the score is the total, "
                                            "as the model's p(name) says",
                    without_end: "the end token's log-probability is missing: a name finishes by writing it, so add it",
                }
                hint = next((h for v, h in hint.items() if math.isclose(score, v, abs_tol=1e-4)),
                            "expected log p(name, end) = Σ log p(token | tokens before it), the end token included")
            raise CheckFailed(f"{case} you scored {name!r} {score:.4f}; its log-probability is {true:.4f}: {hint}.")
        if sorted(names) != sorted(want_names):
            greedy = text.beam_search(model, vocab, 1, max_len)[0][0]
            if width > 1 and names and names[0] == greedy and want_names[0] != greedy:
                raise CheckFailed(f"{case} you returned {names}, expected {want_names}: your search found greedy's "
                                  f"{greedy!r}. Keep the `width` best extensions at every step, not only the best one "
                                  f"(keeping one is greedy decoding).")
            if len(names) != len(want_names):
                raise CheckFailed(f"{case} you returned {len(names)} names, expected {len(want_names)} ({want_names}): "
                                  f"collect each name when it ends, narrow the beam by one, and go on until the beam "
                                  f"is empty.")
            raise CheckFailed(f"{case} you returned {names}, expected {want_names}. Score every extension by the "
                              f"running total log-probability plus log p(token | name so far), and keep the best "
                              f"`width` of all extensions of all names together.")
        if names != want_names or any(a[1] < b[1] - 1e-9 for a, b in zip(out, out[1:])):
            raise CheckFailed(f"{case} the names are right but not best first: sort them by score, highest first "
                              f"(expected {want_names}).")
    print("✓ beam_search is correct: width 1 is greedy, width 2 finds 'b' (p = 0.315) where greedy stops at 'a' "
          "(0.24), finished names leave the beam, scores are total log-probabilities with the end token, and "
          "max_len forces the end.")


# --------------------------------------------------------------------------- BPE


# (a, b) is the most frequent pair (7, two of them in one word); counted once per word, (c, d)
# would win (4 words); read across word boundaries, the single-letter words z and y (10 each) would
_BPE_CORPUS = {("a", "b"): 5, ("c", "d"): 1, ("c", "d", "e"): 1, ("x", "c", "d"): 1, ("c", "d", "y"): 1,
               ("a", "b", "x", "a", "b"): 1, ("z",): 10, ("y",): 10}
# Sennrich et al.'s dictionary: e s and s t both occur 9 times; the tie goes to (e, s)
_SENNRICH = {("l", "o", "w"): 5, ("l", "o", "w", "e", "r"): 2, ("n", "e", "w", "e", "s", "t"): 6,
             ("w", "i", "d", "e", "s", "t"): 3}


def check_bpe_merge_step(fn: Callable) -> None:
    """Check ``fn(words) -> (pair, new_words)``: one step of BPE training. ``words`` maps each word,
    a tuple of symbols, to how often it occurs; the step finds the most frequent pair of adjacent
    symbols — counted inside words only, each word as often as it occurs — and returns it with
    the words in which every occurrence of the pair (read left to right) is one symbol. Ties
    go to the alphabetically first pair."""
    for words in (_BPE_CORPUS, _SENNRICH):
        given = dict(words)
        out = run_student(fn, "bpe_merge_step", given)
        if given != words:
            raise CheckFailed("bpe_merge_step changed the dictionary it was given: build a new one.")
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailed(f"bpe_merge_step should return (pair, new_words), got {out!r:.200}.")
        pair, merged = out
        want_pair, want_merged = text.bpe_merge_step(words)
        counts = text.count_pairs(words)
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise CheckFailed(f"The pair should be a tuple of two symbols such as ('a', 'b'), got {pair!r}.")
        pair = tuple(pair)
        if pair != want_pair:
            unweighted = {}
            for word in words:
                for p in zip(word, word[1:]):
                    unweighted[p] = unweighted.get(p, 0) + 1
            if pair not in counts:
                raise CheckFailed(f"You merged {pair}, which occurs inside no word: it is the end of one word and the "
                                  f"start of the next. Count pairs within each word separately (zip(word, word[1:])).")
            if unweighted.get(pair) == max(unweighted.values()) and counts[pair] < counts[want_pair]:
                raise CheckFailed(f"You merged {pair}, which occurs in the most different words ({unweighted[pair]}), "
                                  f"but {want_pair} occurs more often ({counts[want_pair]} times against "
                                  f"{counts[pair]}): a word that occurs f times adds f to each of its pairs.")
            if counts[pair] == counts[want_pair]:
                raise CheckFailed(f"You merged {pair}; it ties with {want_pair} ({counts[pair]} times each), and the "
                                  f"tie goes to the alphabetically first pair, min() of the tied pairs.")
            raise CheckFailed(f"You merged {pair} ({counts[pair]} times), but the most frequent pair is {want_pair} "
                              f"({counts[want_pair]} times).")
        if not isinstance(merged, dict) or not all(isinstance(w, tuple) for w in merged):
            raise CheckFailed("new_words should be a dict like the input: each word a tuple of symbols, with its "
                              f"frequency; got {type(merged).__name__}"
                              + (f" with keys like {next(iter(merged))!r}" if isinstance(merged, dict) and merged else "") + ".")
        if merged != want_merged:
            wrong = [(w, merged.get(new), new) for w, new in zip(words, want_merged) if merged.get(new) != words[w]]
            detail = "; ".join(f"{''.join(w)!r} should become {new}" for w, _, new in wrong[:3])
            if any(p == pair for new in merged for p in zip(new, new[1:])):
                raise CheckFailed(f"After the merge, {pair} still occurs as two symbols: merge every occurrence in "
                                  f"a word, not only the first. {detail}.")
            if sum(merged.values()) != sum(words.values()):
                raise CheckFailed(f"The frequencies changed: a merged word keeps its frequency. {detail}.")
            raise CheckFailed(f"The merged words are wrong: {detail}.")
    print("✓ bpe_merge_step is correct: pairs are counted inside words, weighted by their frequency, the most "
          "frequent (ties: the alphabetically first) is merged everywhere, and the frequencies carry over.")
