"""gankit.data: toy 2-D mixtures, the bundled MNIST subset, the torchvision sets offline."""

from __future__ import annotations

import math
import re
import shutil
import urllib.error

import pytest
import torch

import gankit.data as data
from gankit.data import DATASETS, DatasetError, Mixture, grid25, load, load_mnist_subset, mixture, ring8, toy2d

TOY_NAMES = ["ring8", "grid25", "moons", "spiral"]


# --------------------------------------------------------------------------- mixtures


def test_ring8_centres_on_a_circle_of_radius_2():
    mix = ring8()
    assert mix.centres.shape == (8, 2)
    assert torch.allclose(mix.centres.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    assert mix.std == 0.02
    # evenly spaced: consecutive centres are 2·r·sin(π/8) apart
    step = (mix.centres - mix.centres.roll(1, dims=0)).norm(dim=1)
    assert torch.allclose(step, torch.full((8,), 4 * math.sin(math.pi / 8)), atol=1e-5)
    assert torch.allclose(mix.centres[0], torch.tensor([2.0, 0.0]), atol=1e-6)


def test_grid25_centres():
    mix = grid25()
    assert mix.centres.shape == (25, 2)
    assert mix.std == 0.02
    values = set(mix.centres.flatten().round().tolist())
    assert values == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert len({tuple(c) for c in mix.centres.tolist()}) == 25
    d = torch.cdist(mix.centres, mix.centres)
    d.fill_diagonal_(float("inf"))
    assert torch.allclose(d.min(dim=1).values, torch.full((25,), 2.0))


def test_mixture_by_name_and_unknown_name():
    assert mixture("ring8").name == "ring8"
    assert mixture("grid25").centres.shape == (25, 2)
    with pytest.raises(DatasetError, match="ring8"):
        mixture("ring9")


def test_with_std_keeps_centres():
    mix = ring8().with_std(0.3)
    assert mix.std == 0.3
    assert torch.equal(mix.centres, ring8().centres)


@pytest.mark.parametrize("factory", [ring8, grid25])
def test_mixture_sample_shape_determinism_and_support(factory):
    mix = factory()
    a = mix.sample(2000, seed=3)
    assert a.shape == (2000, 2)
    assert a.dtype == torch.float32
    assert torch.equal(a, mix.sample(2000, seed=3))
    assert not torch.equal(a, mix.sample(2000, seed=4))
    nearest = torch.cdist(a, mix.centres).min(dim=1).values
    assert (nearest < 5 * mix.std).all()
    # every centre gets used
    which = torch.cdist(a, mix.centres).argmin(dim=1)
    assert len(torch.unique(which)) == len(mix.centres)


def test_mixture_sample_spread_matches_std():
    mix = ring8()
    x = mix.sample(4000, seed=0)
    nearest = torch.cdist(x, mix.centres).argmin(dim=1)
    offsets = x - mix.centres[nearest]
    assert offsets.std(dim=0).sub(0.02).abs().max() < 0.002
    assert offsets.mean(dim=0).abs().max() < 0.002


def test_log_prob_at_a_centre_hand_computed():
    mix = ring8()
    lp = mix.log_prob(mix.centres)
    expected = math.log(1 / 8 * 1 / (2 * math.pi * 0.02**2))
    assert lp.shape == (8,)
    assert torch.allclose(lp, torch.full((8,), expected), atol=1e-4)


def test_log_prob_off_centre_hand_computed():
    mix = ring8()
    x = mix.centres[:1] + torch.tensor([[0.03, -0.01]])
    sq = 0.03**2 + 0.01**2
    expected = math.log(1 / 8) - math.log(2 * math.pi * 0.02**2) - sq / (2 * 0.02**2)
    assert mix.log_prob(x).item() == pytest.approx(expected, abs=1e-3)


def test_log_prob_integrates_to_one():
    mix = ring8().with_std(0.25)
    h = 0.02
    xs = torch.arange(-4, 4 + h / 2, h)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], dim=1).double()
    total = mix.log_prob(pts).exp().sum().item() * h * h
    assert total == pytest.approx(1.0, abs=1e-3)


