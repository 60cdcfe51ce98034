"""Beam search, per-name log-likelihoods and byte-pair encoding (gankit.text), against
hand-computed answers: a fake model whose next-token probabilities are written out, and
Sennrich et al.'s tiny low / lower / newest / widest dictionary."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gankit import text
from gankit.models import GPT, GPTConfig
from gankit.train import evaluate_lm

AB = text.CharVocab(("a", "b"))  # ids: . = 0, a = 1, b = 2


class TableModel(nn.Module):
    """A "language model" whose next-token probabilities are a table: prefix (the text so far,
    as a string) → probabilities of (end, a, b); a prefix not in the table gets ``default``."""

    def __init__(self, table: dict[str, list[float]], default=(0.2, 0.4, 0.4), block_size: int = 8, vocab=AB):
        super().__init__()
        self.table, self.default, self.vocab = table, default, vocab
        self.config = SimpleNamespace(block_size=block_size, vocab_size=len(vocab))
        self.dummy = nn.Parameter(torch.zeros(()))  # gives the model a device
        self.calls = 0

    def forward(self, idx, targets=None):
        self.calls += 1
        B, T = idx.shape
        logits = torch.empty(B, T, len(self.vocab))
        for b in range(B):
            for t in range(T):
                prefix = self.vocab.decode(idx[b, 1:t + 1], stop_at_end=False)
                logits[b, t] = torch.tensor(self.table.get(prefix, self.default)).log()
        return logits + self.dummy, None


# greedy writes "a" (0.6) and stops (0.4): p("a.") = 0.24; "b." = 0.35 × 0.9 = 0.315 is likelier
GREEDY_TRAP = {"": [0.05, 0.6, 0.35], "a": [0.4, 0.3, 0.3], "b": [0.9, 0.05, 0.05]}


def test_width_one_is_greedy():
    model = TableModel(GREEDY_TRAP)
    assert text.beam_search(model, AB, width=1) == [("a", pytest.approx(math.log(0.6 * 0.4)))]


def test_width_two_finds_the_likelier_name_that_greedy_misses():
    # step 1 keeps a (0.6), b (0.35); step 2's best two extensions, of a. .24, aa .18, ab .18, b. .315,
    # ba .0175, bb .0175, are b. and a.: both finish, the beam is empty
    out = text.beam_search(TableModel(GREEDY_TRAP), AB, width=2)
    assert out == [("b", pytest.approx(math.log(0.35 * 0.9))), ("a", pytest.approx(math.log(0.6 * 0.4)))]


def test_width_three_finds_the_empty_name_and_narrows_the_beam():
    # step 1's three best: a (.6), b (.35) and the empty name "" (.05), which is finished at once and
    # leaves a beam of two; step 2 is then width 2's: b. and a. finish, and "" ends up last
    out = text.beam_search(TableModel(GREEDY_TRAP), AB, width=3)
    assert [name for name, _ in out] == ["b", "a", ""]
    assert out[2][1] == pytest.approx(math.log(0.05))


def test_scores_are_summed_log_probabilities_and_match_log_likelihoods():
    model = TableModel(GREEDY_TRAP)
    out = text.beam_search(model, AB, width=4)
    names = [name for name, _ in out]
    assert torch.allclose(text.log_likelihoods(model, AB, names), torch.tensor([s for _, s in out], dtype=torch.float64),
                          atol=1e-5)
    assert all(a[1] >= b[1] for a, b in zip(out, out[1:]))  # best first
    assert len(set(names)) == len(names) == 4


def test_lengths_are_capped_and_the_capped_text_pays_for_its_end():
    always_a = TableModel({"": [1e-4, 0.98, 0.0199]}, default=(0.01, 0.98, 0.01))  # never wants to stop
    out = text.beam_search(always_a, AB, width=2, max_len=3)
    assert all(len(name) <= 3 for name, _ in out)
    assert out[0] == ("aaa", pytest.approx(math.log(0.98 ** 3 * 0.01)))  # forced end: + log 0.01
    # by default the cap is the context: block_size 8 leaves 7 characters
    assert max(len(name) for name, _ in text.beam_search(always_a, AB, width=2)) == 7
    with pytest.raises(ValueError, match="max_len ≤ 7"):
        text.beam_search(always_a, AB, width=2, max_len=8)
    with pytest.raises(ValueError, match="width .* must be a positive int"):
        text.beam_search(always_a, AB, width=0)


def test_prompt_and_control_tokens():
    model = TableModel(GREEDY_TRAP, default=(0.6, 0.2, 0.2))
    # from "b" on: b. (0.9) finishes; ba (0.05, tied with bb: the smaller token id) goes on alone, and ends
    out = text.beam_search(model, AB, width=2, prompt="b")
    assert out == [("b", pytest.approx(math.log(0.9))),  # the prompt itself is given, not scored
                   ("ba", pytest.approx(math.log(0.05 * 0.6)))]
    with pytest.raises(ValueError, match="end token"):
        text.beam_search(model, AB, prompt="a.")
    # a vocabulary with control tokens: beam search never writes one
    vocab = text.CharVocab(("a", "b"), controls=("x",))  # <x> = 3
    loud = TableModel({}, default=(0.1, 0.1, 0.1, 0.7), vocab=vocab)
    for name, _ in text.beam_search(loud, vocab, width=3, max_len=2):
        assert set(name) <= {"a", "b"}


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=27, block_size=8, n_layer=1, n_head=2, n_embd=16))


def test_on_a_gpt_width_one_equals_greedy_sampling_and_beam_beats_it():
    vocab = text.CharVocab(tuple("abcdefghijklmnopqrstuvwxyz"))
    for seed in range(3):
        model = tiny_gpt(seed)
        greedy = text.sample_texts(model, vocab, 1, temperature=0)[0]
        (name, score), = text.beam_search(model, vocab, width=1)
        assert name == greedy
        best = text.beam_search(model, vocab, width=5)
        assert best[0][1] >= score - 1e-5  # float32 logits of batches of other sizes
        assert torch.allclose(text.log_likelihoods(model, vocab, [n for n, _ in best]),
                              torch.tensor([s for _, s in best], dtype=torch.float64), atol=1e-4)


def test_log_likelihood_per_char_is_minus_evaluate_lm():
    vocab = text.CharVocab(tuple("abcdefghijklmnopqrstuvwxyz"))
    model = tiny_gpt()
    names = ["emma", "bo", "al", "emma", ""]
    per_char = text.log_likelihood_per_char(model, vocab, names)
    assert per_char == pytest.approx(-evaluate_lm(model, text.lm_examples(names, vocab, 8)), abs=1e-5)
    each = text.log_likelihoods(model, vocab, names)
    assert each.shape == (5,) and each[0] == each[3]
    assert per_char == pytest.approx(each.sum().item() / (5 + 3 + 3 + 5 + 1))
    with pytest.raises(ValueError, match="No texts"):
        text.log_likelihood_per_char(model, vocab, [])
    model.train()
    text.log_likelihoods(model, vocab, names)
    assert model.training  # scoring leaves the mode as it was


# --------------------------------------------------------------------------- BPE

SENNRICH = {"low": 5, "lower": 2, "newest": 6, "widest": 3}


def test_pair_counts_are_weighted_and_stay_inside_words():
    words = {tuple(w): f for w, f in SENNRICH.items()}
    counts = text.count_pairs(words)
    # by hand: e s in newest (6) and widest (3); w e in lower (2) and newest (6); l o in low, lower
    assert counts[("e", "s")] == 9 and counts[("s", "t")] == 9 and counts[("w", "e")] == 8
    assert counts[("l", "o")] == 7 and counts[("e", "r")] == 2 and counts[("d", "e")] == 3
    assert ("w", "n") not in counts and ("t", "w") not in counts  # "low" then "newest": no pair across words
    assert sum(counts.values()) == sum(f * (len(w) - 1) for w, f in SENNRICH.items())


def test_one_merge_step_and_its_tie_break():
    words = {tuple(w): f for w, f in SENNRICH.items()}
    pair, merged = text.bpe_merge_step(words)
    assert pair == ("e", "s")  # e s and s t both occur 9 times: the alphabetically first wins
    assert merged == {("l", "o", "w"): 5, ("l", "o", "w", "e", "r"): 2, ("n", "e", "w", "es", "t"): 6,
                      ("w", "i", "d", "es", "t"): 3}
    reordered = dict(reversed(list(words.items())))
    assert text.bpe_merge_step(reordered)[0] == ("e", "s")  # the order of the words does not matter
    assert text.merge_pair({("a", "a", "a"): 1}, ("a", "a")) == {("aa", "a"): 1}  # left to right
    assert text.merge_pair({("a", "b", "a", "b"): 2}, ("a", "b")) == {("ab", "ab"): 2}  # every occurrence
    with pytest.raises(ValueError, match="single symbol"):
        text.bpe_merge_step({("abc",): 3})


def test_train_bpe_on_sennrichs_dictionary_by_hand():
    # 1 e+s (9, tie with s t); 2 es+t (9); 3 l+o (7, tie with o w); 4 lo+w (7); 5 e+w (6, ties with n e
    # and w est); 6 ew+est (6, tie with n ew); 7 n+ewest (6); 8 d+est (3, ties with i d, w i)
    vocab = text.train_bpe(SENNRICH, 8)
    assert vocab.merges == (("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w"), ("e", "w"), ("ew", "est"),
                            ("n", "ewest"), ("d", "est"))
    assert vocab.chars == tuple("deilnorstw") and len(vocab) == 1 + 10 + 8
    assert vocab.tokens[-1] == "dest"
    assert [vocab.tokens[i] for i in vocab.encode("lowest")] == ["low", "est"]  # a word never seen
    assert [vocab.tokens[i] for i in vocab.encode("newest")] == ["newest"]
    assert [vocab.tokens[i] for i in vocab.encode("widest")] == ["w", "i", "dest"]
    # a list counts repeats as the dict's frequencies
    as_list = [w for w, f in SENNRICH.items() for _ in range(f)]
    assert text.train_bpe(as_list, 8) == vocab
    # more merges than there are pairs: training stops when every word is one symbol
    everything = text.train_bpe(SENNRICH, 100)
    assert all(len(everything.encode(w)) == 1 for w in SENNRICH) and len(everything.merges) < 100


def test_bpe_on_the_bundled_first_names_round_trips():
    names = text.load_names("first", "all")
    vocab = text.train_bpe(text.load_names("first", "train"), 200)
    assert len(vocab) == 1 + 26 + 200
    for name in names:
        ids = vocab.encode(name)
        assert vocab.decode(ids) == name
        assert all(0 < i < len(vocab) for i in ids)
    assert sum(len(vocab.encode(n)) for n in names) < 0.6 * sum(len(n) for n in names)
    assert vocab.decode(vocab.encode("anna") + [0] + vocab.encode("bo")) == "anna"  # stops at the end token
    assert text.BPEVocab.from_dict(vocab.as_dict()) == vocab
    # a shorter run is the longer run's first merges
    assert text.train_bpe(text.load_names("first", "train"), 50) == text.BPEVocab(vocab.chars, vocab.merges[:50])


def test_bpe_vocab_works_with_lm_examples_sampling_and_scoring():
    vocab = text.train_bpe(["anna", "hanna", "ann", "bob"], 4)
    x, y = text.lm_examples(["hanna", "bob"], vocab, 8)
    assert vocab.decode(x[0, 1:]) == "hanna" and y[0, len(vocab.encode("hanna"))] == 0
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(vocab), block_size=8, n_layer=1, n_head=2, n_embd=16))
    assert len(text.sample_texts(model, vocab, 3, generator=torch.Generator().manual_seed(0))) == 3
    assert len(text.beam_search(model, vocab, width=2)) == 2
    assert text.log_likelihood_per_char(model, vocab, ["hanna"]) == pytest.approx(
        text.log_likelihoods(model, vocab, ["hanna"]).item() / 6)


def test_bpe_bad_inputs():
    with pytest.raises(ValueError, match="n_merges must be an int ≥ 0"):
        text.train_bpe(["ab"], -1)
    with pytest.raises(ValueError, match="No texts"):
        text.train_bpe([], 3)
    with pytest.raises(ValueError, match="end token"):
        text.train_bpe(["a.b"], 3)
    vocab = text.train_bpe(["ab"], 1)
    with pytest.raises(ValueError, match="outside the vocabulary: 'z'"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match="uses a symbol that no earlier token makes"):
        text.BPEVocab(("a", "b"), (("ab", "a"),))
