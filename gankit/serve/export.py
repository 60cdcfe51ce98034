"""Saving, exporting and shrinking a trained model, each step measured (lesson 14, sections 1–3).

A trained model leaves the notebook in one of three forms, and this module makes and
measures each of them:

1. **A state_dict** (``torch.save(model.state_dict())``): the weights only. The code that
   builds the network must come with it; gankit's checkpoints add the config and metadata
   so that :func:`gankit.models.load_checkpoint` can rebuild the model from the file.
2. **An ONNX graph** (:func:`export_onnx`): the network's computation written out as a
   graph of standard operators, with the weights inside. Any ONNX runtime can run it —
   ONNX Runtime here, from C++, C#, JavaScript or a phone elsewhere — without Python or
   PyTorch. The graph is recorded by ``torch.export`` (``torch.onnx.export(..., dynamo=True)``),
   which traces ``forward`` with symbolic tensors; :func:`onnx_parity` checks that the
   graph computes what the eager model does.
3. **An int8 model** (:func:`quantize_int8`): dynamic quantisation stores every
   ``nn.Linear`` weight as 8-bit integers with one scale per layer (4× fewer bytes than
   float32) and quantises the activations on the fly (Jacob et al., "Quantization and
   Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018).

What a change costs is measured the same way for each: file size (:func:`file_size_bytes`),
latency per request (:func:`measure_latency`, :func:`latency_table`) and quality — test NLL
in nats per character for the names GPT (:func:`compare_int8`), the judge-confident share for
a digit generator (:func:`digit_onnx_quality`)::

    gpt = load_checkpoint(checkpoint_path("names_gpt"))
    path = export_gpt(gpt, "build/names_gpt.onnx")
    onnx_parity(gpt_logits(gpt), path, (example_ids(gpt, 5),))   # max |ONNX − eager|, ~1e-5
    compare_int8(gpt, vocab, load_names("first", "test"))         # bytes and NLL, fp32 vs int8
    latency_table(gpt, quantize_int8(gpt), onnx_session(path))    # ms per request, batch 1 and 32

``onnx``, ``onnxscript`` and ``onnxruntime`` are imported inside the functions that need them,
so the rest of gankit works without them.
"""

from __future__ import annotations

import copy
import importlib
import io
import math
import os
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from gankit.metrics import judge_scores, load_judge
from gankit.models import GPT, ConditionalVAE, DCGANGenerator
from gankit.models.dcgan import to_unit_range
from gankit.text import CharVocab, log_likelihood_per_char

__all__ = [
    "OnnxFileError",
    "GPTLogits",
    "DigitDecoder",
    "gpt_logits",
    "digit_decoder",
    "example_ids",
    "example_latents",
    "export_onnx",
    "export_gpt",
    "export_digit_generator",
    "onnx_session",
    "run_onnx",
    "onnx_parity",
    "quantize_int8",
    "file_size_bytes",
    "Int8Comparison",
    "compare_int8",
    "names_nll",
    "Latency",
    "LatencyRow",
    "measure_latency",
    "latency_table",
    "latency_ratio",
    "format_latency_table",
    "DigitOnnxQuality",
    "digit_onnx_quality",
]


class OnnxFileError(RuntimeError):
    """An ONNX file that ONNX Runtime cannot load: corrupt, truncated, or not ONNX at all."""


def _require(package: str, pip_name: str) -> Any:
    """Import an optional package, or say which pip package brings it."""
    try:  # optional outside packages (onnx, onnxscript, onnxruntime): only export needs them
        return importlib.import_module(package)
    except ImportError as exc:
        raise ImportError(
            f"{package} is needed to export or run ONNX models but is not installed. Install it with "
            f"`pip install {pip_name}` (gankit's pyproject.toml lists it; `make setup` installs everything)."
        ) from exc


# --------------------------------------------------------------------------- what is exported


class GPTLogits(nn.Module):
    """A :class:`~gankit.models.GPT` with one output: token ids (B, T) → logits (B, T, vocab).

    ``GPT.forward`` returns ``(logits, loss)`` and takes optional targets; a deployed model
    only predicts, so the exported graph is this simpler function."""

    def __init__(self, gpt: nn.Module):
        super().__init__()
        self.gpt = gpt

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        logits, _ = self.gpt(idx)
        return logits


