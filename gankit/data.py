"""Datasets for the lessons, all of which load offline.

Toy 2-D data (generated from a seed, nothing on disk):

* ``ring8``  — 8 Gaussians on a circle of radius 2, σ = 0.02 (the mode-collapse benchmark
  of the unrolled-GAN, VEEGAN and PacGAN papers);
* ``grid25`` — 25 Gaussians on a 5×5 grid with spacing 2, σ = 0.02 (same papers);
* ``moons``  — two interleaving half circles;
* ``spiral`` — a two-armed spiral.

Images:

* ``mnist_subset`` — 5,000 real MNIST digits (500 per class) bundled in ``data/``, split
  4,000 train / 1,000 test; the loader checks the file's sha256 (see data/README.md).
  Each split is **sorted by digit** (all 0s, then all 1s, …): never take "the first N" as a
  sample or a validation set — use :func:`per_class_split` or a seeded ``torch.randperm``;
* ``mnist`` and ``fashion_mnist`` — the full sets through torchvision, downloaded into
  ``data/`` the first time when you are online. Offline they fail with a message that
  points at ``mnist_subset``.
* ``digits8`` — scikit-learn's bundled 8×8 digits (1,797 images, 17 intensity levels
  0…16, shipped with scikit-learn, so offline), split as in Tomczak's "Deep Generative
  Modeling" examples: the first 1,000 train, the next 350 validation, the rest test.

Your own data, for an instructor's parameters cell: ``load_image_folder(path)`` (one
subfolder per class, converted to the lessons' size and channels) and
``load_text_lines(path)`` (one item per line).

Text for the language-model lessons — the bundled census name lists, and any text file
as lines or fixed-length chunks, turned into character tokens — is in :mod:`gankit.text`.

``load(name, ...)`` reaches the bundled and downloadable sets by name; the functions
below it can be called directly too. Images come as float tensors in [0, 1] with shape
(N, 1, 28, 28).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.utils import check_positive_int, check_seed

__all__ = [
    "DATA_DIR",
    "Mixture",
    "ring8",
    "grid25",
    "mixture",
    "toy2d",
    "moons",
    "spiral",
    "load_mnist_subset",
    "per_class_split",
    "random_shift",
    "all_shifts",
    "load_digits8",
    "load_torchvision",
    "load_image_folder",
    "load_text_lines",
    "load",
    "DATASETS",
    "DatasetError",
]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MNIST_SUBSET_FILE = DATA_DIR / "mnist_subset.npz"
MNIST_SUBSET_SHA256 = "61ac948e767663d725c06655205f5757602f7c6be6cc0f17d0c7ea6050eb0a82"


class DatasetError(RuntimeError):
    """A dataset could not be loaded; the message says why and what to do instead."""


# --------------------------------------------------------------------------- toy 2-D data


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians in the plane.

    Because the density is known exactly, a lesson can compare what a model learned with
    the truth: ``log_prob`` gives log p_data(x), and ``centres`` are the modes that the
    coverage metric counts.
    """

    name: str
    centres: torch.Tensor  # (K, 2)
    std: float

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """n points, shape (n, 2): pick a centre uniformly, add N(0, std² I) noise."""
        _check_n(n)
        gen = torch.Generator().manual_seed(check_seed(seed))
        which = torch.randint(len(self.centres), (n,), generator=gen)
        noise = torch.randn(n, 2, generator=gen) * self.std
        return self.centres[which] + noise

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) for points x of shape (n, 2), shape (n,)."""
        sq = torch.cdist(x.double(), self.centres.double()).pow(2)  # (n, K)
        log_norm = -math.log(2 * math.pi * self.std**2)
        log_comp = log_norm - sq / (2 * self.std**2)
        return (torch.logsumexp(log_comp, dim=1) - math.log(len(self.centres))).to(x.dtype)

    def with_std(self, std: float) -> "Mixture":
        """The same centres with another spread (wider mixtures are easier to look at)."""
        return Mixture(self.name, self.centres, float(std))


def _check_n(n: int) -> None:
    check_positive_int(n, "n (the number of points)")


def ring8(radius: float = 2.0, std: float = 0.02) -> Mixture:
    """8 Gaussians evenly spaced on a circle."""
    angles = torch.arange(8) * (2 * math.pi / 8)
    centres = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return Mixture("ring8", centres, std)


def grid25(spacing: float = 2.0, std: float = 0.02) -> Mixture:
    """25 Gaussians on a 5×5 grid centred on the origin: coordinates -4, -2, 0, 2, 4."""
    coords = (torch.arange(5) - 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    centres = torch.stack([gx.flatten(), gy.flatten()], dim=1).float()
    return Mixture("grid25", centres, std)


_MIXTURES = {"ring8": ring8, "grid25": grid25}


def mixture(name: str) -> Mixture:
    """The benchmark mixture called ``name`` ("ring8" or "grid25"), with its centres."""
    if name not in _MIXTURES:
        raise DatasetError(f"No mixture called {name!r}; the mixtures are {', '.join(_MIXTURES)}.")
    return _MIXTURES[name]()


def moons(n: int, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Two interleaving half circles, shape (n, 2), roughly centred on the origin."""
    _check_n(n)
    gen = torch.Generator().manual_seed(check_seed(seed))
    upper = torch.rand(n, generator=gen) < 0.5
    t = torch.rand(n, generator=gen) * math.pi
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x - 0.5, y - 0.25], dim=1)
    return pts + noise * torch.randn(n, 2, generator=gen)


