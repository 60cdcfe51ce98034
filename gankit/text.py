"""Text data for the language-model lessons, all of which loads offline.

Names (bundled in ``data/names/``, public-domain 1990 US Census lists as shipped in the
PyPI package ``names`` 0.3.0; provenance and checksums in data/README.md):

* ``female``   — 4,275 female first names;
* ``male``     — 1,219 male first names;
* ``first``    — both lists together, each name once (5,163 names: 331 are on both lists);
* ``surnames`` — 88,799 surnames.

``load_names(which, split)`` returns one of them as lower-case strings, split into
train / val / test (80 / 10 / 10 by default) with a fixed seed, so every lesson and every
student measures on the same test names.

Any text file works too: ``load_text_file(path)`` reads one item per line (through
:func:`gankit.data.load_text_lines`), or, with ``chunk_length=N``, cuts a running text into
pieces of N characters.

``CharVocab`` turns strings into token ids and back — one token per character, plus an
*end* token (shown as ".") that marks where a name stops, plus optional *control* tokens
(shown as "<female>", "<male>", ...) that say what kind of text to write — ``lm_examples``
makes the (input, target) pairs a character-level model is trained on, and ``sample_texts``
asks a trained model for new ones, optionally steered by a control token.

``labelled_names`` gives the first names with the census list each comes from, for
conditional generation (lesson 09).

Decoding and tokens beyond characters (lesson 09): ``log_likelihoods`` scores each text under
a model, ``beam_search`` finds the likeliest texts instead of sampling them, and
``train_bpe`` learns a byte-pair encoding (``BPEVocab``, Sennrich et al., 2016) whose tokens
are pieces of names rather than single characters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch

from gankit.data import DATA_DIR, DatasetError, load_text_lines, sha256_of
from gankit.utils import check_positive_int

__all__ = [
    "NAMES_DIR",
    "NAME_LISTS",
    "load_names",
    "load_text_file",
    "labelled_names",
    "split_items",
    "CharVocab",
    "lm_examples",
    "IGNORE_INDEX",
    "sample_texts",
    "log_likelihoods",
    "log_likelihood_per_char",
    "beam_search",
    "count_pairs",
    "merge_pair",
    "bpe_merge_step",
    "BPEVocab",
    "train_bpe",
]

NAMES_DIR = DATA_DIR / "names"
# list name → (file, sha256); the files are written by scripts/make_names.py
_NAME_FILES = {
    "female": ("female.txt", "9067937d9acdafb6c92683ce343dff785db5224b40df05723964adb3d41055ae"),
    "male": ("male.txt", "cc68490c2ef895961f568833130f90f43a41f0a4fffb1990d84bbadd0b405c63"),
    "surnames": ("surnames.txt", "4ec7babc98a4ed0347b97fe26d7df34520c577c4e587abf8924e8ddd6939a01d"),
}
NAME_LISTS = {
    "female": "4,275 female first names (US Census 1990)",
    "male": "1,219 male first names (US Census 1990)",
    "first": "female and male first names together, each once (5,163)",
    "surnames": "88,799 surnames (US Census 1990)",
}
SPLITS = ("train", "val", "test", "all")
IGNORE_INDEX = -1  # a target that the loss skips (padding after a name ends)


# --------------------------------------------------------------------------- loading


def _read_name_file(which: str) -> list[str]:
    filename, expected_sha = _NAME_FILES[which]
    path = NAMES_DIR / filename
    if not path.exists():
        raise DatasetError(
            f"The bundled name list {path} is missing. It is part of the repository; restore it "
            f"with `git checkout -- data/names`, or rebuild it with scripts/make_names.py "
            f"(see data/README.md)."
        )
    if sha256_of(path) != expected_sha:
        raise DatasetError(
            f"{path} does not match its recorded sha256 (the file is damaged or was edited). "
            f"Restore it with `git checkout -- data/names`, or rebuild it with scripts/make_names.py."
        )
    return path.read_text(encoding="ascii").split()


def split_items(
    items: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[str]]:
    """Shuffle ``items`` with ``seed`` and cut them into {"train", "val", "test"} by ``fractions``.

    The same items, fractions and seed always give the same split. Each part keeps at least
    one item when there are at least three items.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test) adding up to 1, got {fractions}.")
    if len(items) == 0:
        raise ValueError("Nothing to split: the list of items is empty.")
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    n = len(shuffled)
    n_val, n_test = round(fractions[1] * n), round(fractions[2] * n)
    if n >= 3:  # keep every asked-for part non-empty
        n_val, n_test = max(n_val, fractions[1] > 0), max(n_test, fractions[2] > 0)
    n_train = n - n_val - n_test
    return {
        "train": shuffled[:n_train],
        "val": shuffled[n_train:n_train + n_val],
        "test": shuffled[n_train + n_val:],
    }


