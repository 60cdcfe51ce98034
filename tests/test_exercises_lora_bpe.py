"""The exercise checks of issue 18 (gankit.checks.finetune): each passes gankit's reference
and a student's right answer written another way, and fails each typical wrong version with a
message that names the mistake."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit import text
from gankit.checks import CheckFailed, check_beam_search, check_bpe_merge_step, check_lora_linear
from gankit.models import LoRALinear

# --------------------------------------------------------------------------- LoRA


def lora_class(b_init="zeros", a_init="random", scale="alpha/r", freeze=True, a_shape="r,in", with_base=True,
               detach=False, merge="right"):
    """A student's LoRALinear, right by default, with one mistake switched on by an argument."""

    class StudentLoRA(nn.Module):
        def __init__(self, base, r, alpha):
            super().__init__()
            self.base = base
            if freeze:
                base.requires_grad_(False)
            shape = (r, base.in_features) if a_shape == "r,in" else (base.in_features, r)
            self.A = nn.Parameter(torch.randn(*shape) / r if a_init == "random" else torch.zeros(*shape))
            self.B = nn.Parameter(torch.zeros(base.out_features, r) if b_init == "zeros"
                                  else torch.randn(base.out_features, r))
            self.scale = {"alpha/r": alpha / r, "r/alpha": r / alpha, "1": 1.0, "alpha": alpha}[scale]

        def forward(self, x):
            A = self.A.detach() if detach else self.A
            update = (x @ A.T) @ self.B.T * self.scale
            return self.base(x) + update if with_base else update

        @torch.no_grad()
        def merge(self):
            if merge == "self":
                return self
            delta = {"right": self.scale, "no scale": 1.0, "no BA": 0.0}.get(merge, self.scale) * (self.B @ self.A)
            if merge == "in place":
                self.base.weight += delta
                return self.base
            out = nn.Linear(self.base.in_features, self.base.out_features)
            out.weight.copy_(self.base.weight + delta)
            out.bias.copy_(self.base.bias if merge != "no bias" else torch.zeros_like(self.base.bias))
            return out

    return StudentLoRA


def test_lora_check_passes_the_reference_and_a_right_answer(capsys):
    check_lora_linear(LoRALinear)
    check_lora_linear(lora_class())
    assert "✓ LoRALinear is correct" in capsys.readouterr().out


def unwritten_lora(base, r, alpha):
    raise NotImplementedError