class DigitDecoder(nn.Module):
    """A digit generator as one function from its inputs to images in [0, 1], (B, 1, 28, 28).

    * :class:`~gankit.models.ConditionalVAE`: (z (B, latent_dim), labels (B,)) → the mean
      image E[x | z, y] (the decoder and its sigmoid; the encoder is not needed to draw);
    * :class:`~gankit.models.DCGANGenerator`: z (B, latent_dim) → G(z) moved from [-1, 1] to [0, 1].

    Drawing z ~ N(0, I) stays outside: random numbers are the caller's, so a seed gives the
    same images in PyTorch and in ONNX Runtime."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not isinstance(model, (ConditionalVAE, DCGANGenerator)):
            raise TypeError(f"DigitDecoder wraps a ConditionalVAE or a DCGANGenerator, got {type(model).__name__}.")
        self.model = model
        self.conditional = isinstance(model, ConditionalVAE)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            if labels is None:
                raise ValueError("A conditional VAE draws the digits asked for: pass labels (B,) as well as z.")
            return self.model.logits_to_image(self.model.decode(z, labels))  # (B, 1, 28, 28) in [0, 1]
        return to_unit_range(self.model(z))  # (B, 1, 28, 28): [-1, 1] → [0, 1]


def gpt_logits(model: nn.Module) -> GPTLogits:
    """``model`` (a GPT, eval mode) wrapped to return only its logits: what :func:`export_onnx` exports."""
    if not isinstance(model, GPT):
        raise TypeError(f"gpt_logits wraps a gankit GPT, got {type(model).__name__}.")
    return GPTLogits(model).eval()


def digit_decoder(model: nn.Module) -> DigitDecoder:
    """``model`` (conditional VAE or DCGAN generator) as latent (+ label) → image, in eval mode."""
    return DigitDecoder(model).eval()


def example_ids(model: GPT, batch: int, seed: int = 0) -> torch.Tensor:
    """Random token ids (batch, block_size) for ``model``: an input of the right shape and dtype."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.config.vocab_size, (batch, model.config.block_size), generator=generator)