def load_names(
    which: str = "first",
    split: str = "train",
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    exclude: Iterable[str] = (),
) -> list[str]:
    """Names from the bundled census lists, lower case: one of ``NAME_LISTS`` and one of
    "train", "val", "test" or "all" (the whole list, in census order: most frequent first).

    The split is a shuffle with ``seed`` cut by ``fractions``; the default is what the
    lessons use and report their test losses on. Names in ``exclude`` are left out after
    the split (so the rest keep their part): lesson 10 pretrains on the surnames minus
    every first name, so that fine-tuning is not helped by names it is tested on.
    """
    if which not in NAME_LISTS:
        known = "\n".join(f"  {k:<9} {v}" for k, v in NAME_LISTS.items())
        raise DatasetError(f"No name list called {which!r}. The lists are:\n{known}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if which == "first":
        names = list(dict.fromkeys(_read_name_file("female") + _read_name_file("male")))  # each once, in order
    else:
        names = _read_name_file(which)
    if split != "all":
        names = split_items(names, fractions, seed)[split]
    exclude = set(exclude)
    return [name for name in names if name not in exclude] if exclude else names


def labelled_names(split: str = "train", seed: int = 0,
                   fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> list[tuple[str, str]]:
    """(name, list) pairs of the first names in ``split``, list being "female" or "male".

    The names are exactly ``load_names("first", split, seed, fractions)``, so a conditional
    model is measured on the same test names as an unconditional one. A name on both census
    lists (331 of them, such as "jean" or "ashley") comes twice, once with each label.
    """
    female, male = set(_read_name_file("female")), set(_read_name_file("male"))
    pairs = []
    for name in load_names("first", split, seed, fractions):
        pairs += [(name, label) for label, names in (("female", female), ("male", male)) if name in names]
    return pairs


def load_text_file(
    path: str | Path, chunk_length: int | None = None, encoding: str = "utf-8"
) -> list[str]:
    """The items of a text file an instructor points at.

    By default one item per non-empty line, for lists such as names, words or short
    phrases (this is :func:`gankit.data.load_text_lines`). With ``chunk_length=N``, the
    whole text is cut into consecutive pieces of N characters (the last, shorter piece is
    dropped), for a running text such as a book. An empty file is an error rather than an
    empty data set.
    """
    if chunk_length is None:
        return load_text_lines(path, encoding=encoding)
    check_positive_int(chunk_length, "chunk_length")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No text file at {path}. Check the path (a relative path starts in the notebook's folder).")
    try:
        text = path.read_text(encoding=encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not {encoding} text ({exc}); save it as UTF-8 or pass encoding=...") from None
    items = [text[i:i + chunk_length] for i in range(0, len(text) - chunk_length + 1, chunk_length)]
    if not items:
        raise DatasetError(f"{path} has fewer than {chunk_length} characters: there is nothing to train on.")
    return items


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class CharVocab:
    """One token per character, plus (unless ``end`` is None) an end token with id 0, plus
    one token per label in ``controls``.

    ``chars`` are the characters in id order; the end token is shown as ``end`` (".") when
    decoding. A character model writes a name one token at a time and stops by writing
    the end token; starting from the end token means "a new name begins".

    A control token (shown as ``<label>``, with the ids after the characters) takes the end
    token's place at the start: "a new name begins, and it is a <female> one". A model
    trained on both kinds of start can write names of any kind or of the kind asked for
    (conditional generation). Control tokens never occur inside a text.
    """

    chars: tuple[str, ...]
    end: str | None = "."
    controls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("CharVocab: a character is listed twice.")
        if self.end is not None and self.end in self.chars:
            raise ValueError(
                f"The end token {self.end!r} also occurs in the text; choose another end "
                f"character, e.g. CharVocab.from_texts(texts, end='|'), or end=None for running text."
            )
        if isinstance(self.controls, str) or not all(isinstance(c, str) and c for c in self.controls):
            raise ValueError(f"controls must be a tuple of non-empty labels such as ('female', 'male'), got {self.controls!r}.")
        if len(set(self.controls)) != len(self.controls):
            raise ValueError(f"CharVocab: a control label is listed twice in {self.controls!r}.")
        if self.controls and self.end is None:
            raise ValueError("Control tokens replace the end token at the start of a text, so they need end='.' (not None).")

    @classmethod
    def from_texts(cls, texts: Iterable[str], end: str | None = ".", controls: Sequence[str] = ()) -> "CharVocab":
        """The vocabulary of every character in ``texts`` (sorted), plus the end token and the
        control tokens for the labels in ``controls``."""
        chars = sorted(set("".join(texts)))
        if not chars:
            raise ValueError("Cannot build a vocabulary from no text: the texts are empty.")
        return cls(tuple(chars), end, tuple(controls))

    def as_dict(self) -> dict:
        """Plain data that rebuilds this vocabulary with ``CharVocab.from_dict`` (for checkpoints)."""
        return {"chars": "".join(self.chars) if all(len(c) == 1 for c in self.chars) else list(self.chars),
                "end": self.end, "controls": list(self.controls)}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        """The vocabulary that :meth:`as_dict` described."""
        return cls(tuple(d["chars"]), d.get("end", "."), tuple(d.get("controls", ())))

    @property
    def tokens(self) -> tuple[str, ...]:
        """What each id stands for: the end token first (if any), the characters, then the controls."""
        return ((self.end,) if self.end is not None else ()) + self.chars + tuple(f"<{c}>" for c in self.controls)

    @property
    def end_id(self) -> int:
        if self.end is None:
            raise ValueError("This vocabulary has no end token (it was built with end=None).")
        return 0

    def control_id(self, label: str) -> int:
        """The id of the control token for ``label`` (one of ``controls``)."""
        if label not in self.controls:
            known = ", ".join(repr(c) for c in self.controls) or "none (build it with controls=(...))"
            raise ValueError(f"No control token {label!r} in this vocabulary; its control labels are: {known}.")
        return len(self) - len(self.controls) + self.controls.index(label)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; characters outside the vocabulary are an error."""
        index = self._index
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(
                f"{text!r} contains characters outside the vocabulary: {''.join(unknown)!r}. "
                f"The model knows only {''.join(self.chars)!r}"
                + (f" (plus the end token {self.end!r})." if self.end is not None else ".")
            )
        return [index[c] for c in text]

    def decode(self, ids: Iterable[int] | torch.Tensor, stop_at_end: bool = True) -> str:
        """The text of token ids; by default it stops at the first end token (or control
        token: a model that writes one has started another text)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        first_control = len(self) - len(self.controls)
        out = []
        for i in ids:
            if not 0 <= i < len(self):
                raise ValueError(f"Token id {i} is outside the vocabulary (0 to {len(self) - 1}).")
            if stop_at_end and self.end is not None and (i == 0 or i >= first_control):
                break
            out.append(self.tokens[i])
        return "".join(out)

    @property
    def _index(self) -> dict[str, int]:
        # characters (and the end token) only: a control label is never read from text
        return {c: i for i, c in enumerate(self.tokens[: len(self) - len(self.controls)])}


def lm_examples(
    items: Sequence[str], vocab: CharVocab, block_size: int, controls: Sequence[str | None] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs (inputs, targets) for a character model, each (N, block_size) long.

    For the name "emma" with block_size 8 (. is the end token, _ a target the loss skips):

        input   . e m m a . . .
        target  e m m a . _ _ _

    At every position the target is the next character, so one pass trains all the
    predictions p(e | .), p(m | .e), ..., p(. | .emma) at once. Names longer than
    ``block_size - 1`` characters are an error, not silently cut.

    ``controls`` (one label or None per item) puts that label's control token where the
    start token was, so the model learns p(e | <female>), p(m | <female>e), ...:

        input   <female> e m m a . . .
        target         e m m a . _ _ _
    """
    if vocab.end is None:
        raise ValueError("lm_examples needs a vocabulary with an end token (CharVocab(..., end='.')).")
    if not items:
        raise ValueError("No items to make examples from.")
    longest = max(items, key=len)
    if len(longest) + 1 > block_size:
        raise ValueError(
            f"{longest!r} has {len(longest)} characters, which with the end token needs "
            f"block_size ≥ {len(longest) + 1}; got block_size={block_size}."
        )
    if controls is not None and len(controls) != len(items):
        raise ValueError(f"controls must give one label (or None) per item: {len(controls)} labels for {len(items)} items.")
    x = torch.full((len(items), block_size), vocab.end_id, dtype=torch.long)
    y = torch.full((len(items), block_size), IGNORE_INDEX, dtype=torch.long)
    for row, item in enumerate(items):
        ids = vocab.encode(item)
        n = len(ids)
        if controls is not None and controls[row] is not None:
            x[row, 0] = vocab.control_id(controls[row])  # <female> instead of the start token
        x[row, 1:n + 1] = torch.tensor(ids, dtype=torch.long)  # . e m m a
        y[row, :n] = torch.tensor(ids, dtype=torch.long)  # e m m a
        y[row, n] = vocab.end_id  # then the end token
    return x, y


# --------------------------------------------------------------------------- sampling


def sample_texts(
    model: torch.nn.Module,
    vocab: CharVocab,
    n: int,
    prompt: str = "",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    control: str | None = None,
) -> list[str]:
    """``n`` new texts (names) from a character model, each begun with ``prompt``.

    Every text starts from the end token ("a new name begins") followed by the prompt's
    characters; the model then writes until it produces the end token or fills its
    context. Sampling settings as in :meth:`gankit.models.GPT.generate` (``temperature=0``
    is greedy, so all n texts are the same). A prompt with characters the model never saw,
    or longer than its context, is an error that says so.

    ``control`` (a label of ``vocab.controls``) starts every text from that control token
    instead of the end token: "write a <female> name".
    """
    check_positive_int(n, "n (the number of texts)")
    block_size = model.config.block_size
    first = vocab.end_id if control is None else vocab.control_id(control)
    if vocab.end is not None and vocab.end in prompt:
        raise ValueError(
            f"The prompt {prompt!r} holds the end token {vocab.end!r}, which ends a text: it would be copied into "
            f"every text, and nothing may follow it. Every text already begins right after an end token, so give "
            f"only the text's first characters ({prompt.replace(vocab.end, '')!r}), or '' for any text.")
    start = [first] + vocab.encode(prompt)  # raises for unknown characters
    if len(start) >= block_size:
        raise ValueError(
            f"The prompt {prompt!r} has {len(prompt)} characters; with the start token that leaves no "
            f"room in the model's context of {block_size} tokens. Use at most {block_size - 2} characters."
        )
    idx = torch.tensor([start] * n, dtype=torch.long)  # (n, len(start))
    out = model.generate(idx, block_size - len(start), temperature=temperature, top_k=top_k, top_p=top_p,
                         generator=generator)  # (n, block_size)
    return [prompt + vocab.decode(row[len(start):]) for row in out.cpu()]


# --------------------------------------------------------------------------- scoring and beam search


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def log_likelihoods(
    model: torch.nn.Module, vocab: CharVocab, texts: Sequence[str], control: str | None = None,
    batch_size: int = 512,
) -> torch.Tensor:
    """log p(text, then the end token | start) under ``model``, in nats, for each of ``texts``: (N,).

    The sum over the text's tokens of log p(token | the tokens before it), plus log p(end | text):
    the probability that the model writes exactly this text and stops. ``control`` starts
    every text from that control token instead of the end token. The mean of these per token,
    over a list, is minus what :func:`gankit.train.evaluate_lm` measures on
    ``lm_examples(texts, vocab, block_size)``; per text, they let beam search's scores and
    sampled names be compared one by one. Works with any vocabulary that :func:`lm_examples`
    takes (a :class:`CharVocab` or a :class:`BPEVocab`).
    """
    texts = list(texts)
    x, y = lm_examples(texts, vocab, model.config.block_size,
                       controls=None if control is None else [control] * len(texts))
    device = _model_device(model)
    out = []
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(texts), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            logits, _ = model(xb)  # (B, T, V)
            logp = logits.float().log_softmax(dim=-1)  # (B, T, V)
            real = yb != IGNORE_INDEX  # (B, T): the text's tokens and its end token
            picked = logp.gather(-1, yb.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T): log p(target)
            out.append((picked * real).sum(dim=1).double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def log_likelihood_per_char(
    model: torch.nn.Module, vocab: CharVocab, texts: Sequence[str], control: str | None = None
) -> float:
    """Mean log-likelihood per character of ``texts`` under ``model``, in nats (≤ 0; higher is
    likelier): the summed :func:`log_likelihoods` divided by the number of characters, each
    text's end counted as one character — the "nats per character" the lessons report, with
    the sign of a likelihood. Per *character*, not per token, so that a BPE model and a
    character model are comparable. Duplicates count as often as they occur."""
    texts = list(texts)
    if not texts:
        raise ValueError("No texts to score.")
    total = log_likelihoods(model, vocab, texts, control).sum().item()
    return total / sum(len(t) + 1 for t in texts)


@torch.no_grad()
def beam_search(
    model: torch.nn.Module,
    vocab: CharVocab,
    width: int = 5,
    max_len: int | None = None,
    prompt: str = "",
    control: str | None = None,
) -> list[tuple[str, float]]:
    """The ``width`` likeliest texts (names) that beam search finds, each with its total
    log-probability log p(text, end | start) in nats, best first.

    Beam search keeps the ``width`` best partial texts instead of one (greedy) or a random
    one (sampling). Every step extends each kept text by every token, scores each extension
    by its summed log-probability (a product of probabilities, kept in logs so that it does
    not underflow), and keeps the ``width`` best extensions of them all. An extension that
    ends with the end token is finished: it leaves the beam, and the beam is one narrower
    from then on (Jurafsky & Martin, *Speech and Language Processing*, 3rd ed., §10.5), so
    the search stops with ``width`` finished texts. Texts of different lengths are compared
    by their total log-probability, as the model's p(text) says; longer texts pay for every
    extra token, so beam search leans towards short ones (nothing here normalises by length).

    ``max_len``: the most tokens a text may have (the prompt's included); at that length the
    only continuation allowed is the end token, so every returned score is the probability
    of the text as a finished one. By default, and at most, ``block_size - 1``, as long as
    :func:`sample_texts` lets a text grow. Control tokens are never written. ``width=1`` is
    greedy decoding. Ties are broken towards the earlier beam and the smaller token id.
    """
    check_positive_int(width, "width (the number of texts the beam keeps)")
    block_size = model.config.block_size
    if max_len is None:
        max_len = block_size - 1
    check_positive_int(max_len, "max_len")
    if max_len > block_size - 1:
        raise ValueError(f"max_len={max_len} does not fit the model's context of {block_size} tokens: the start "
                         f"token and the text must fit, so use max_len ≤ {block_size - 1}.")
    if vocab.end is not None and vocab.end in prompt:
        raise ValueError(f"The prompt {prompt!r} holds the end token {vocab.end!r}; give only the text's first characters.")
    first = vocab.end_id if control is None else vocab.control_id(control)
    prompt_ids = vocab.encode(prompt)
    if len(prompt_ids) > max_len:
        raise ValueError(f"The prompt {prompt!r} has {len(prompt_ids)} tokens, more than max_len={max_len}.")
    start = [first] + prompt_ids
    end, V = vocab.end_id, len(vocab)
    never = torch.zeros(V, dtype=torch.bool)
    never[V - len(vocab.controls):] = True  # control tokens only ever start a text
    device = _model_device(model)
    live = [(start, 0.0)]  # (token ids, log p so far)
    finished: list[tuple[list[int], float]] = []
    k = width
    was_training = model.training
    model.eval()
    try:
        while live:
            idx = torch.tensor([ids for ids, _ in live], dtype=torch.long, device=device)  # (B, T)
            logits, _ = model(idx)
            logp = logits[:, -1, :].double().log_softmax(dim=-1).cpu()  # (B, V): log p(next | beam b)
            logp[:, never] = float("-inf")
            if len(live[0][0]) - 1 == max_len:  # full length: the text must end here
                logp[:, torch.arange(V) != end] = float("-inf")
            scores = torch.tensor([s for _, s in live], dtype=torch.float64)[:, None] + logp  # (B, V): log p(beam + token)
            flat = scores.flatten()
            order = flat.argsort(descending=True, stable=True)[:k]
            extended = []
            for j in order.tolist():
                if flat[j] == float("-inf"):
                    break
                b, token = divmod(j, V)
                ids = live[b][0] + [token]
                if token == end:
                    finished.append((ids, flat[j].item()))
                    k -= 1  # a finished text leaves the beam, which narrows by one
                else:
                    extended.append((ids, flat[j].item()))
            live = extended
    finally:
        model.train(was_training)
    finished.sort(key=lambda item: -item[1])  # stable: equal scores keep the order they finished in
    return [(prompt + vocab.decode(ids[len(start):]), score) for ids, score in finished]


# --------------------------------------------------------------------------- byte-pair encoding


def count_pairs(words: dict[tuple[str, ...], int]) -> dict[tuple[str, str], int]:
    """How often each pair of adjacent symbols occurs in ``words`` (each word a tuple of symbols,
    with its frequency): a pair in a word that occurs f times counts f times, and a pair is
    only ever two symbols of the same word, never the end of one word and the start of the next."""
    counts: dict[tuple[str, str], int] = {}
    for word, freq in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + freq
    return counts


def merge_pair(words: dict[tuple[str, ...], int], pair: tuple[str, str]) -> dict[tuple[str, ...], int]:
    """``words`` with every occurrence of ``pair`` made one symbol, read left to right ("a a a"
    with the pair (a, a) becomes "aa a")."""
    merged: dict[tuple[str, ...], int] = {}
    for word, freq in words.items():
        new = _merge_symbols(list(word), pair)
        merged[new] = merged.get(new, 0) + freq
    return merged


def _merge_symbols(symbols: list[str], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def bpe_merge_step(words: dict[tuple[str, ...], int]) -> tuple[tuple[str, str], dict[tuple[str, ...], int]]:
    """One step of BPE training (Sennrich et al., 2016, Algorithm 1): the most frequent pair of
    adjacent symbols in ``words`` and the words with that pair merged into one symbol.

    Ties are broken by the pairs' alphabetical order, (left, right): of equally frequent
    pairs the smallest is merged, whatever order the words come in.
    """
    counts = count_pairs(words)
    if not counts:
        raise ValueError("Nothing to merge: every word is a single symbol.")
    best = max(counts.values())
    pair = min(p for p, c in counts.items() if c == best)
    return pair, merge_pair(words, pair)


@dataclass(frozen=True)
class BPEVocab:
    """A byte-pair-encoding vocabulary (Sennrich et al., "Neural Machine Translation of Rare Words
    with Subword Units", ACL 2016) for names: the end token (id 0), one token per character,
    then one token per merge, in the order learned (:func:`train_bpe`).

    It answers like a :class:`CharVocab` (``encode``, ``decode``, ``end_id``, ``tokens``,
    ``len``), so :func:`lm_examples`, :func:`sample_texts`, :func:`beam_search` and
    :func:`log_likelihoods` take it as they are. Unlike Sennrich et al.'s running text, each
    name is its own sequence, ended by the model's end token, so there is no end-of-word
    symbol inside the tokens. Characters come in (letters always stay encodable); a name is
    encoded by applying the merges to its characters, the earliest-learned available pair
    first, as subword-nmt does.
    """

    chars: tuple[str, ...]
    merges: tuple[tuple[str, str], ...] = ()
    end: str = "."
    controls: tuple[str, ...] = ()  # none: kept so that code written for CharVocab can ask

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars) or self.end in self.chars:
            raise ValueError("BPEVocab: the characters must be distinct and must not include the end token.")
        if self.controls:
            raise ValueError("BPEVocab has no control tokens.")
        known = set(self.chars)
        for a, b in self.merges:  # each merge joins symbols that exist by then
            if a not in known or b not in known:
                raise ValueError(f"BPEVocab: the merge ({a!r}, {b!r}) uses a symbol that no earlier token makes.")
            known.add(a + b)

    @property
    def tokens(self) -> tuple[str, ...]:
        """What each id stands for: the end token, the characters, then each merge's new symbol."""
        return (self.end,) + self.chars + tuple(a + b for a, b in self.merges)

    @property
    def end_id(self) -> int:
        return 0

    def __len__(self) -> int:
        return 1 + len(self.chars) + len(self.merges)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: its characters, merged as the merges say."""
        index = self._index
        unknown = sorted({c for c in text if c not in self.chars})
        if unknown:
            raise ValueError(f"{text!r} contains characters outside the vocabulary: {''.join(unknown)!r}. "
                             f"The vocabulary knows only {''.join(self.chars)!r}.")
        symbols = list(text)
        ranks = self._ranks
        while len(symbols) > 1:
            pairs = [p for p in zip(symbols, symbols[1:]) if p in ranks]
            if not pairs:
                break
            symbols = list(_merge_symbols(symbols, min(pairs, key=ranks.__getitem__)))
        return [index[s] for s in symbols]

    def decode(self, ids: Iterable[int] | torch.Tensor, stop_at_end: bool = True) -> str:
        """The text of token ids; by default it stops at the first end token."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        tokens, out = self.tokens, []
        for i in ids:
            if not 0 <= i < len(tokens):
                raise ValueError(f"Token id {i} is outside the vocabulary (0 to {len(tokens) - 1}).")
            if i == 0 and stop_at_end:
                break
            out.append(tokens[i])
        return "".join(out)

    def as_dict(self) -> dict:
        """Plain data that rebuilds this vocabulary with ``BPEVocab.from_dict`` (for checkpoints)."""
        return {"chars": "".join(self.chars), "merges": [list(m) for m in self.merges], "end": self.end}

    @classmethod
    def from_dict(cls, d: dict) -> "BPEVocab":
        return cls(tuple(d["chars"]), tuple(tuple(m) for m in d["merges"]), d.get("end", "."))

    @property
    def _index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, token in enumerate(self.tokens):
            index.setdefault(token, i)  # two merges can make one string (a+bc, ab+c): the first id serves
        return index

    @property
    def _ranks(self) -> dict[tuple[str, str], int]:
        return {pair: rank for rank, pair in enumerate(self.merges)}


def train_bpe(texts: Iterable[str] | dict[str, int], n_merges: int, end: str = ".") -> BPEVocab:
    """Learn ``n_merges`` BPE merges from ``texts`` (a list of names, where a repeated name counts
    as often as it occurs, or a {text: frequency} dict), by :func:`bpe_merge_step` repeated.

    The vocabulary grows by one token per merge: ``len(vocab) == 1 + characters + merges``.
    Training stops early, with fewer merges, once every text is a single symbol. Since each
    merge depends only on the ones before it, the first n merges of a longer run are exactly
    an n-merge run: ``BPEVocab(vocab.chars, vocab.merges[:n])`` gives every smaller size from
    one training.
    """
    if isinstance(n_merges, bool) or not isinstance(n_merges, int) or n_merges < 0:
        raise ValueError(f"n_merges must be an int ≥ 0, got {n_merges!r}.")
    freqs: dict[str, int] = dict(texts) if isinstance(texts, dict) else {}
    if not isinstance(texts, dict):
        for t in texts:
            freqs[t] = freqs.get(t, 0) + 1
    if not freqs or not any(freqs):
        raise ValueError("No texts to learn merges from.")
    if end in "".join(freqs):
        raise ValueError(f"The end token {end!r} occurs in the texts; choose another end character.")
    words = {tuple(t): f for t, f in freqs.items() if t}
    merges = []
    for _ in range(n_merges):
        if not any(len(w) > 1 for w in words):
            break
        pair, words = bpe_merge_step(words)
        merges.append(pair)
    return BPEVocab(tuple(sorted(set("".join(freqs)))), tuple(merges), end)