@pytest.mark.parametrize("cls, hint", [
    (unwritten_lora, "not written yet"),
    (lora_class(b_init="random"), "B starts non-zero"),
    (lora_class(a_init="zeros"), "A starts at zero too"),
    (lora_class(freeze=False), "base Linear is still trainable"),
    (lora_class(a_shape="in,r"), r"A, shape \(r, in\) = \(2, 5\)"),
    (lora_class(scale="r/alpha"), r"scaled by r/α \(0.5\) instead of α/r"),
    (lora_class(scale="1"), "not scaled: multiply it by alpha / r"),
    (lora_class(scale="alpha"), "scaled by α alone"),
    (lora_class(with_base=False), r"exactly base\(x\)"),
    (lora_class(detach=True), "A or B has no gradient"),
    (lora_class(merge="self"), "plain nn.Linear"),
    (lora_class(merge="no scale"), "merge forgot the scale"),
    (lora_class(merge="no BA"), "merge forgot B A"),
    (lora_class(merge="no bias"), "dropped the base's bias"),
    (lora_class(merge="in place"), "in place"),
])
def test_lora_check_names_each_mistake(cls, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_lora_linear(cls)


# --------------------------------------------------------------------------- beam search


def student_beam(model, vocab, width, max_len, mistake=None):
    """Beam search as a student writes it with lists, right by default, with one mistake
    switched on by ``mistake``."""
    beams = [([vocab.end_id], 0.0)]
    finished = []
    k = 1 if mistake == "greedy" else width
    cap = model.config.block_size - 1 if mistake == "no cap" else max_len
    while beams:
        candidates = []
        for ids, score in beams:
            logits, _ = model(torch.tensor([ids]))
            logp = logits[0, -1].log_softmax(-1).tolist()
            for token, lp in enumerate(logp):
                if len(ids) - 1 == cap and token != vocab.end_id:
                    continue
                new = lp if mistake == "no add" else score + (0.0 if mistake == "no end" and token == 0 else lp)
                candidates.append((new, ids + [token]))
        candidates.sort(key=lambda c: -c[0])
        beams = []
        for score, ids in candidates[:k]:
            if ids[-1] == vocab.end_id:
                finished.append((vocab.decode(ids[1:]), score))
                if mistake != "greedy":
                    k -= 1
            elif mistake == "cut" and len(ids) - 1 == max_len:
                finished.append((vocab.decode(ids[1:]), score))  # stops at the cap without the end
                k -= 1
            else:
                beams.append((ids, score))
        if mistake == "greedy" and finished:
            break
    if mistake == "probabilities":
        finished = [(n, math.exp(s)) for n, s in finished]
    if mistake == "mean":
        finished = [(n, s / (len(n) + 1)) for n, s in finished]
    if mistake != "unsorted":
        finished.sort(key=lambda f: -f[1])
    return finished


def test_beam_check_passes_the_reference_and_a_right_answer(capsys):
    check_beam_search(lambda m, v, w, n: text.beam_search(m, v, w, n))
    check_beam_search(student_beam)
    assert "✓ beam_search is correct" in capsys.readouterr().out


def unwritten_beam(model, vocab, width, max_len):
    raise NotImplementedError


@pytest.mark.parametrize("mistake, hint", [
    ("greedy", "found greedy's 'a'.*keeping one is greedy decoding"),
    ("no add", "only the last token's log-probability"),
    ("probabilities", "that is a probability; return log-probabilities"),
    ("mean", "mean log-probability per token"),
    ("no end", "end token's log-probability is missing"),
    ("no cap", "at most max_len characters"),
    ("cut", "reached max_len without paying for its end"),
    ("unsorted", "not best first"),
])
def test_beam_check_names_each_mistake(mistake, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_beam_search(lambda m, v, w, n: student_beam(m, v, w, n, mistake))


def test_beam_check_refuses_the_stub_and_a_wrong_shape():
    with pytest.raises(CheckFailed, match="not written yet"):
        check_beam_search(unwritten_beam)
    with pytest.raises(CheckFailed, match=r"list of \(name, log-probability\) pairs"):
        check_beam_search(lambda m, v, w, n: ["a", "b"])


# --------------------------------------------------------------------------- BPE


def student_merge_step(words, mistake=None):
    """One BPE merge step as a student writes it, right by default, with one mistake switched on."""
    counts = {}
    if mistake == "across words":  # one long sequence: the end of a word touches the next word
        sequence = [s for word, f in words.items() for _ in range(f) for s in word]
        for pair in zip(sequence, sequence[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    else:
        for word, f in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] = counts.get(pair, 0) + (1 if mistake == "unweighted" else f)
    best = max(counts.values())
    tied = [p for p, c in counts.items() if c == best]
    pair = max(tied) if mistake == "tie" else min(tied)
    merged = {}
    for word, f in words.items():
        out, i, done = [], 0, False
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == pair and not (mistake == "first only" and done):
                out.append(word[i] + word[i + 1])
                i, done = i + 2, True
            else:
                out.append(word[i])
                i += 1
        key = " ".join(out) if mistake == "strings" else tuple(out)
        merged[key] = 1 if mistake == "frequency" else f
    if mistake == "mutates":
        words.clear()
    return pair, merged


def test_bpe_check_passes_the_reference_and_a_right_answer(capsys):
    check_bpe_merge_step(text.bpe_merge_step)
    check_bpe_merge_step(student_merge_step)
    assert "✓ bpe_merge_step is correct" in capsys.readouterr().out


def unwritten_step(words):
    raise NotImplementedError


@pytest.mark.parametrize("mistake, hint", [
    ("across words", "occurs inside no word: it is the end of one word and the start of the next"),
    ("unweighted", "occurs in the most different words.*a word that occurs f times adds f"),
    ("tie", r"ties with \('e', 's'\).*alphabetically first"),
    ("first only", "still occurs as two symbols: merge every occurrence"),
    ("frequency", "frequencies changed"),
    ("strings", "each word a tuple of symbols"),
    ("mutates", "changed the dictionary it was given"),
])
def test_bpe_check_names_each_mistake(mistake, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_bpe_merge_step(lambda words: student_merge_step(words, mistake))


def test_bpe_check_refuses_the_stub():
    with pytest.raises(CheckFailed, match="not written yet"):
        check_bpe_merge_step(unwritten_step)