def test_log_prob_keeps_dtype():
    mix = ring8()
    assert mix.log_prob(torch.zeros(3, 2)).dtype == torch.float32
    assert mix.log_prob(torch.zeros(3, 2, dtype=torch.float64)).dtype == torch.float64


# --------------------------------------------------------------------------- toy2d


@pytest.mark.parametrize("name", TOY_NAMES)
def test_toy2d_shape_finite_deterministic(name):
    x = toy2d(name, n=500, seed=1)
    assert x.shape == (500, 2)
    assert torch.isfinite(x).all()
    assert torch.equal(x, toy2d(name, n=500, seed=1))
    assert not torch.equal(x, toy2d(name, n=500, seed=2))
    assert torch.equal(load(name, n=500, seed=1), x)


@pytest.mark.parametrize("name", ["moons", "spiral"])
def test_moons_and_spiral_are_bounded_and_spread(name):
    x = toy2d(name, n=3000)
    assert x.abs().max() < 3
    assert x.std(dim=0).min() > 0.2  # not collapsed onto a point or a line


def test_spiral_reaches_radius_two():
    r = toy2d("spiral", n=3000).norm(dim=1)
    assert 1.8 < r.max() < 2.3


def test_toy2d_default_n():
    assert toy2d("ring8").shape == (2500, 2)


def test_toy2d_unknown_name_lists_the_names():
    with pytest.raises(DatasetError) as info:
        toy2d("circles", n=10)
    for name in TOY_NAMES:
        assert name in str(info.value)


def test_load_unknown_name_lists_every_dataset():
    with pytest.raises(DatasetError) as info:
        load("nope")
    message = str(info.value)
    assert "'nope'" in message
    for key in DATASETS:
        assert key in message


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
@pytest.mark.parametrize("name", TOY_NAMES)
def test_bad_n_is_a_value_error(name, n):
    with pytest.raises(ValueError, match="positive int"):
        toy2d(name, n=n)


def test_mixture_sample_bad_n():
    with pytest.raises(ValueError):
        ring8().sample(0)


# --------------------------------------------------------------------------- MNIST subset


@pytest.fixture(scope="module")
def mnist_train():
    return load_mnist_subset("train")


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist_subset("test")


def test_mnist_subset_train(mnist_train):
    x, y = mnist_train
    assert x.shape == (4000, 1, 28, 28)
    assert x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == (4000,)
    assert x.min() >= 0 and x.max() <= 1
    assert x.max() == 1.0  # scaled from 0..255, not left at 0..255 or squeezed
    assert torch.bincount(y, minlength=10).tolist() == [400] * 10


def test_mnist_subset_test(mnist_test):
    x, y = mnist_test
    assert x.shape == (1000, 1, 28, 28)
    assert x.min() >= 0 and x.max() <= 1
    assert torch.bincount(y, minlength=10).tolist() == [100] * 10


def test_mnist_subset_all_is_train_then_test(mnist_train, mnist_test):
    x, y = load_mnist_subset("all")
    assert x.shape == (5000, 1, 28, 28)
    assert torch.equal(x[:4000], mnist_train[0]) and torch.equal(x[4000:], mnist_test[0])
    assert torch.equal(y, torch.cat([mnist_train[1], mnist_test[1]]))


def test_mnist_subset_by_name(mnist_train):
    x, y = load("mnist_subset")
    assert torch.equal(x, mnist_train[0]) and torch.equal(y, mnist_train[1])


def test_mnist_subset_splits_do_not_overlap(mnist_train, mnist_test):
    def keys(images):
        flat = (images * 255).round().to(torch.uint8).reshape(len(images), -1).numpy()
        return {row.tobytes() for row in flat}

    train, test = keys(mnist_train[0]), keys(mnist_test[0])
    assert not (train & test)


