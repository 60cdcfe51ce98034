"""gankit.serve.export: ONNX export and parity, int8 quantisation, latency (lesson 13, issue 17).

The bundled names GPT and conditional VAE are exported once per module (about 15 s on one
thread); every test below reuses those files.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit import text
from gankit.models import ConditionalVAE, load_checkpoint
from gankit.models._parts import check_labels, exporting
from gankit.recipes import checkpoint_path
from gankit.serve import export

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def gpt():
    return load_checkpoint(checkpoint_path("names_gpt"))


@pytest.fixture(scope="module")
def vocab(gpt):
    return text.CharVocab.from_dict(gpt.checkpoint_metadata["vocab"])


@pytest.fixture(scope="module")
def cvae():
    return load_checkpoint(checkpoint_path("cvae_digits"))


@pytest.fixture(scope="module")
def gpt_onnx(gpt, tmp_path_factory):
    return export.export_gpt(gpt, tmp_path_factory.mktemp("onnx") / "names_gpt.onnx")  # at batch 2


@pytest.fixture(scope="module")
def cvae_onnx(cvae, tmp_path_factory):
    return export.export_digit_generator(cvae, tmp_path_factory.mktemp("onnx") / "cvae_digits.onnx")


@pytest.fixture(scope="module")
def gpt_session(gpt_onnx):
    return export.onnx_session(gpt_onnx)


@pytest.fixture(scope="module")
def int8_gpt(gpt):
    return export.quantize_int8(gpt)


# --------------------------------------------------------------------------- ONNX


def test_gpt_onnx_matches_eager_at_another_batch_size(gpt, gpt_onnx, gpt_session):
    ids = export.example_ids(gpt, 5, seed=1)  # exported at batch 2, run at 5
    assert gpt_onnx.is_file() and not gpt_onnx.with_name(gpt_onnx.name + ".data").exists()  # one file
    assert [i.name for i in gpt_session.get_inputs()] == ["idx"]
    logits = export.run_onnx(gpt_session, ids)
    assert logits.shape == (5, gpt.config.block_size, gpt.config.vocab_size)
    assert export.onnx_parity(export.gpt_logits(gpt), gpt_session, (ids,)) <= 1e-4
    assert export.onnx_parity(export.gpt_logits(gpt), gpt_onnx, (export.example_ids(gpt, 1),)) <= 1e-4


def test_digit_decoder_onnx_matches_eager_at_another_batch_size(cvae, cvae_onnx):
    session = export.onnx_session(cvae_onnx)
    assert [i.name for i in session.get_inputs()] == ["z", "labels"]
    z, labels = export.example_latents(cvae, 5, seed=1)
    assert labels.tolist() == [0, 1, 2, 3, 4]
    images = export.run_onnx(session, z, labels)
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert export.onnx_parity(export.digit_decoder(cvae), session, (z, labels)) <= 1e-4
    # the labels reach the graph: another digit from the same z is another image
    other = export.run_onnx(session, z, (labels + 1) % 10)
    assert (other - images).abs().max() > 0.1


def test_the_dcgan_generator_exports_too(tmp_path):
    generator = load_checkpoint(checkpoint_path("dcgan_digits"))
    path = export.export_digit_generator(generator, tmp_path / "dcgan.onnx")
    inputs = export.example_latents(generator, 3)
    assert len(inputs) == 1  # no labels for an unconditional generator
    assert export.onnx_parity(export.digit_decoder(generator), path, inputs) <= 1e-4


def test_a_static_export_takes_only_its_batch_size(cvae, tmp_path):
    path = export.export_digit_generator(cvae, tmp_path / "static.onnx", dynamic_batch=False)
    session = export.onnx_session(path)
    assert export.run_onnx(session, *export.example_latents(cvae, 2)).shape == (2, 1, 28, 28)
    with pytest.raises(Exception, match="dimensions"):
        export.run_onnx(session, *export.example_latents(cvae, 3))


def test_the_digits_from_onnx_are_judged_as_the_eager_ones(cvae, cvae_onnx):
    quality = export.digit_onnx_quality(cvae, cvae_onnx, n=100)
    assert quality.n == 100
    assert quality.onnx_confident == quality.eager_confident > 0.5
    assert quality.max_abs_diff <= 1e-4


def test_export_asks_for_what_it_needs(gpt, tmp_path):
    model = export.gpt_logits(gpt)
    with pytest.raises(ValueError, match="one name per input"):
        export.export_onnx(model, (export.example_ids(gpt, 2),), tmp_path / "x.onnx", input_names=["a", "b"],
                           output_names=["logits"])
    with pytest.raises(ValueError, match="at least 2"):
        export.export_onnx(model, (export.example_ids(gpt, 1),), tmp_path / "x.onnx", input_names=["idx"],
                           output_names=["logits"])
    with pytest.raises(TypeError, match="GPT"):
        export.gpt_logits(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="ConditionalVAE or a DCGANGenerator"):
        export.digit_decoder(gpt)


def test_a_missing_or_corrupt_onnx_file_says_so(tmp_path, gpt_onnx):
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        export.onnx_session(tmp_path / "nowhere.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(export.OnnxFileError, match="corrupt or truncated"):
        export.onnx_session(junk)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(gpt_onnx.read_bytes()[:5000])  # an interrupted copy
    with pytest.raises(export.OnnxFileError, match="Export it again"):
        export.onnx_session(truncated)


def test_a_missing_package_names_what_to_install(monkeypatch, gpt_onnx):
    real = export.importlib.import_module

    def without_onnxruntime(name, *args):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real(name, *args)

    monkeypatch.setattr(export.importlib, "import_module", without_onnxruntime)
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        export.onnx_session(gpt_onnx)


# --------------------------------------------------------------------------- the guards for export


def test_eager_models_still_check_their_values(gpt, cvae):
    assert not exporting()  # only true inside torch.export
    bad = torch.tensor([[0, 3, gpt.config.vocab_size]])
    with pytest.raises(ValueError, match=r"Token ids \[29\] are outside the vocabulary"):
        gpt(bad)
    with pytest.raises(ValueError, match="labels must lie in 0 … 9; got labels from 0 to 11"):
        check_labels(torch.tensor([0, 11]), 2, 10, "ConditionalVAE")
    with pytest.raises(ValueError, match="labels must lie in 0 … 9"):
        cvae.decode(torch.zeros(1, cvae.config.latent_dim), torch.tensor([11]))
    assert isinstance(cvae, ConditionalVAE)


# --------------------------------------------------------------------------- int8


def test_int8_gpt_is_smaller_and_almost_as_good(gpt, vocab, int8_gpt):
    names = text.load_names("first", "test")[:150]
    result = export.compare_int8(gpt, vocab, names, int8_gpt)
    assert result.size_ratio <= 0.40
    assert result.fp32_nll == pytest.approx(export.names_nll(gpt, vocab, names))
    assert 1.0 < result.fp32_nll < 3.0  # nats/char: uniform over 27 characters would be 3.3
    assert abs(result.nll_increase) <= 0.05
    assert result.as_dict()["size_ratio"] == result.size_ratio
    assert "int8" in str(result)


def test_quantize_int8_leaves_the_original_alone(gpt, int8_gpt):
    assert type(gpt.head) is nn.Linear and type(gpt.blocks[0].mlp.fc) is nn.Linear
    assert type(int8_gpt.head) is not nn.Linear  # a dynamically quantised Linear
    assert type(int8_gpt.tok_emb) is nn.Embedding  # embeddings stay float32
    ids = export.example_ids(gpt, 4)
    with torch.inference_mode():
        gap = (int8_gpt(ids)[0].softmax(-1) - gpt(ids)[0].softmax(-1)).abs().max()
    assert 0 < gap < 0.15  # the next-character probabilities: close, not equal (here ~0.07)


def test_file_size_bytes_counts_the_saved_state_dict(tmp_path):
    layer = nn.Linear(100, 10)  # 1,010 float32 numbers = 4,040 bytes plus torch.save's wrapping
    on_disk = export.file_size_bytes(layer, tmp_path / "layer.pt")
    assert on_disk == (tmp_path / "layer.pt").stat().st_size
    assert 4040 < on_disk < 4040 + 2000
    # in memory the archive's inner folder is "archive" rather than the file's stem "layer"
    assert abs(export.file_size_bytes(layer) - on_disk) <= 2 * 20 * len("archive")


# --------------------------------------------------------------------------- latency


def test_measure_latency_median_and_p95_by_hand(monkeypatch):
    durations = [5.0] * 3 + [float(ms) for ms in range(1, 21)]  # 3 warm-up calls, then 1 … 20 ms
    clock = {"now": 0.0, "calls": 0}

    def fake_perf_counter():
        return clock["now"]

    def fn():
        clock["now"] += durations[clock["calls"]] / 1000
        clock["calls"] += 1

    monkeypatch.setattr(export.time, "perf_counter", fake_perf_counter)
    latency = export.measure_latency(fn, repeats=20, warmup=3)
    assert clock["calls"] == 23
    assert latency.median_ms == pytest.approx(10.5)  # (10 + 11) / 2
    assert latency.p95_ms == pytest.approx(19.0)  # nearest rank: the 19th of 20
    assert latency.repeats == 20
    with pytest.raises(ValueError, match="repeats"):
        export.measure_latency(fn, repeats=0)


def test_latency_table_has_every_runtime_at_every_batch(gpt, int8_gpt, gpt_session):
    rows = export.latency_table(gpt, int8_gpt, gpt_session, batch_sizes=(1, 4), repeats=3, warmup=1)
    assert [(r.runtime, r.batch) for r in rows] == [
        (runtime, batch) for batch in (1, 4) for runtime in ("eager fp32", "eager int8", "onnxruntime")]
    assert all(0 < r.median_ms <= r.p95_ms for r in rows)
    ratio = export.latency_ratio(rows, batch=1)
    by = {(r.runtime, r.batch): r.median_ms for r in rows}
    assert ratio == pytest.approx(by["onnxruntime", 1] / by["eager fp32", 1])
    table = export.format_latency_table(rows)
    assert table.count("\n") == 2 + len(rows) - 1 and "| eager fp32 | 1 |" in table and "1.00×" in table
    with pytest.raises(KeyError, match="no row"):
        export.latency_ratio(export.latency_table(gpt, None, None, batch_sizes=(1,), repeats=1, warmup=0))
