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
from gankit._i18n import join_clauses, tr
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
        raise CheckFailed(tr("{what} should return a tensor of shape {expected} for an input {given}, got {shape}.",
                             what=what, expected=(x.shape[0], 3), given=tuple(x.shape), shape=shape))
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
        raise CheckFailed(tr("LoRALinear(base, r, alpha) should make an nn.Module, got {kind}.",
                             kind=type(layer).__name__))
    # (1) what trains: only A and B, of the paper's shapes
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        raise CheckFailed(tr("The base Linear is still trainable: LoRA freezes the pretrained weight and bias "
                             "(base.requires_grad_(False)) and trains only A and B."))
    trainable = [(name, p) for name, p in layer.named_parameters() if p.requires_grad]
    shapes = {name: tuple(p.shape) for name, p in trainable}
    A = [p for _, p in trainable if tuple(p.shape) == (2, 5)]
    B = [p for _, p in trainable if tuple(p.shape) == (3, 2)]
    if len(A) != 1 or len(B) != 1 or len(trainable) != 2:
        if shapes:
            raise CheckFailed(tr("For a 5 → 3 Linear and r = 2 the trainable parameters should be exactly A, shape "
                                 "(r, in) = (2, 5), and B, shape (out, r) = (3, 2) (nn.Parameter each); found "
                                 "{shapes}.", shapes=shapes))
        raise CheckFailed(tr("For a 5 → 3 Linear and r = 2 the trainable parameters should be exactly A, shape "
                             "(r, in) = (2, 5), and B, shape (out, r) = (3, 2) (nn.Parameter each); found none."))
    A, B = A[0], B[0]
    # (2) the start: exactly the base
    y0 = _layer_output(layer, x, "LoRALinear.forward")
    if not torch.allclose(y0, y_base, atol=1e-6):
        if B.detach().abs().sum() > 0:
            raise CheckFailed(tr("At creation the wrapped layer must compute exactly what the base computes, but "
                                 "yours differs: B starts non-zero. Initialise B with zeros (and A at random), so that "
                                 "B A = 0."))
        raise CheckFailed(tr("At creation the wrapped layer should compute exactly base(x) (B is zero, so the update "
                             "is 0), but it does not: forward should return base(x) + scale · (x @ A.T) @ B.T."))
    if A.detach().abs().sum() == 0:
        raise CheckFailed(tr("A starts at zero too: with A = 0 and B = 0, no gradient reaches either (the gradient "
                             "of B is multiplied by A x, that of A by B), so LoRA would never learn. Start A at random "
                             "(e.g. nn.init.kaiming_uniform_(A, a=math.sqrt(5))) and only B at zero."))
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
            tr("the update is scaled by r/α (0.5) instead of α/r (2)"): y_base + 0.5 * update,
            tr("the update is not scaled: multiply it by alpha / r"): y_base + update,
            tr("the update is scaled by α alone (4): divide by r, scale = alpha / r"): y_base + 4.0 * update,
            tr("the base layer's output is missing: return base(x) plus the update"): 2.0 * update,
        })
        raise CheckFailed(tr("With A and B set to known values (r = 2, α = 4), the output is wrong: {hint}.",
                             hint=hint or tr("expected base(x) + (alpha / r) · (x @ A.T) @ B.T")))
    # (4) a gradient step moves A and B, never the base
    layer.zero_grad(set_to_none=True)
    y.sum().backward()
    if A.grad is None or B.grad is None:
        raise CheckFailed(tr("After backward, A or B has no gradient: compute the update from the parameters "
                             "themselves (no .detach() or torch.no_grad() in forward)."))
    # (5) the merge
    merged = run_student(layer.merge, "LoRALinear.merge")
    if type(merged) is not nn.Linear:
        raise CheckFailed(tr("merge() should return a plain nn.Linear (same in and out features) holding the merged "
                             "weight, got {kind}.", kind=type(merged).__name__))
    changed = [name for name, p in base.named_parameters() if not torch.equal(p, original[name])]
    if changed:
        raise CheckFailed(tr("merge() changed the base layer's {names} in place: build a new nn.Linear "
                             "(the wrapped layer would now add B A twice).", names=", ".join(changed)))
    with torch.no_grad():
        ym = merged(x)
        w, b = base.weight, base.bias
        delta = B @ A  # (3, 5)
    if not torch.allclose(ym, expected, atol=1e-5):
        hint = _first_match(ym, {
            tr("the merge forgot the scale: the weight is W + (alpha / r) · B @ A"): x @ (w + delta).T + b,
            tr("the merge scales by r/α instead of α/r"): x @ (w + 0.5 * delta).T + b,
            tr("the merge forgot B A: the merged layer is only the base"): y_base,
            tr("the merge dropped the base's bias: copy it into the new Linear"): x @ (w + 2.0 * delta).T,
        })
        raise CheckFailed(tr("The merged Linear gives other outputs than the wrapped layer: {hint}.",
                             hint=hint or tr("its weight should be base.weight + (alpha / r) · B @ A, its bias the "
                                             "base bias")))
    print(tr("✓ LoRALinear is correct: the base is frozen, it starts exactly at the base (B = 0, A random), only A "
             "and B train, the update is scaled by α/r, and merge() folds it into one plain Linear with the same "
             "outputs."))


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


