"""gankit.text: the bundled name lists, their split, text files, the character vocabulary."""

from __future__ import annotations

import pytest
import torch

from gankit import text
from gankit.data import DatasetError


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("which, n", [("female", 4275), ("male", 1219), ("first", 5163), ("surnames", 88799)])
def test_name_lists_sizes_and_alphabet(which, n):
    names = text.load_names(which, "all")
    assert len(names) == n == len(set(names))
    assert all(name.isalpha() and name.islower() and name.isascii() for name in names)


def test_census_order_and_first_names_union():
    assert text.load_names("female", "all")[:3] == ["mary", "patricia", "linda"]
    assert text.load_names("male", "all")[:2] == ["james", "john"]
    first = set(text.load_names("first", "all"))
    assert first == set(text.load_names("female", "all")) | set(text.load_names("male", "all"))


def test_split_is_fixed_disjoint_and_complete():
    parts = {s: text.load_names("first", s) for s in ("train", "val", "test")}
    assert [len(p) for p in parts.values()] == [4131, 516, 516]  # 80 / 10 / 10
    assert set().union(*map(set, parts.values())) == set(text.load_names("first", "all"))
    assert not set(parts["train"]) & set(parts["test"]) and not set(parts["val"]) & set(parts["test"])
    assert text.load_names("first", "test") == parts["test"]  # the same every time
    assert text.load_names("first", "test", seed=1) != parts["test"]  # another seed, another split


