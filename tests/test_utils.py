"""gankit.utils: device choice, seeding, parameter counts and checkpoints."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from gankit.models import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig
from gankit.models import CheckpointError, load_checkpoint, save_checkpoint
from gankit.utils import count_parameters, get_device, seed_everything


class NotAModel:
    """A plain Python object: a weights_only load must refuse to unpickle it."""

    def __init__(self):
        self.value = 42


def tiny_generator(seed: int = 0) -> MLPGenerator:
    torch.manual_seed(seed)
    return MLPGenerator(MLPGeneratorConfig(latent_dim=3, data_dim=2, hidden_dim=8, n_hidden=2))


# --------------------------------------------------------------------------- get_device


def test_get_device_reads_environment_variable(monkeypatch):
    monkeypatch.setenv("GANKIT_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_get_device_prefer_cpu(monkeypatch):
    monkeypatch.delenv("GANKIT_DEVICE", raising=False)
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


def test_get_device_prefer_wins_over_environment(monkeypatch):
    monkeypatch.setenv("GANKIT_DEVICE", "definitely-not-a-device")
    assert get_device("cpu") == torch.device("cpu")


def test_get_device_empty_environment_variable_means_auto(monkeypatch):
    monkeypatch.setenv("GANKIT_DEVICE", "")
    assert isinstance(get_device(), torch.device)


def test_get_device_unknown_string_names_the_choices():
    with pytest.raises(ValueError) as info:
        get_device("gpu")
    message = str(info.value)
    assert "'gpu'" in message
    for choice in ("cpu", "cuda", "mps"):
        assert choice in message


def test_get_device_unknown_string_from_environment(monkeypatch):
    monkeypatch.setenv("GANKIT_DEVICE", "tpu-please")
    with pytest.raises(ValueError, match="cpu"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_get_device_cuda_without_gpu_is_an_error_not_a_fallback():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")
    with pytest.raises(RuntimeError):
        get_device("cuda:1")


# --------------------------------------------------------------------------- seed_everything


def _draws():
    return torch.randn(5), np.random.rand(5), [random.random() for _ in range(5)]


def test_seed_everything_same_seed_same_draws():
    seed_everything(123)
    t1, n1, r1 = _draws()
    seed_everything(123)
    t2, n2, r2 = _draws()
    assert torch.equal(t1, t2)
    assert np.array_equal(n1, n2)
    assert r1 == r2


def test_seed_everything_different_seeds_differ():
    seed_everything(1)
    t1, n1, r1 = _draws()
    seed_everything(2)
    t2, n2, r2 = _draws()
    assert not torch.equal(t1, t2)
    assert not np.array_equal(n1, n2)
    assert r1 != r2


def test_seed_everything_returns_a_seeded_generator():
    g1 = seed_everything(7)
    g2 = seed_everything(7)
    assert isinstance(g1, torch.Generator)
    assert torch.equal(torch.randn(4, generator=g1), torch.randn(4, generator=g2))


def test_seed_everything_accepts_seeds_beyond_32_bits():
    seed_everything(2**40 + 5)  # numpy only takes 32-bit seeds; gankit reduces it


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_seed_everything_rejects_non_int(bad):
    with pytest.raises(TypeError):
        seed_everything(bad)


# --------------------------------------------------------------------------- count_parameters


def test_count_parameters_hand_computed():
    g = MLPGenerator(MLPGeneratorConfig(latent_dim=2, data_dim=2, hidden_dim=4, n_hidden=2))
    # Linear(2,4): 2*4+4, Linear(4,4): 4*4+4, Linear(4,2): 4*2+2
    assert count_parameters(g) == 2 * 4 + 4 + 4 * 4 + 4 + 4 * 2 + 2 == 42


def test_count_parameters_trainable_only_honours_requires_grad():
    g = MLPGenerator(MLPGeneratorConfig(latent_dim=2, data_dim=2, hidden_dim=4, n_hidden=2))
    first = g.net[0]
    for p in first.parameters():
        p.requires_grad_(False)
    assert count_parameters(g) == 42 - (2 * 4 + 4)
    assert count_parameters(g, trainable_only=True) == 30
    assert count_parameters(g, trainable_only=False) == 42


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    g = tiny_generator()
    g.train()
    path = save_checkpoint(tmp_path / "sub" / "g.pt", g, steps=300, note="hello", curve=[1.0, 0.5])
    assert path.exists()
    assert not (tmp_path / "sub" / "g.pt.tmp").exists()

    loaded = load_checkpoint(path)
    assert type(loaded) is MLPGenerator
    assert loaded.config == g.config
    assert loaded is not g
    assert not loaded.training
    assert loaded.checkpoint_metadata == {"steps": 300, "note": "hello", "curve": [1.0, 0.5]}

    z = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    g.eval()
    with torch.no_grad():
        assert torch.equal(loaded(z), g(z))


def test_checkpoint_round_trip_discriminator_with_expected(tmp_path):
    torch.manual_seed(0)
    d = MLPDiscriminator(MLPDiscriminatorConfig(hidden_dim=8, n_hidden=1))
    save_checkpoint(tmp_path / "d.pt", d)
    loaded = load_checkpoint(tmp_path / "d.pt", expected=MLPDiscriminator)
    assert isinstance(loaded, MLPDiscriminator)
    assert loaded.checkpoint_metadata == {}
    x = torch.randn(10, 2)
    with torch.no_grad():
        assert torch.equal(loaded(x), d.eval()(x))


def test_checkpoint_expected_wrong_class(tmp_path):
    save_checkpoint(tmp_path / "g.pt", tiny_generator())
    with pytest.raises(CheckpointError, match="MLPDiscriminator was expected"):
        load_checkpoint(tmp_path / "g.pt", expected=MLPDiscriminator)


def test_checkpoint_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "missing.pt"
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_checkpoint_truncated_file(tmp_path):
    good = save_checkpoint(tmp_path / "g.pt", tiny_generator())
    raw = good.read_bytes()
    bad = tmp_path / "half.pt"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    message = str(info.value).lower()
    assert "corrupt" in message or "truncated" in message


def test_checkpoint_random_bytes(tmp_path):
    bad = tmp_path / "noise.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)


def test_checkpoint_empty_file(tmp_path):
    bad = tmp_path / "empty.pt"
    bad.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)


def test_checkpoint_plain_dict_is_not_a_gankit_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        load_checkpoint(path)


def test_checkpoint_plain_state_dict_of_a_gankit_model_is_refused(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(tiny_generator().state_dict(), path)
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        load_checkpoint(path)


def test_checkpoint_tampered_state_dict(tmp_path):
    path = save_checkpoint(tmp_path / "g.pt", tiny_generator())
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = torch.zeros(5, 7)  # wrong shape
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_checkpoint_state_dict_with_missing_key(tmp_path):
    path = save_checkpoint(tmp_path / "g.pt", tiny_generator())
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_checkpoint_unknown_model_class(tmp_path):
    path = save_checkpoint(tmp_path / "g.pt", tiny_generator())
    payload = torch.load(path, weights_only=True)
    payload["model_class"] = "TransformerOfTheFuture"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="TransformerOfTheFuture"):
        load_checkpoint(path)


def test_checkpoint_config_that_does_not_fit(tmp_path):
    path = save_checkpoint(tmp_path / "g.pt", tiny_generator())
    payload = torch.load(path, weights_only=True)
    payload["config"]["no_such_field"] = 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="config"):
        load_checkpoint(path)


def test_save_checkpoint_refuses_a_plain_module(tmp_path):
    with pytest.raises(TypeError, match="gankit's models"):
        save_checkpoint(tmp_path / "lin.pt", nn.Linear(2, 2))
    assert not (tmp_path / "lin.pt").exists()


def test_save_checkpoint_refuses_a_subclass_of_a_gankit_model(tmp_path):
    class MyGenerator(MLPGenerator):
        pass

    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "g.pt", MyGenerator(MLPGeneratorConfig(hidden_dim=4)))


def test_checkpoint_load_is_weights_only(tmp_path):
    """A pickle holding an arbitrary Python object must be refused, not unpickled."""
    path = tmp_path / "evil.pt"
    torch.save({"format": "gankit-checkpoint-v1", "gankit_version": "0.1.0", "model_class": "MLPGenerator",
                "config": {}, "state_dict": {}, "payload": NotAModel()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_checkpoint_load_refuses_a_bare_custom_object(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save(NotAModel(), path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_checkpoint_with_numpy_metadata_is_refused_at_save_or_loads(tmp_path):
    path = tmp_path / "g.pt"
    try:
        save_checkpoint(path, tiny_generator(), hq_share=np.float64(0.93), modes=np.int64(8))
    except (TypeError, ValueError):
        return  # refusing at save time would be fine
    loaded = load_checkpoint(path)
    assert loaded.checkpoint_metadata == {"hq_share": 0.93, "modes": 8}


def test_checkpoint_metadata_that_cannot_be_loaded_is_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="where"):
        save_checkpoint(tmp_path / "g.pt", tiny_generator(), where=tmp_path)  # a Path, not a str
    assert not (tmp_path / "g.pt").exists()


def test_checkpoint_metadata_str_subclass_loads_back(tmp_path):
    path = save_checkpoint(tmp_path / "g.pt", tiny_generator(), torch_version=torch.__version__)
    assert load_checkpoint(path).checkpoint_metadata == {"torch_version": str(torch.__version__)}