def example_latents(model: nn.Module, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs for :class:`DigitDecoder` of ``model``: (z,) or (z, labels), z ~ N(0, I) from ``seed``
    and labels 0, 1, …, 9, 0, … for a conditional model."""
    z = torch.randn(batch, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    if isinstance(model, ConditionalVAE):
        return z, torch.arange(batch) % model.config.n_classes
    return (z,)


# --------------------------------------------------------------------------- ONNX export


def export_onnx(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    path: str | os.PathLike,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool = True,
) -> Path:
    """Write ``model`` (eval mode, CPU) as an ONNX graph to ``path`` and return the path.

    ``torch.onnx.export(..., dynamo=True)`` runs ``model(*example_inputs)`` under
    ``torch.export``: every operation is recorded on symbolic tensors, then translated to
    ONNX operators (through onnxscript). ``input_names`` / ``output_names`` are the names a
    runtime uses for the graph's inputs and outputs. With ``dynamic_batch`` the first
    dimension of every input is symbolic, so the file answers any batch size (export at 2,
    run at 5); every other dimension is fixed to the example's.

    The example's values do not matter, only their shapes and dtypes; a check in the model
    that reads values (a label out of range) is skipped while exporting (see
    :func:`gankit.models._parts.exporting`), so validate inputs before they reach the graph.
    """
    _require("onnx", "onnx")
    _require("onnxscript", "onnxscript")
    example_inputs = tuple(example_inputs)
    if not example_inputs or not all(isinstance(x, torch.Tensor) for x in example_inputs):
        raise TypeError("example_inputs must be a tuple of tensors, one per input of the model's forward.")
    if len(input_names) != len(example_inputs):
        raise ValueError(f"{len(input_names)} input_names {list(input_names)} for {len(example_inputs)} example "
                         f"inputs: give one name per input, in forward's order.")
    if dynamic_batch and any(x.ndim == 0 or x.shape[0] < 2 for x in example_inputs):
        raise ValueError("With dynamic_batch, export with a batch of at least 2: torch.export treats a size "
                         "of 1 as a constant, so the graph would accept only batch 1.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1 << 16)  # one symbol: every input shares the batch size
        dynamic_shapes = tuple({0: batch} for _ in example_inputs)
    # (1) record the graph: strict mode traces Python with TorchDynamo, so `len(z)` in a model
    # stays the symbolic batch size instead of becoming the example's 2
    program = torch.export.export(model, example_inputs, dynamic_shapes=dynamic_shapes, strict=True)
    # (2) translate it to ONNX operators and write one file, the weights inside it (a model over
    # 2 GB would need external_data=True: the weights beside the graph in a .data file)
    torch.onnx.export(program, example_inputs, str(path), dynamo=True, input_names=list(input_names),
                      output_names=list(output_names), external_data=False, verbose=False)
    return path


def export_gpt(model: GPT, path: str | os.PathLike, *, dynamic_batch: bool = True) -> Path:
    """Export a GPT's logits: input ``idx`` (batch, block_size) int64 → output ``logits``
    (batch, block_size, vocab_size)."""
    return export_onnx(gpt_logits(model), (example_ids(model, 2),), path, input_names=["idx"],
                       output_names=["logits"], dynamic_batch=dynamic_batch)


def export_digit_generator(model: nn.Module, path: str | os.PathLike, *, dynamic_batch: bool = True) -> Path:
    """Export a digit generator (:class:`DigitDecoder`): inputs ``z`` (batch, latent_dim) float32
    and, for a conditional VAE, ``labels`` (batch,) int64 → output ``images`` (batch, 1, 28, 28)."""
    inputs = example_latents(model, 2)
    names = ["z", "labels"][: len(inputs)]
    return export_onnx(digit_decoder(model), inputs, path, input_names=names, output_names=["images"],
                       dynamic_batch=dynamic_batch)


# --------------------------------------------------------------------------- ONNX Runtime


def onnx_session(path: str | os.PathLike, *, intra_op_num_threads: int = 1) -> Any:
    """An ONNX Runtime ``InferenceSession`` for the file at ``path``, on the CPU.

    ``intra_op_num_threads`` is how many threads one operator may use (1: compare with
    PyTorch at ``torch.set_num_threads(1)``; 0 lets ONNX Runtime choose). A missing file is
    a ``FileNotFoundError``, a file ONNX Runtime cannot read an :class:`OnnxFileError`."""
    ort = _require("onnxruntime", "onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No ONNX file at {path}. Write one with export_onnx (or export_gpt, "
                                f"export_digit_generator) first, or check the path.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_num_threads
    options.inter_op_num_threads = 1  # one request's operators run one after another
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types: InvalidProtobuf, Fail, InvalidGraph
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OnnxFileError(
            f"ONNX Runtime cannot load {path}: the file is corrupt or truncated, or not an ONNX model. "
            f"Export it again with export_onnx. (onnxruntime said: {first})") from exc


def run_onnx(session: Any, *inputs: torch.Tensor) -> torch.Tensor:
    """Run ``session`` on ``inputs`` (tensors, in the graph's input order) and return its first
    output as a tensor. ONNX Runtime takes and gives NumPy arrays; this converts both ways."""
    names = [i.name for i in session.get_inputs()]
    if len(inputs) != len(names):
        raise ValueError(f"The ONNX graph takes {len(names)} inputs {names}, got {len(inputs)}.")
    feeds = {name: x.detach().cpu().numpy() for name, x in zip(names, inputs)}
    return torch.from_numpy(session.run(None, feeds)[0])


def _on_device_of(model: nn.Module, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``inputs`` moved to the device of ``model``'s parameters: the eager side of a comparison may
    run on a GPU while ONNX Runtime runs on the CPU."""
    device = next(model.parameters()).device
    return tuple(x.to(device) for x in inputs)


def onnx_parity(model: nn.Module, onnx_path: str | os.PathLike | Any, inputs: Sequence[torch.Tensor]) -> float:
    """max |ONNX Runtime − eager PyTorch| over every output value of ``model(*inputs)``.

    ``model`` is what was exported (:func:`gpt_logits` or :func:`digit_decoder` of a model), on
    any device (the inputs follow it; ONNX Runtime runs on the CPU);
    ``onnx_path`` a file or an open session. Float32 arithmetic in another order gives
    differences near 1e-6 relative to the values; anything near 1e-2 means the graph
    computes something else."""
    session = onnx_path if hasattr(onnx_path, "run") else onnx_session(onnx_path)
    with torch.inference_mode():
        expected = model.eval()(*_on_device_of(model, inputs)).cpu()
    got = run_onnx(session, *inputs)
    if got.shape != expected.shape:
        raise ValueError(f"ONNX output has shape {tuple(got.shape)}, eager {tuple(expected.shape)}: "
                         f"not the same function (was the file exported from another model?).")
    return (got - expected.float()).abs().max().item()


# --------------------------------------------------------------------------- int8


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantised to int8.

    Each weight matrix W is stored as int8 q with one float scale s per layer, W ≈ s·q
    (q = round(W / s), s = max|W| / 127.5: symmetric int8, ±max|W| spread over the 255 steps from −128 to 127): a quarter of float32's bytes. At run time the
    input of each such layer is quantised per batch ("dynamic": no calibration data needed),
    the product runs in integer arithmetic, and the result is scaled back to float.
    Embeddings and LayerNorms stay float32. The original model is left unchanged.

    The copy computes logits like the original (``model(idx)``, NLL, log-likelihoods), but
    it cannot be exported to ONNX here, and ``GPT.generate`` reads ``head.weight``, which a
    quantised layer does not have as a tensor."""
    quantized = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():  # recent torch says its quantised tensors move to the torchao package
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(quantized, {nn.Linear}, dtype=torch.qint8)


def file_size_bytes(model: nn.Module, path: str | os.PathLike | None = None) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size of the file written at ``path``, or,
    without a path, of the same bytes in memory (a few bytes apart: torch.save's zip archive
    names its inner folder after the file). The file holds the weights only, not the config."""
    if path is None:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        return buffer.getbuffer().nbytes
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path.stat().st_size


def names_nll(model: nn.Module, vocab: CharVocab, names: Sequence[str]) -> float:
    """Test NLL of ``names`` under a character model, in nats per character (each name's end
    counted as a character): minus :func:`gankit.text.log_likelihood_per_char`. Lower is better."""
    return -log_likelihood_per_char(model, vocab, names)


@dataclass
class Int8Comparison:
    """A float32 GPT against its int8 copy: state_dict bytes and test NLL (nats/char)."""

    fp32_bytes: int
    int8_bytes: int
    fp32_nll: float
    int8_nll: float

    @property
    def size_ratio(self) -> float:
        """int8 bytes / float32 bytes (0.25 would be every byte int8; embeddings stay float32)."""
        return self.int8_bytes / self.fp32_bytes

    @property
    def nll_increase(self) -> float:
        """How much worse the int8 model predicts, in nats per character (≥ 0 usually)."""
        return self.int8_nll - self.fp32_nll

    def as_dict(self) -> dict:
        return {**asdict(self), "size_ratio": self.size_ratio, "nll_increase": self.nll_increase}

    def __str__(self) -> str:
        return (f"float32 {self.fp32_bytes / 1024:.0f} KiB, NLL {self.fp32_nll:.4f} nats/char | "
                f"int8 {self.int8_bytes / 1024:.0f} KiB ({self.size_ratio:.2f}×), NLL {self.int8_nll:.4f} "
                f"({self.nll_increase:+.4f})")


def compare_int8(model: GPT, vocab: CharVocab, names: Sequence[str],
                 int8_model: nn.Module | None = None) -> Int8Comparison:
    """Quantise ``model`` (or take ``int8_model``) and measure both: state_dict size and NLL on ``names``."""
    int8_model = int8_model if int8_model is not None else quantize_int8(model)
    return Int8Comparison(
        fp32_bytes=file_size_bytes(model),
        int8_bytes=file_size_bytes(int8_model),
        fp32_nll=names_nll(model, vocab, names),
        int8_nll=names_nll(int8_model, vocab, names),
    )


# --------------------------------------------------------------------------- latency


@dataclass
class Latency:
    """Milliseconds per call over ``repeats`` timed calls: the median (a typical request) and
    the 95th percentile (the slow one in twenty, what a user waiting on a service notices)."""

    median_ms: float
    p95_ms: float
    repeats: int


def measure_latency(fn: Callable[[], Any], repeats: int = 50, warmup: int = 5) -> Latency:
    """Time ``fn()`` ``repeats`` times with ``time.perf_counter`` after ``warmup`` untimed calls
    (the first calls allocate memory and fill caches). Runs under ``torch.inference_mode``.
    Threads are the caller's: set ``torch.set_num_threads`` (and the ONNX session's) before."""
    if not isinstance(repeats, int) or repeats < 1 or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"repeats must be an int ≥ 1 and warmup an int ≥ 0, got {repeats!r} and {warmup!r}.")
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[math.ceil(0.95 * len(times)) - 1]  # nearest rank: 95 % of the calls took at most this
    return Latency(median_ms=statistics.median(times), p95_ms=p95, repeats=repeats)


@dataclass
class LatencyRow:
    """One runtime at one batch size: ``runtime`` is "eager fp32", "eager int8" or "onnxruntime"."""

    runtime: str
    batch: int
    median_ms: float
    p95_ms: float


def latency_table(
    model: GPT,
    int8_model: nn.Module | None,
    session: Any | None,
    batch_sizes: Sequence[int] = (1, 32),
    repeats: int = 50,
    warmup: int = 5,
    seed: int = 0,
) -> list[LatencyRow]:
    """Latency of one request — one forward pass of ``batch`` rows of block_size tokens, what
    each step of sampling costs — for the eager float32 GPT, its int8 copy and the ONNX Runtime
    ``session`` (from :func:`onnx_session` on :func:`export_gpt`'s file), at each batch size.
    ``int8_model`` or ``session`` None leaves that runtime out. All runtimes get the same ids."""
    runners: dict[str, Callable[[torch.Tensor], Any]] = {"eager fp32": lambda ids: model(ids)}
    if int8_model is not None:
        runners["eager int8"] = lambda ids: int8_model(ids)
    if session is not None:
        name = session.get_inputs()[0].name
        runners["onnxruntime"] = lambda ids: session.run(None, {name: ids.numpy()})
    rows = []
    for batch in batch_sizes:
        ids = example_ids(model, batch, seed)
        for runtime, run in runners.items():
            t = measure_latency(lambda: run(ids), repeats=repeats, warmup=warmup)
            rows.append(LatencyRow(runtime, batch, t.median_ms, t.p95_ms))
    return rows


def latency_ratio(rows: Sequence[LatencyRow], batch: int = 1, runtime: str = "onnxruntime",
                  baseline: str = "eager fp32") -> float:
    """Median latency of ``runtime`` / that of ``baseline`` at ``batch`` (< 1: faster than eager)."""
    found = {r.runtime: r.median_ms for r in rows if r.batch == batch}
    missing = [name for name in (runtime, baseline) if name not in found]
    if missing:
        raise KeyError(f"no row for {missing} at batch {batch}; the table has {sorted(found)} there.")
    return found[runtime] / found[baseline]


def format_latency_table(rows: Sequence[LatencyRow]) -> str:
    """The rows as a Markdown table, with each runtime's median relative to eager fp32 at its batch."""
    base = {r.batch: r.median_ms for r in rows if r.runtime == "eager fp32"}
    lines = ["| runtime | batch | median ms | p95 ms | vs eager fp32 |", "|---|---|---|---|---|"]
    for r in rows:
        rel = f"{r.median_ms / base[r.batch]:.2f}×" if r.batch in base else "–"
        lines.append(f"| {r.runtime} | {r.batch} | {r.median_ms:.2f} | {r.p95_ms:.2f} | {rel} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- digit quality


@dataclass
class DigitOnnxQuality:
    """The same latents drawn by eager PyTorch and by ONNX Runtime, scored by the digit judge."""

    n: int
    eager_confident: float  # share of the eager images the judge calls with probability ≥ 0.9
    onnx_confident: float  # the same for the ONNX Runtime images
    max_abs_diff: float  # max pixel difference between the two sets


def digit_onnx_quality(model: nn.Module, onnx_path: str | os.PathLike | Any, n: int = 500,
                       seed: int = 0, judge: nn.Module | None = None) -> DigitOnnxQuality:
    """Draw ``n`` digits from the same latents (labels 0…9 cycling for a conditional model)
    in PyTorch and in ONNX Runtime and give each set's judge-confident share: whether the
    exported generator still draws digits the judge recognises (it should, to the digit)."""
    session = onnx_path if hasattr(onnx_path, "run") else onnx_session(onnx_path)
    inputs = example_latents(model, n, seed)
    decoder = digit_decoder(model)
    with torch.inference_mode():
        eager = decoder(*_on_device_of(model, inputs)).cpu()
    exported = run_onnx(session, *inputs)
    judge = judge if judge is not None else load_judge()
    return DigitOnnxQuality(
        n=n,
        eager_confident=judge_scores(eager, judge).confident,
        onnx_confident=judge_scores(exported, judge).confident,
        max_abs_diff=(exported - eager).abs().max().item(),
    )