def test_split_items():
    parts = text.split_items(list("abcdefghij"), (0.6, 0.2, 0.2), seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    tiny = text.split_items(["a", "b", "c"], (0.8, 0.1, 0.1))
    assert all(len(v) == 1 for v in tiny.values())  # no part left empty
    with pytest.raises(ValueError, match="adding up to 1"):
        text.split_items(["a"], (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="empty"):
        text.split_items([])


def test_unknown_list_and_split():
    with pytest.raises(DatasetError, match="surnames"):
        text.load_names("pets")
    with pytest.raises(ValueError, match="split"):
        text.load_names("first", "dev")


def test_damaged_name_file_is_caught(tmp_path, monkeypatch):
    for name in ("female.txt", "male.txt", "surnames.txt"):
        (tmp_path / name).write_text("mary\n")
    monkeypatch.setattr(text, "NAMES_DIR", tmp_path)
    with pytest.raises(DatasetError, match="sha256"):
        text.load_names("female")
    monkeypatch.setattr(text, "NAMES_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="missing"):
        text.load_names("female")


# --------------------------------------------------------------------------- text files


def test_text_file_lines(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("  cat\n\ndog  \nbird\n", encoding="utf-8")
    assert text.load_text_file(path) == ["cat", "dog", "bird"]


def test_text_file_chunks(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("abcdefghij", encoding="utf-8")
    assert text.load_text_file(path, chunk_length=4) == ["abcd", "efgh"]  # the short rest is dropped


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_text_file_is_an_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match="nothing to train on"):
        text.load_text_file(path)


def test_text_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No text file"):
        text.load_text_file(tmp_path / "missing.txt")
    short = tmp_path / "short.txt"
    short.write_text("abc", encoding="utf-8")
    with pytest.raises(DatasetError, match="fewer than 5"):
        text.load_text_file(short, chunk_length=5)
    with pytest.raises(ValueError, match="chunk_length"):
        text.load_text_file(short, chunk_length=0)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="encoding"):
        text.load_text_file(latin)


# --------------------------------------------------------------------------- vocabulary, examples


def test_vocab_round_trip():
    vocab = text.CharVocab.from_texts(["emma", "bob"])
    assert vocab.tokens == (".", "a", "b", "e", "m", "o")
    assert len(vocab) == 6 and vocab.end_id == 0
    ids = vocab.encode("emma")
    assert ids == [3, 4, 4, 1]
    assert vocab.decode(ids + [0, 2]) == "emma"  # stops at the end token
    assert vocab.decode(torch.tensor(ids + [0, 2]), stop_at_end=False) == "emma.b"


def test_vocab_errors():
    vocab = text.CharVocab.from_texts(["emma"])
    with pytest.raises(ValueError, match="outside the vocabulary: 'xz'"):
        vocab.encode("xez")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([7])
    with pytest.raises(ValueError, match="end token"):
        text.CharVocab.from_texts(["a.b"])
    with pytest.raises(ValueError, match="empty"):
        text.CharVocab.from_texts(["", ""])
    no_end = text.CharVocab.from_texts(["a.b"], end=None)
    assert no_end.tokens == (".", "a", "b") and no_end.decode([0, 1]) == ".a"
    with pytest.raises(ValueError, match="no end token"):
        no_end.end_id


def test_names_vocab_has_27_tokens():
    vocab = text.CharVocab.from_texts(text.load_names("first", "all"))
    assert len(vocab) == 27 and vocab.chars == tuple("abcdefghijklmnopqrstuvwxyz")


def test_lm_examples():
    vocab = text.CharVocab.from_texts(["emma", "bo"])
    x, y = text.lm_examples(["emma", "bo"], vocab, block_size=6)
    e, m, a, b, o = (vocab.encode(c)[0] for c in "emabo")
    assert x.tolist() == [[0, e, m, m, a, 0], [0, b, o, 0, 0, 0]]
    assert y.tolist() == [[e, m, m, a, 0, -1], [b, o, 0, -1, -1, -1]]
    assert x.dtype == y.dtype == torch.long


def test_lm_examples_errors():
    vocab = text.CharVocab.from_texts(["emma"])
    with pytest.raises(ValueError, match="block_size ≥ 5"):
        text.lm_examples(["emma"], vocab, block_size=4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        text.lm_examples(["zoe"], vocab, block_size=8)
    with pytest.raises(ValueError, match="end token"):
        text.lm_examples(["emma"], text.CharVocab.from_texts(["emma"], end=None), block_size=8)


def test_control_tokens_come_after_the_characters():
    vocab = text.CharVocab.from_texts(["emma", "bob"], controls=("female", "male"))
    plain = text.CharVocab.from_texts(["emma", "bob"])
    assert vocab.tokens == plain.tokens + ("<female>", "<male>")  # the characters keep their ids
    assert (vocab.control_id("female"), vocab.control_id("male")) == (6, 7) and len(vocab) == 8
    assert vocab.encode("emma") == plain.encode("emma")
    assert vocab.decode([3, 4, 7, 1]) == "em"  # a control token ends a text, like the end token
    assert vocab.decode([3, 7], stop_at_end=False) == "e<male>"
    assert text.CharVocab.from_dict(vocab.as_dict()) == vocab
    assert text.CharVocab.from_dict(plain.as_dict()) == plain


def test_control_token_errors():
    vocab = text.CharVocab.from_texts(["emma"], controls=("female",))
    with pytest.raises(ValueError, match="No control token 'male'.*'female'"):
        vocab.control_id("male")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.encode("<female>")  # a control is never read from text
    with pytest.raises(ValueError, match="listed twice"):
        text.CharVocab(("a",), controls=("x", "x"))
    with pytest.raises(ValueError, match="tuple of non-empty labels"):
        text.CharVocab(("a",), controls="female")
    with pytest.raises(ValueError, match="need end"):
        text.CharVocab(("a",), end=None, controls=("x",))


def test_lm_examples_with_a_control_token():
    vocab = text.CharVocab.from_texts(["emma", "bo"], controls=("female", "male"))
    x, y = text.lm_examples(["emma", "bo", "bo"], vocab, block_size=6, controls=["female", None, "male"])
    e, m, a, b, o = (vocab.encode(c)[0] for c in "emabo")
    f, ml = vocab.control_id("female"), vocab.control_id("male")
    assert x.tolist() == [[f, e, m, m, a, 0], [0, b, o, 0, 0, 0], [ml, b, o, 0, 0, 0]]
    assert y.tolist() == [[e, m, m, a, 0, -1], [b, o, 0, -1, -1, -1], [b, o, 0, -1, -1, -1]]  # targets unchanged
    with pytest.raises(ValueError, match="one label .* per item"):
        text.lm_examples(["emma"], vocab, 6, controls=["female", "male"])
    with pytest.raises(ValueError, match="No control token 'other'"):
        text.lm_examples(["emma"], vocab, 6, controls=["other"])


def test_labelled_names_are_the_first_names_with_their_lists():
    female, male = set(text.load_names("female", "all")), set(text.load_names("male", "all"))
    for split in ("train", "test"):
        pairs = text.labelled_names(split)
        assert {name for name, _ in pairs} == set(text.load_names("first", split))
        assert all((name in female) if label == "female" else (label == "male" and name in male) for name, label in pairs)
        both = [name for name, label in pairs if label == "male" and name in female]
        assert len(pairs) == len(text.load_names("first", split)) + len(both)  # a name on both lists comes twice
    assert len(text.labelled_names("all")) == 4275 + 1219


# --------------------------------------------------------------------------- sampling


def _tiny_names_model(vocab, block_size=8):
    from gankit.models import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(vocab), block_size=block_size, n_layer=1, n_head=2, n_embd=16))


def test_sample_texts_learns_and_samples_names():
    from gankit.train import LMTrainConfig, train_lm

    names = ["anna", "bob", "otto", "eve"]
    vocab = text.CharVocab.from_texts(names)
    model = _tiny_names_model(vocab)
    train_lm(model, text.lm_examples(names * 16, vocab, 8),
             LMTrainConfig(steps=300, batch_size=32, lr=1e-2, warmup_steps=10, eval_every=0, progress=False, seed=0))
    samples = text.sample_texts(model, vocab, 20, generator=torch.Generator().manual_seed(0))
    assert len(samples) == 20 and sum(s in names for s in samples) >= 16  # it learned the four names
    assert text.sample_texts(model, vocab, 3, prompt="ot", temperature=0) == ["otto"] * 3  # greedy: the same
    a = text.sample_texts(model, vocab, 5, top_p=0.9, generator=torch.Generator().manual_seed(1))
    b = text.sample_texts(model, vocab, 5, top_p=0.9, generator=torch.Generator().manual_seed(1))
    assert a == b  # seeded


def test_sample_texts_follows_the_control_token():
    from gankit.train import LMTrainConfig, train_lm

    vocab = text.CharVocab.from_texts(["anna", "bob"], controls=("a", "b"))
    model = _tiny_names_model(vocab)
    data = text.lm_examples(["anna", "bob"] * 32, vocab, 8, controls=["a", "b"] * 32)
    train_lm(model, data, LMTrainConfig(steps=200, batch_size=32, lr=1e-2, warmup_steps=10, eval_every=0,
                                        progress=False, seed=0))
    assert text.sample_texts(model, vocab, 2, control="a", temperature=0) == ["anna"] * 2
    assert text.sample_texts(model, vocab, 2, control="b", temperature=0) == ["bob"] * 2
    with pytest.raises(ValueError, match="No control token 'c'"):
        text.sample_texts(model, vocab, 2, control="c")


def test_checkpoint_round_trip_samples_the_same_names(tmp_path):
    from gankit.models import GPT
    from gankit.models import load_checkpoint, save_checkpoint

    vocab = text.CharVocab.from_texts(text.load_names("first", "all"), controls=("female", "male"))
    model = _tiny_names_model(vocab, block_size=16)
    save_checkpoint(tmp_path / "names.pt", model, vocab=vocab.as_dict())
    loaded = load_checkpoint(tmp_path / "names.pt", expected=GPT)
    loaded_vocab = text.CharVocab.from_dict(loaded.checkpoint_metadata["vocab"])
    assert loaded_vocab == vocab
    for kw in (dict(), dict(top_k=5, control="male"), dict(top_p=0.8, temperature=0.7, prompt="ma")):
        a = text.sample_texts(model, vocab, 20, generator=torch.Generator().manual_seed(7), **kw)
        b = text.sample_texts(loaded, loaded_vocab, 20, generator=torch.Generator().manual_seed(7), **kw)
        assert a == b


def test_sample_texts_bad_prompts():
    vocab = text.CharVocab.from_texts(["anna"])
    model = _tiny_names_model(vocab)
    with pytest.raises(ValueError, match="outside the vocabulary: 'z'"):
        text.sample_texts(model, vocab, 2, prompt="zan")
    with pytest.raises(ValueError, match="at most 6 characters"):
        text.sample_texts(model, vocab, 2, prompt="nananan")
    with pytest.raises(ValueError, match="top_p"):
        text.sample_texts(model, vocab, 2, top_p=1.5)
    with pytest.raises(ValueError, match="positive int"):
        text.sample_texts(model, vocab, 0)


def test_sampling_panel_redraws_with_the_settings():
    from gankit import widgets

    calls = []

    def fake_sample(n, temperature, top_k, top_p, generator):
        calls.append((n, temperature, top_k, top_p))
        return [f"name{len(calls)}"] * n

    box = widgets.sampling_panel(fake_sample, n=3)
    assert calls[-1] == (3, 1.0, None, None) and "name1" in box.samples.value  # no cut by default
    box.top_k.value = 5
    assert calls[-1] == (3, 1.0, 5, None) and "name2" in box.samples.value
    box.top_p.value = 0.5
    box.temperature.value = 0.0
    assert calls[-1] == (3, 0.0, 5, 0.5)
    box.button.click()
    assert len(calls) == 5


def test_sampling_panel_passes_the_chosen_condition():
    from gankit import widgets

    calls = []

    def fake_sample(n, temperature, top_k, top_p, generator, control=None):
        calls.append(control)
        return [f"name{len(calls)}"] * n

    box = widgets.sampling_panel(fake_sample, n=2, controls=("female", "male"))
    assert calls == [None]  # no condition by default: the start token "."
    box.control.value = "male"
    assert calls[-1] == "male" and "name2" in box.samples.value
    plain = widgets.sampling_panel(lambda n, **kw: ["x"] * n if "control" not in kw else 1 / 0, n=2)
    assert "x" in plain.samples.value  # without controls, no control= is passed


def test_sample_texts_refuses_an_end_token_in_the_prompt():
    vocab = text.CharVocab.from_texts(["anna", "bob"])
    model = _tiny_names_model(vocab)
    for prompt in (".", "an.", ".bo"):
        with pytest.raises(ValueError, match=r"holds the end token '\.'"):
            text.sample_texts(model, vocab, 2, prompt=prompt)