def test_mnist_subset_is_sorted_by_label_as_documented(mnist_train):
    # the reason per_class_split exists: a leading or trailing slice is not a sample
    _, y = mnist_train
    assert torch.equal(y, y.sort().values)
    assert set(y[-500:].tolist()) == {8, 9}


def test_per_class_split_holds_back_every_class_equally(mnist_train):
    _, y = mnist_train
    keep, held = data.per_class_split(y, 50, seed=0)
    assert torch.bincount(y[held], minlength=10).tolist() == [50] * 10
    assert torch.bincount(y[keep], minlength=10).tolist() == [350] * 10
    assert torch.equal(torch.cat([keep, held]).sort().values, torch.arange(4000))  # disjoint, covers every index
    assert torch.equal(keep, keep.sort().values) and torch.equal(held, held.sort().values)


def test_per_class_split_is_random_but_seeded():
    y = torch.arange(10).repeat_interleave(20)  # 20 of each of 10 classes, sorted
    a, b, c = (data.per_class_split(y, 5, seed=s)[1] for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, torch.cat([torch.arange(5) + 20 * k for k in range(10)]))  # not the first 5 of each


def test_per_class_split_bad_arguments():
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="smallest class"):
        data.per_class_split(y, 2)  # class 2 has one example
    with pytest.raises(ValueError, match="integer class labels"):
        data.per_class_split(y.float(), 1)
    keep, held = data.per_class_split(y, 0)
    assert len(held) == 0 and len(keep) == 6


def test_mnist_subset_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_mnist_subset("validation")


def test_mnist_subset_corrupted_copy_is_caught(tmp_path, monkeypatch):
    copy = tmp_path / "mnist_subset.npz"
    shutil.copyfile(data.MNIST_SUBSET_FILE, copy)
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "MNIST_SUBSET_FILE", copy)
    with pytest.raises(DatasetError, match="sha256"):
        load_mnist_subset("train")


def test_mnist_subset_missing_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MNIST_SUBSET_FILE", tmp_path / "gone.npz")
    with pytest.raises(DatasetError, match="gone.npz"):
        load_mnist_subset("train")


def test_mnist_subset_file_matches_recorded_sha256():
    assert data.sha256_of(data.MNIST_SUBSET_FILE) == data.MNIST_SUBSET_SHA256


def test_sha256_constant_matches_data_readme():
    readme = data.DATA_DIR / "README.md"
    if not readme.exists():
        pytest.skip("data/README.md does not exist yet")
    found = re.findall(r"\b[0-9a-fA-F]{64}\b", readme.read_text(encoding="utf-8"))
    if not found:
        pytest.skip("data/README.md records no sha256 yet")
    assert data.MNIST_SUBSET_SHA256 in {h.lower() for h in found}, (
        f"data/README.md records {found}, gankit/data.py has {data.MNIST_SUBSET_SHA256}"
    )


# --------------------------------------------------------------------------- torchvision offline