def spiral(n: int, noise: float = 0.05, turns: float = 1.5, seed: int = 0) -> torch.Tensor:
    """A two-armed spiral reaching radius 2, shape (n, 2)."""
    _check_n(n)
    gen = torch.Generator().manual_seed(check_seed(seed))
    r = torch.sqrt(torch.rand(n, generator=gen))  # sqrt: even density along the arms
    arm = (torch.rand(n, generator=gen) < 0.5).float() * math.pi
    theta = r * turns * 2 * math.pi + arm
    pts = 2 * r[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    return pts + noise * torch.randn(n, 2, generator=gen)


def toy2d(name: str, n: int = 2500, seed: int = 0) -> torch.Tensor:
    """n points from the toy data set ``name``: ring8, grid25, moons or spiral."""
    if name in _MIXTURES:
        return mixture(name).sample(n, seed=seed)
    if name == "moons":
        return moons(n, seed=seed)
    if name == "spiral":
        return spiral(n, seed=seed)
    raise DatasetError(f"No toy 2-D data set called {name!r}; choose one of ring8, grid25, moons, spiral.")


# --------------------------------------------------------------------------- images


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_mnist_subset(split: str = "train", path: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled 5,000 MNIST digits: images (N, 1, 28, 28) in [0, 1] and labels (N,).

    ``split`` is "train" (4,000 digits, 400 per class), "test" (1,000, 100 per class) or
    "all". The file's sha256 is checked first, so a damaged copy is caught here rather
    than showing up as strange training results.

    The digits come **sorted by label**: ``images[:500]`` of the training split are all
    zeros, and ``images[-500:]`` are a hundred 8s and four hundred 9s. Hold digits back with
    :func:`per_class_split`, and show or measure a seeded random subset
    (``images[torch.randperm(len(images), generator=...)[:n]]``), never a leading slice.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    path = Path(path) if path is not None else MNIST_SUBSET_FILE
    if not path.exists():
        raise DatasetError(
            f"The bundled MNIST subset is missing: {path} does not exist. It is part of the "
            f"repository; restore it with `git checkout -- data/mnist_subset.npz`, or rebuild it "
            f"with scripts/make_mnist_subset.py (see data/README.md)."
        )
    if path.resolve() == MNIST_SUBSET_FILE.resolve() and sha256_of(path) != MNIST_SUBSET_SHA256:
        raise DatasetError(
            f"{path} does not match its recorded sha256 (the file is damaged or was replaced). "
            f"Restore it with `git checkout -- data/mnist_subset.npz`, or rebuild it with "
            f"scripts/make_mnist_subset.py (see data/README.md)."
        )
    with np.load(path, allow_pickle=False) as f:
        parts = ["train", "test"] if split == "all" else [split]
        x = np.concatenate([f[f"x_{p}"] for p in parts])
        y = np.concatenate([f[f"y_{p}"] for p in parts])
    images = torch.from_numpy(x).float().div_(255).unsqueeze(1)  # (N, 1, 28, 28)
    return images, torch.from_numpy(y).long()


def per_class_split(labels: torch.Tensor, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(keep, held)`` that hold back ``per_class`` examples of every class.

    ``held`` has ``per_class`` indices of each label in ``labels`` (drawn at random with
    ``seed``), ``keep`` all the others; both are sorted, disjoint, and together cover every
    index once. Use it for a validation set that looks like the training set — unlike
    ``x[-500:]`` of a file sorted by label (:func:`load_mnist_subset`), which would hold back
    only the last digits and train on none of them::

        images, labels = load_mnist_subset("train")
        fit, val = per_class_split(labels, 50)         # 3,500 to train on, 50 of each digit to validate
        x_fit, x_val = images[fit], images[val]
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be a 1-D tensor of integer class labels, got shape {tuple(labels.shape)} "
                         f"and dtype {labels.dtype}.")
    counts = torch.bincount(labels - labels.min()) if len(labels) else torch.zeros(0, dtype=torch.long)
    smallest = int(counts[counts > 0].min()) if len(labels) else 0
    if not isinstance(per_class, int) or per_class < 0 or per_class > smallest:
        raise ValueError(f"per_class must be an int from 0 to {smallest} (the size of the smallest class), "
                         f"got {per_class!r}.")
    gen = torch.Generator().manual_seed(check_seed(seed))
    held = torch.cat([idx[torch.randperm(len(idx), generator=gen)[:per_class]]
                      for idx in (torch.nonzero(labels == c)[:, 0] for c in labels.unique())])
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held] = False
    return keep.nonzero()[:, 0], held.sort().values


def _check_shift(images: torch.Tensor, max_shift: int) -> None:
    """The arguments of :func:`random_shift` and :func:`all_shifts`, refused with the reason."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor of shape (N, C, H, W), got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}.")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be a whole number of pixels >= 0, got {max_shift!r}.")
    h, w = images.shape[-2:]
    if max_shift >= min(h, w):
        raise ValueError(f"max_shift={max_shift} would move {h}x{w} images off the canvas; use less than {min(h, w)}.")


def random_shift(images: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Data augmentation: move each image by its own random whole-pixel offset, up to
    ``max_shift`` pixels in each direction (every offset in [−max_shift, max_shift]² equally
    likely, (0, 0) included), filling the uncovered border with 0 (background).

    A digit moved by a pixel or two is still the same digit, so a model trained on shifted
    copies sees many plausible images where it had one, and can no longer fit each training
    image exactly — the cheapest remedy for a training set too small for its model.
    ``images`` is (N, C, H, W); the result has the same shape and dtype. ::

        x = random_shift(x, max_shift=2, generator=torch.Generator().manual_seed(0))
    """
    _check_shift(images, max_shift)
    n, _, h, w = images.shape
    if max_shift == 0 or n == 0:
        return images.clone()
    m = max_shift
    padded = torch.nn.functional.pad(images, (m, m, m, m))              # (N, C, H + 2m, W + 2m), zeros around
    dy, dx = (torch.randint(-m, m + 1, (2, n), generator=generator)).to(images.device)
    # output pixel (i, j) of image k is input pixel (i - dy, j - dx): a crop of the padded image at (m - dy, m - dx)
    rows = (m - dy)[:, None] + torch.arange(h, device=images.device)[None, :]      # (N, H)
    cols = (m - dx)[:, None] + torch.arange(w, device=images.device)[None, :]      # (N, W)
    k = torch.arange(n, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[k, rows[:, :, None], cols[:, None, :]]         # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def all_shifts(images: torch.Tensor, max_shift: int = 2) -> torch.Tensor:
    """Every copy of every image moved by a whole-pixel offset up to ``max_shift`` in each
    direction (zero fill, as :func:`random_shift`): ``(2·max_shift + 1)²`` copies of each,
    offset by offset, so the result is (N·(2m+1)², C, H, W) and its first N rows are the
    images moved by (−m, −m). With ``max_shift=0`` it is a copy of ``images``.

    What a distance that forgives small shifts compares against: the nearest of these to a
    sample is its nearest training image *up to a shift* (see
    :func:`gankit.metrics.memorisation_ratio`)."""
    _check_shift(images, max_shift)
    h, w = images.shape[-2:]
    m = max_shift
    padded = torch.nn.functional.pad(images, (m, m, m, m))
    # moved by (dy, dx): output pixel (i, j) is input pixel (i - dy, j - dx)
    return torch.cat([padded[..., m - dy:m - dy + h, m - dx:m - dx + w]
                      for dy in range(-m, m + 1) for dx in range(-m, m + 1)])


DIGITS8_LEVELS = 17  # intensities 0…16 in scikit-learn's 8×8 digits
_DIGITS8_SPLITS = {"train": slice(0, 1000), "val": slice(1000, 1350), "test": slice(1350, None), "all": slice(None)}


def load_digits8(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits: images (N, 1, 8, 8) with values level/16 in [0, 1] (17
    levels) and labels (N,).

    ``split`` follows Tomczak's "Deep Generative Modeling" examples, in the file's order:
    "train" (the first 1,000), "val" (the next 350), "test" (the remaining 447), or "all".
    Recover the integer levels with ``torch.round(images * 16)``.
    """
    if split not in _DIGITS8_SPLITS:
        raise ValueError(f"split must be one of {', '.join(_DIGITS8_SPLITS)}, got {split!r}.")
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    part = _DIGITS8_SPLITS[split]
    images = torch.from_numpy(digits.images[part]).float().div_(DIGITS8_LEVELS - 1).unsqueeze(1)  # (N, 1, 8, 8)
    return images, torch.from_numpy(digits.target[part]).long()


_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def load_torchvision(name: str, split: str = "train", root: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Full MNIST or Fashion-MNIST (60,000 train / 10,000 test) through torchvision.

    The files are looked for in ``root`` (default ``data/``) and downloaded there when they
    are missing and you are online. Offline, a DatasetError names the bundled subset.
    """
    if name not in _TORCHVISION:
        raise DatasetError(f"torchvision data sets available here: {', '.join(_TORCHVISION)}; got {name!r}.")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    # torchvision's datasets are heavy to import and only this loader needs them
    import torchvision

    cls = getattr(torchvision.datasets, _TORCHVISION[name])
    root = Path(root) if root is not None else DATA_DIR
    train = split == "train"
    try:
        ds = cls(root=str(root), train=train, download=False)
    except RuntimeError:  # not on disk yet
        try:
            ds = cls(root=str(root), train=train, download=True)
        except Exception as exc:  # URLError, socket errors, HTTP errors, ...
            raise DatasetError(
                f"Could not download {name} ({exc.__class__.__name__}: {exc}). You seem to be "
                f"offline. Use the bundled subset instead, which needs no network: "
                f"gankit.data.load('mnist_subset') — 5,000 real MNIST digits."
            ) from exc
    images = ds.data.float().div_(255).unsqueeze(1)  # (N, 1, 28, 28)
    return images, ds.targets.long()


# --------------------------------------------------------------------------- your own data


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"No {what} at {path}. Check the path in the parameters cell (a relative path starts "
            f"in the notebook's folder; {Path.cwd()} here)."
        )
    return path


def load_image_folder(
    path: str | Path, size: int | None = 28, channels: int = 1
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Your own images, from a folder with one subfolder per class (torchvision's
    ImageFolder convention: ``path/cats/1.png``, ``path/dogs/a.jpg``, ...).

    Each image is converted to ``channels`` (1: greyscale, 3: RGB), resized so that its
    shorter side is ``size`` and cropped to ``size`` x ``size`` around its centre, and
    scaled to [0, 1] — the form of the bundled digits when ``size=28, channels=1``. With
    ``size=None`` the images keep their own size, which must then be the same for all.

    Returns ``(images, labels, class_names)``: a float tensor (N, channels, size, size), the
    class index of each image (N,), and the class names in index order (the sorted folder
    names). Hidden folders (such as ``.ipynb_checkpoints``) and files without an image
    extension are skipped; an empty folder, an empty class or an unreadable image is an
    error that names the folder or the files.
    """
    # Pillow and torchvision's folder reader: heavy, and only this loader needs them
    from PIL import Image
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset
    from torchvision.transforms import functional as TF

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}.")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise ValueError(f"size must be a positive int (pixels per side) or None, got {size!r}.")
    root = _existing(path, "image folder")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file; give the folder that holds one subfolder per class.")

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS]
        hint = (f"It holds {len(loose)} image(s) directly; move them into a subfolder "
                f"(for one class: {root / 'all'}/)." if loose else "It is empty.")
        raise DatasetError(f"No class subfolders in {root}: images go in {root}/<class name>/. {hint}")
    try:
        samples = make_dataset(str(root), {name: i for i, name in enumerate(classes)}, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as exc:  # a class folder without images
        raise DatasetError(f"In {root}: {str(exc).strip().rstrip('.')}. "
                           f"Put images in every class folder or remove the empty ones.") from None

    mode = "L" if channels == 1 else "RGB"
    images, bad = [], []
    for file, _ in samples:
        try:
            with Image.open(file) as im:
                im = im.convert(mode)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
            bad.append(f"{file} ({exc.__class__.__name__}: {exc})")
            continue
        if size is not None:
            im = TF.center_crop(TF.resize(im, size, antialias=True), size)
        images.append(TF.to_tensor(im))  # (channels, H, W) in [0, 1]
    if bad:
        listing = "\n  ".join(bad[:5]) + (f"\n  ... and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DatasetError(f"{len(bad)} of {len(samples)} images in {root} cannot be read:\n  {listing}\n"
                           f"Remove or re-save them (PNG or JPEG).")
    shapes = sorted({tuple(x.shape[1:]) for x in images})
    if len(shapes) > 1:
        seen = ", ".join(f"{h}x{w}" for h, w in shapes[:6]) + (", ..." if len(shapes) > 6 else "")
        raise DatasetError(f"The images in {root} have different sizes ({seen}) and size=None keeps them: "
                           f"pass size=28 (or another side length) to resize them all.")
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    return torch.stack(images), labels, classes


def load_text_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """Your own text items, one per line (names, words, short phrases): each line with the
    spaces around it stripped, empty lines dropped, in file order. An empty file is an
    error rather than an empty data set."""
    file = _existing(path, "text file")
    if not file.is_file():
        raise DatasetError(f"{file} is a folder; give the text file itself (one item per line).")
    try:
        text = file.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{file} is not {encoding} text ({exc}); save it as UTF-8 or pass encoding=...") from None
    items = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not items:
        raise DatasetError(f"{file} has no non-empty line: there is nothing to train on.")
    return items


# --------------------------------------------------------------------------- by name

DATASETS = {
    "ring8": "8 Gaussians on a circle (2-D)",
    "grid25": "25 Gaussians on a 5x5 grid (2-D)",
    "moons": "two moons (2-D)",
    "spiral": "two-armed spiral (2-D)",
    "mnist_subset": "5,000 bundled MNIST digits (offline)",
    "digits8": "1,797 scikit-learn 8x8 digits, 17 levels (offline)",
    "mnist": "full MNIST via torchvision (needs a download once)",
    "fashion_mnist": "full Fashion-MNIST via torchvision (needs a download once)",
}


def load(name: str, *, n: int = 2500, seed: int = 0, split: str = "train"):
    """Load a data set by name. 2-D sets return a (n, 2) tensor; image sets return
    ``(images, labels)``. Unknown names raise an error listing the known ones."""
    if name in ("ring8", "grid25", "moons", "spiral"):
        return toy2d(name, n=n, seed=seed)
    if name == "mnist_subset":
        return load_mnist_subset(split)
    if name == "digits8":
        return load_digits8(split)
    if name in _TORCHVISION:
        return load_torchvision(name, split)
    known = "\n".join(f"  {k:<14} {v}" for k, v in DATASETS.items())
    raise DatasetError(f"Unknown dataset {name!r}. Known datasets:\n{known}")