def _beam_output(out, width: int, max_len: int) -> list[tuple[str, float]]:
    if not isinstance(out, (list, tuple)) or not all(
            isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) for item in out):
        raise CheckFailed(tr("With width={width}, max_len={max_len}: beam_search should return a list of (name, "
                             "log-probability) pairs, best first; got {out!r:.200}.",
                             width=width, max_len=max_len, out=out))
    pairs = []
    for name, score in out:
        if isinstance(score, torch.Tensor) and score.numel() == 1:
            score = score.item()
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise CheckFailed(tr("With width={width}, max_len={max_len}: the score of {name!r} should be a number (its "
                                 "total log-probability), got {score!r}.",
                                 width=width, max_len=max_len, name=name, score=score))
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
        out = _beam_output(run_student(fn, "beam_search", model, vocab, width, max_len), width, max_len)
        want = text.beam_search(model, vocab, width, max_len)
        names, want_names = [n for n, _ in out], [n for n, _ in want]
        if any(set(n) - set(vocab.chars) for n in names):
            raise CheckFailed(tr("With width={width}, max_len={max_len} you returned {names}: the model writes only "
                                 "{chars} and the end token; decode the token ids after the start token with "
                                 "vocab.decode.", width=width, max_len=max_len, names=names, chars=vocab.chars))
        if any(len(n) > max_len for n in names):
            raise CheckFailed(tr("With width={width}, max_len={max_len} you returned {names}: a name may have at most "
                                 "max_len characters and no end token ({end!r}). At max_len characters only the end "
                                 "token may follow, and a name that has ended leaves the beam instead of growing.",
                                 width=width, max_len=max_len, names=names, end=vocab.end))
        for name, score in out:
            true = model.logp(name)
            if math.isclose(score, true, abs_tol=1e-4):
                continue
            last = math.log(model.table.get(name, model.default)[0])
            without_end = true - last
            if len(name) == max_len and math.isclose(score, without_end, abs_tol=1e-4):
                hint = tr("{name!r} reached max_len without paying for its end: at max_len force the end token and "
                          "add its log-probability", name=name)
            else:
                hint = {
                    math.exp(true): tr("that is a probability; return log-probabilities, summed (a product of "
                                       "probabilities underflows for long texts)"),
                    last: tr("that is only the last token's log-probability: add each token's log-probability to "
                             "the running total of the name it extends"),
                    true / (len(name) + 1): tr("that is the mean log-probability per token: the score is the total, "
                                               "as the model's p(name) says"),
                    without_end: tr("the end token's log-probability is missing: a name finishes by writing it, so "
                                    "add it"),
                }
                hint = next((h for v, h in hint.items() if math.isclose(score, v, abs_tol=1e-4)),
                            tr("expected log p(name, end) = Σ log p(token | tokens before it), the end token "
                               "included"))
            raise CheckFailed(tr("With width={width}, max_len={max_len} you scored {name!r} {score:.4f}; its "
                                 "log-probability is {true:.4f}: {hint}.",
                                 width=width, max_len=max_len, name=name, score=score, true=true, hint=hint))
        if sorted(names) != sorted(want_names):
            greedy = text.beam_search(model, vocab, 1, max_len)[0][0]
            if width > 1 and names and names[0] == greedy and want_names[0] != greedy:
                raise CheckFailed(tr("With width={width}, max_len={max_len} you returned {names}, expected "
                                     "{want_names}: your search found greedy's {greedy!r}. Keep the `width` best "
                                     "extensions at every step, not only the best one (keeping one is greedy "
                                     "decoding).", width=width, max_len=max_len, names=names, want_names=want_names,
                                     greedy=greedy))
            if len(names) != len(want_names):
                raise CheckFailed(tr("With width={width}, max_len={max_len} you returned {count} names, expected "
                                     "{want_count} ({want_names}): collect each name when it ends, narrow the beam by "
                                     "one, and go on until the beam is empty.", width=width, max_len=max_len,
                                     count=len(names), want_count=len(want_names), want_names=want_names))
            raise CheckFailed(tr("With width={width}, max_len={max_len} you returned {names}, expected {want_names}. "
                                 "Score every extension by the running total log-probability plus log p(token | name "
                                 "so far), and keep the best `width` of all extensions of all names together.",
                                 width=width, max_len=max_len, names=names, want_names=want_names))
        if names != want_names or any(a[1] < b[1] - 1e-9 for a, b in zip(out, out[1:])):
            raise CheckFailed(tr("With width={width}, max_len={max_len} the names are right but not best first: sort "
                                 "them by score, highest first (expected {want_names}).",
                                 width=width, max_len=max_len, want_names=want_names))
    print(tr("✓ beam_search is correct: width 1 is greedy, width 2 finds 'b' (p = 0.315) where greedy stops at 'a' "
             "(0.24), finished names leave the beam, scores are total log-probabilities with the end token, and "
             "max_len forces the end."))


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
            raise CheckFailed(tr("bpe_merge_step changed the dictionary it was given: build a new one."))
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailed(tr("bpe_merge_step should return (pair, new_words), got {out!r:.200}.", out=out))
        pair, merged = out
        want_pair, want_merged = text.bpe_merge_step(words)
        counts = text.count_pairs(words)
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise CheckFailed(tr("The pair should be a tuple of two symbols such as ('a', 'b'), got {pair!r}.",
                                 pair=pair))
        pair = tuple(pair)
        if pair != want_pair:
            unweighted = {}
            for word in words:
                for p in zip(word, word[1:]):
                    unweighted[p] = unweighted.get(p, 0) + 1
            if pair not in counts:
                raise CheckFailed(tr("You merged {pair}, which occurs inside no word: it is the end of one word and "
                                     "the start of the next. Count pairs within each word separately (zip(word, "
                                     "word[1:])).", pair=pair))
            if unweighted.get(pair) == max(unweighted.values()) and counts[pair] < counts[want_pair]:
                raise CheckFailed(tr("You merged {pair}, which occurs in the most different words ({words}), but "
                                     "{want_pair} occurs more often ({want_count} times against {count}): a word that "
                                     "occurs f times adds f to each of its pairs.", pair=pair, words=unweighted[pair],
                                     want_pair=want_pair, want_count=counts[want_pair], count=counts[pair]))
            if counts[pair] == counts[want_pair]:
                raise CheckFailed(tr("You merged {pair}; it ties with {want_pair} ({count} times each), and the tie "
                                     "goes to the alphabetically first pair, min() of the tied pairs.",
                                     pair=pair, want_pair=want_pair, count=counts[pair]))
            raise CheckFailed(tr("You merged {pair} ({count} times), but the most frequent pair is {want_pair} "
                                 "({want_count} times).", pair=pair, count=counts[pair], want_pair=want_pair,
                                 want_count=counts[want_pair]))
        if not isinstance(merged, dict) or not all(isinstance(w, tuple) for w in merged):
            if isinstance(merged, dict) and merged:
                raise CheckFailed(tr("new_words should be a dict like the input: each word a tuple of symbols, with "
                                     "its frequency; got {kind} with keys like {key!r}.",
                                     kind=type(merged).__name__, key=next(iter(merged))))
            raise CheckFailed(tr("new_words should be a dict like the input: each word a tuple of symbols, with its "
                                 "frequency; got {kind}.", kind=type(merged).__name__))
        if merged != want_merged:
            wrong = [(w, merged.get(new), new) for w, new in zip(words, want_merged) if merged.get(new) != words[w]]
            detail = join_clauses(tr("{word!r} should become {new}", word="".join(w), new=new) for w, _, new in wrong[:3])
            if any(p == pair for new in merged for p in zip(new, new[1:])):
                raise CheckFailed(tr("After the merge, {pair} still occurs as two symbols: merge every occurrence in "
                                     "a word, not only the first. {detail}.", pair=pair, detail=detail))
            if sum(merged.values()) != sum(words.values()):
                raise CheckFailed(tr("The frequencies changed: a merged word keeps its frequency. {detail}.",
                                     detail=detail))
            raise CheckFailed(tr("The merged words are wrong: {detail}.", detail=detail))
    print(tr("✓ bpe_merge_step is correct: pairs are counted inside words, weighted by their frequency, the most "
             "frequent (ties: the alphabetically first) is merged everywhere, and the frequencies carry over."))
