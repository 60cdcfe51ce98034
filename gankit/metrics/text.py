"""Measures of generated text against references and training text (lessons 09, 11).

* :func:`bleu` — BLEU (Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation
  of Machine Translation", ACL) through sacrebleu (Post, 2018, arXiv:1804.08771), the
  reference implementation;
* :func:`edit_distance`, :func:`nearest_training_names` and :func:`novelty`: the better
  questions for a names model — is a name new, and how far is it from the nearest one it
  was trained on?
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["bleu", "edit_distance", "nearest_training_names", "novelty"]


# --------------------------------------------------------------------------- text


def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "char") -> float:
    """Corpus BLEU (0–100) of ``hypotheses``, each scored against *all* of ``references``.

    BLEU is the geometric mean of clipped n-gram precisions (n = 1…4) times a brevity
    penalty; an n-gram counts as matched up to the most times it occurs in any one
    reference. ``tokenize="char"`` treats each character as a token (what a names model
    produces); "13a" is sacrebleu's default word tokenizer. Scored by sacrebleu.

    BLEU was made to compare a translation with a few human translations of the same
    sentence. Against a whole training list it measures how much the samples reuse the
    list's n-grams — copying a training item scores 100.
    """
    # sacrebleu is needed by BLEU alone: loaded only when BLEU is asked for
    from sacrebleu.metrics import BLEU

    hyps, refs = list(hypotheses), list(references)
    if not hyps or not refs:
        raise ValueError("bleu needs at least one hypothesis and one reference.")
    if not all(isinstance(s, str) for s in hyps + refs):
        raise TypeError("hypotheses and references must be strings.")
    # sacrebleu wants one stream per reference, aligned with the hypotheses
    streams = [[ref] * len(hyps) for ref in refs]
    return float(BLEU(tokenize=tokenize).corpus_score(hyps, streams).score)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest single-character insertions, deletions and
    substitutions that turn ``a`` into ``b`` (dynamic programming, O(len(a)·len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def nearest_training_names(names: Sequence[str], training: Sequence[str]) -> list[tuple[str, int]]:
    """For each name, its nearest training name by edit distance and that distance
    (0: the name *is* a training name)."""
    training = list(training)
    if not training:
        raise ValueError("the training list is empty.")
    known = set(training)
    by_length: dict[int, list[str]] = {}
    for t in known:
        by_length.setdefault(len(t), []).append(t)
    lengths = sorted(by_length)
    out = []
    for name in names:
        if name in known:
            out.append((name, 0))
            continue
        best, best_d = "", len(name) + max(lengths) + 1
        # edit distance ≥ the difference in length: visit lengths nearest first, stop early
        for length in sorted(lengths, key=lambda n: abs(n - len(name))):
            if abs(length - len(name)) >= best_d:
                break
            for t in sorted(by_length[length]):
                d = edit_distance(name, t)
                if d < best_d:
                    best, best_d = t, d
        out.append((best, best_d))
    return out


def novelty(names: Sequence[str], training: Sequence[str]) -> float:
    """Share of ``names`` that do not occur in ``training`` (0–1)."""
    names = list(names)
    if not names:
        raise ValueError("novelty needs at least one name.")
    known = set(training)
    return sum(n not in known for n in names) / len(names)