class _OfflineMNIST:
    calls: list[bool] = []

    def __init__(self, root, train=True, download=False, **kwargs):
        type(self).calls.append(download)
        if not download:
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize("name, attr", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_load_torchvision_offline_points_at_the_subset(tmp_path, monkeypatch, name, attr):
    import torchvision

    _OfflineMNIST.calls = []
    monkeypatch.setattr(torchvision.datasets, attr, _OfflineMNIST)
    with pytest.raises(DatasetError) as info:
        data.load_torchvision(name, root=tmp_path)
    assert "mnist_subset" in str(info.value)
    assert "URLError" in str(info.value)
    assert _OfflineMNIST.calls == [False, True]  # looked on disk first, then tried to download


def test_load_torchvision_uses_files_on_disk(tmp_path, monkeypatch):
    import torchvision

    class OnDisk:
        def __init__(self, root, train=True, download=False):
            assert not download
            n = 6 if train else 2
            self.data = torch.full((n, 28, 28), 255, dtype=torch.uint8)
            self.targets = torch.arange(n)

    monkeypatch.setattr(torchvision.datasets, "MNIST", OnDisk)
    x, y = data.load_torchvision("mnist", split="test", root=tmp_path)
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32
    assert torch.all(x == 1.0)
    assert y.tolist() == [0, 1]


def test_load_torchvision_bad_arguments():
    with pytest.raises(DatasetError, match="mnist"):
        data.load_torchvision("cifar10")
    with pytest.raises(ValueError, match="split"):
        data.load_torchvision("mnist", split="all")


def test_mixture_is_frozen():
    mix = ring8()
    assert isinstance(mix, Mixture)
    with pytest.raises(Exception):
        mix.std = 1.0


@pytest.mark.parametrize("name", ["ring8", "grid25", "moons", "spiral"])
def test_a_seed_that_is_not_an_int_is_named(name):
    for bad in ("x", 1.5, True, None):
        with pytest.raises(TypeError, match="seed must be an int"):
            data.toy2d(name, n=10, seed=bad)


# --------------------------------------------------------------------------- augmentation


def _moved(x, dy, dx):
    """x moved down by dy and right by dx pixels with zero fill, written out pixel by pixel."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = x[..., i - dy, j - dx]
    return out


def test_random_shift_moves_each_image_by_its_own_offset_within_range():
    x = (torch.arange(25.0) + 1).reshape(1, 1, 5, 5).repeat(200, 1, 1, 1)
    out = data.random_shift(x, 1, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for k in range(len(x)):
        matches = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(out[k], _moved(x[k], dy, dx))]
        assert len(matches) == 1, f"image {k} is not x moved by one offset in [-1, 1]^2"
        seen.add(matches[0])
    assert len(seen) == 9  # all nine offsets, (0, 0) included, occur among 200 draws


def test_random_shift_is_seeded_and_keeps_the_input():
    x = torch.rand(8, 1, 6, 6)
    before = x.clone()
    a = data.random_shift(x, 2, torch.Generator().manual_seed(3))
    b = data.random_shift(x, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(x, before)
    assert torch.equal(data.random_shift(x, 0), x)


@pytest.mark.parametrize("bad, match", [(-1, "max_shift"), (1.5, "max_shift"), (True, "max_shift"), (6, "off the canvas")])
def test_random_shift_and_all_shifts_refuse_bad_offsets(bad, match):
    x = torch.rand(2, 1, 6, 6)
    with pytest.raises(ValueError, match=match):
        data.random_shift(x, bad)
    with pytest.raises(ValueError, match=match):
        data.all_shifts(x, bad)
    with pytest.raises(ValueError, match="N, C, H, W"):
        data.random_shift(x[0], 1)


def test_all_shifts_lists_every_offset_in_order():
    x = torch.rand(3, 1, 5, 5)
    out = data.all_shifts(x, 1)
    assert out.shape == (27, 1, 5, 5)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for block, (dy, dx) in enumerate(offsets):
        assert torch.equal(out[3 * block:3 * block + 3], _moved(x, dy, dx)), (dy, dx)
    assert torch.equal(data.all_shifts(x, 0), x)


def test_digits8_splits_follow_the_protocol():
    """make bench's VAE anchor uses Tomczak's split of scikit-learn's 8×8 digits, in the
    file's order: 1,000 / 350 / 447, together all 1,797, values on the 17-level grid."""
    everything, all_labels = data.load_digits8("all")
    parts = {split: data.load_digits8(split) for split in ("train", "val", "test")}
    assert {split: len(labels) for split, (_, labels) in parts.items()} == {"train": 1000, "val": 350, "test": 447}
    assert torch.equal(torch.cat([images for images, _ in parts.values()]), everything)
    assert torch.equal(torch.cat([labels for _, labels in parts.values()]), all_labels)
    assert everything.shape == (1797, 1, 8, 8)
    levels = everything * (data.DIGITS8_LEVELS - 1)
    assert torch.equal(levels, torch.round(levels)) and levels.min() == 0 and levels.max() == 16
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_digits8("validation")
