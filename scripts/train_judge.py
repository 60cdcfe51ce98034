"""Train the digit judge (data/judge.pt) on the kit's classifier loop, and print its held-out accuracy.

    .venv/bin/python scripts/train_judge.py            # writes data/judge.pt
    .venv/bin/python scripts/train_judge.py --out /tmp/judge.pt

The judge (gankit.models.DigitJudge) is trained on the bundled MNIST subset's training
split (4,000 digits) only; the 1,000 test digits are held out to measure it, and lessons
use them as "real" references. Training is seeded and runs on one CPU thread, so the
same torch version on the same kind of CPU reproduces the same weights (about a minute).
The bundled data/judge.pt was written by this script's earlier loop of its own (one-cycle
schedule, 98.8 %); this one reaches 98.4 % — data/README.md says how to rebuild either.

Small random affine distortions (rotation, scale, shift) stand in for more data: with
4,000 digits the judge would otherwise memorise them, and a judge that has only seen
perfectly centred digits is needlessly harsh on generated ones.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.data import load_mnist_subset  # noqa: E402
from gankit.metrics import JUDGE_FILE  # noqa: E402
from gankit.models import DigitJudge, DigitJudgeConfig, save_checkpoint  # noqa: E402
from gankit.train import ClassifierTrainConfig, accuracy, train_classifier  # noqa: E402
from gankit.utils import seed_everything  # noqa: E402

COMMAND = ".venv/bin/python scripts/train_judge.py"


def distort(images: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Random rotation (±12°), scale (0.9–1.1) and shift (±2 pixels) of each image."""
    n = len(images)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(12)
    scale = 0.9 + 0.2 * torch.rand(n, generator=gen)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / 14)  # affine_grid units: 1 = half the image
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (n, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=JUDGE_FILE)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # one thread: the same sums in the same order, run after run
    seed_everything(args.seed)
    x_train, y_train = load_mnist_subset("train")  # (4000, 1, 28, 28), (4000,)
    x_test, y_test = load_mnist_subset("test")  # (1000, 1, 28, 28), held out

    model = DigitJudge(DigitJudgeConfig())
    steps = args.epochs * math.ceil(len(x_train) / args.batch_size)
    # the kit's classifier loop: AdamW (weight decay 1e-4 on the weight matrices), a warm-up over
    # the first 30 % of the steps and a cosine decay to 0, a fresh random distortion of every batch
    config = ClassifierTrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, weight_decay=1e-4,
                                   warmup_steps=int(0.3 * steps), eval_every=steps // 6, seed=args.seed)
    start = time.perf_counter()
    history = train_classifier(model, (x_train, y_train), config, device="cpu", val_data=(x_test, y_test),
                               augment=distort)
    if history.interrupted:
        raise SystemExit(f"training stopped at step {len(history)}; nothing was written to {args.out}.")
    for step, error in zip(history.val_step, history.val_loss):
        print(f"step {step:5d}  test accuracy {1 - error:.4f}", flush=True)

    test_accuracy = accuracy(model, (x_test, y_test))
    model.eval()
    with torch.no_grad():
        confident = float((model(x_test).softmax(1).max(1).values >= 0.9).double().mean())
    save_checkpoint(
        args.out, model,
        test_accuracy=test_accuracy, test_confident_share=confident, seed=args.seed, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, trained_on="mnist_subset train (4,000)",
        evaluated_on="mnist_subset test (1,000)", command=COMMAND, torch_version=str(torch.__version__),
    )
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"trained in {time.perf_counter() - start:.0f} s")
    print(f"held-out test accuracy: {test_accuracy:.4f} (1,000 digits)")
    print(f"share of test digits judged with confidence >= 0.9: {confident:.4f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB), sha256 {sha}")


if __name__ == "__main__":
    main()
