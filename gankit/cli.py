"""The ``gankit`` command (also ``python -m gankit``).

    gankit doctor    check this installation, offline: versions, device, data, lessons
    gankit lessons   list the lessons with their title and expected CPU time
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
from pathlib import Path
from typing import Callable

__all__ = ["main"]

_PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "tqdm", "ipywidgets", "jupyterlab", "ipykernel", "nbval"]


def _version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _doctor_checks() -> list[tuple[str, Callable[[], str]]]:
    """(name, check) pairs; a check returns a short description or raises."""
    import torch

    from gankit import data, lessons
    from gankit.utils import get_device

    def toy() -> str:
        for name in ("ring8", "grid25", "moons", "spiral"):
            pts = data.toy2d(name, n=100)
            assert pts.shape == (100, 2) and torch.isfinite(pts).all(), f"{name} gave bad points"
        return "ring8, grid25, moons, spiral"

    def mnist_subset() -> str:
        x_tr, y_tr = data.load_mnist_subset("train")
        x_te, _ = data.load_mnist_subset("test")
        counts = torch.bincount(y_tr, minlength=10).tolist()
        assert len(set(counts)) == 1, f"unbalanced classes {counts}"
        return f"{len(x_tr)} train + {len(x_te)} test digits, sha256 ok"

    def device() -> str:
        dev = get_device()
        torch.zeros(2, device=dev).sum().item()  # actually use it
        return f"{dev} (torch threads: {torch.get_num_threads()})"

    def notebooks() -> str:
        found = lessons.find_lessons()
        assert found, f"no lessons found in {lessons.NOTEBOOK_DIR}"
        return f"{len(found)} lesson(s) in {lessons.NOTEBOOK_DIR}"

    return [("device", device), ("toy 2-D data", toy), ("bundled MNIST subset", mnist_subset), ("lessons", notebooks)]


def doctor(_: argparse.Namespace) -> int:
    import gankit

    print(f"gankit {gankit.__version__} — Python {platform.python_version()} on {platform.platform()}")
    missing = []
    for dist in _PACKAGES:
        version = _version_of(dist)
        print(f"  {dist:<12} {version or 'MISSING'}")
        if version is None:
            missing.append(dist)
    problems = [f"missing packages: {', '.join(missing)} (run `make setup` or `pip install -e .`)"] if missing else []

    for name, check in _doctor_checks():
        try:
            print(f"  ok   {name}: {check()}")
        except Exception as exc:  # report every problem, not only the first
            print(f"  FAIL {name}: {exc.__class__.__name__}: {exc}")
            problems.append(name)

    from gankit.data import DATA_DIR

    full = [n for n, sub in (("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")) if (DATA_DIR / sub).is_dir()]
    print(f"  info full datasets on disk: {', '.join(full) or 'none (optional; downloaded on first use when online)'}")
    if problems:
        print(f"\ngankit doctor found {len(problems)} problem(s): {'; '.join(problems)}")
        return 1
    print("\nEverything needed for the lessons is here, offline.")
    return 0


def list_lessons(args: argparse.Namespace) -> int:
    from gankit.lessons import find_lessons

    found = find_lessons(args.dir)
    if not found:
        print(f"No lessons in {args.dir or 'notebooks/'}.")
        return 1
    width = max(len(lesson.name) for lesson in found)
    for lesson in found:
        secs = f"~{lesson.expected_cpu_seconds:.0f} s" if lesson.expected_cpu_seconds else "   ?"
        print(f"{lesson.name:<{width}}  {secs:>7}  {lesson.title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gankit", description="gankit, a Jupyter teaching kit for generative models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("doctor", help="check the installation offline (versions, device, data, lessons)")
    p.set_defaults(func=doctor)
    p = sub.add_parser("lessons", help="list the lessons with their title and expected CPU time")
    p.add_argument("--dir", type=Path, default=None, help="lesson folder (default: the kit's notebooks/)")
    p.set_defaults(func=list_lessons)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
