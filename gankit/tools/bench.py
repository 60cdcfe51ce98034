"""``make bench``: run every lesson headless and time gankit's training loop.

Writes ``benchmarks/results.json`` (format in DESIGN.md) and the same figures as a table
in ``benchmarks/results.md``. Every number comes from this run:

* per lesson: its wall time (executing the notebook from its first cell to its last,
  default parameters, kernel start included) and the figures it passed to
  ``gankit.report``;
* ``gan_loop_overhead``: :func:`gankit.train.train_gan` against a plain hand-written loop
  doing the same work (same models, data, batch size, optimisers), median of several
  alternating runs, as a ratio;
* ``family_table``: every bundled digit model (DCGAN, VAE, conditional VAE, diffusion with
  and without guidance) drawn 1,000 times and scored on one judge
  (:func:`gankit.recipes.family_table`; lesson 12, section 8), written as its own table.
* ``serve_load``: ``gankit serve`` under load on loopback — 500 one-name requests from 16
  concurrent clients, requests/s, p50/p95/p99 latency and errors, with and without
  micro-batching (:func:`gankit.tools.serve_bench.serve_load`).

    python -m gankit.tools.bench [--lessons 01 02] [--repeats 5] [--skip-lessons]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit import data
from gankit.data import load_digits8, load_mnist_subset
from gankit.metrics import FamilyRow, format_family_table, label_agreement, load_judge, real_reference
from gankit.models import MLPDiscriminator, MLPGenerator
from gankit.models.vae import VAE, VAEConfig, importance_weighted_nll
from gankit.recipes import family_table
from gankit.report import REPORT_FILE_ENV
from gankit.tools import runner
from gankit.tools.lessons import Lesson, find_lessons
from gankit.tools.serve_bench import serve_load
from gankit.train import (
    GANTrainConfig,
    VAETrainConfig,
    evaluate_vae,
    train_gan,
    train_vae,
)
from gankit.utils import get_device

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"

# The 8×8-digits VAE anchor (:func:`digits8_vae`): an MLP VAE with a 17-level categorical
# decoder; dropout, ELU, a cosine learning-rate decay, averaged weights and early stopping
# on the validation −ELBO are what keep it from overfitting 1,000 training images.
DIGITS8_VAE_CONFIG = VAEConfig(image_size=8, channels=1, latent_dim=16, hidden_dims=[512, 512],
                               likelihood="categorical", levels=17, activation="elu", dropout=0.5)
DIGITS8_TRAIN_CONFIG = VAETrainConfig(steps=1500, batch_size=64, lr=2e-3, lr_schedule="cosine", eval_every=100,
                                      keep_best=True, patience=3, ema=0.995)


# --------------------------------------------------------------------------- lessons


def run_lesson(lesson: Lesson, timeout: int = 1800) -> dict:
    """Execute one lesson notebook in a fresh kernel with the runner of ``gankit run``
    (default parameters); return its seconds (kernel start included) and the figures it
    passed to ``gankit.report``. A failing cell raises ``gankit.tools.runner.LessonRunError``."""
    with tempfile.TemporaryDirectory() as tmp:
        report_file = Path(tmp) / "report.jsonl"
        old = os.environ.get(REPORT_FILE_ENV)
        os.environ[REPORT_FILE_ENV] = str(report_file)  # the kernel inherits it
        try:
            result = runner.run_notebook(lesson.path, out_dir=tmp, html=False, timeout=timeout)
        finally:
            if old is None:
                os.environ.pop(REPORT_FILE_ENV, None)
            else:
                os.environ[REPORT_FILE_ENV] = old
        metrics: dict = {}
        if report_file.exists():
            for line in report_file.read_text(encoding="utf-8").splitlines():
                metrics.update(json.loads(line))
    return {"seconds": round(result.seconds, 1), "metrics": metrics}


# --------------------------------------------------------------------------- loop overhead


def _plain_gan_loop(G, D, data, steps, batch_size, seed):
    """The loop a student would write by hand: no history, no progress bar, no checks."""
    gen = torch.Generator().manual_seed(seed)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for _ in range(steps):
        real = data[torch.randint(len(data), (batch_size,), generator=gen)]
        fake = G(torch.randn(batch_size, G.config.latent_dim, generator=gen)).detach()
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(batch_size, G.config.latent_dim, generator=gen)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()


def gan_loop_overhead(repeats: int = 11, steps: int = 500, batch_size: int = 256) -> dict:
    """Median time of gankit's train_gan (progress bar on, as in a lesson) and of the plain
    loop. Runs come in pairs whose order alternates, so that both loops see the same
    machine state on average; a first, uncounted pair warms up."""
    x = data.toy2d("ring8", n=10_000)
    cfg = GANTrainConfig(steps=steps, batch_size=batch_size, seed=0, progress=True)

    def time_kit(r: int) -> float:
        torch.manual_seed(r)
        G, D = MLPGenerator(), MLPDiscriminator()
        with open(os.devnull, "w") as devnull:
            stderr, sys.stderr = sys.stderr, devnull  # the bar is drawn, just not shown
            try:
                t = time.perf_counter()
                train_gan(G, D, x, cfg)
                return time.perf_counter() - t
            finally:
                sys.stderr = stderr

    def time_plain(r: int) -> float:
        torch.manual_seed(r)
        G, D = MLPGenerator(), MLPDiscriminator()
        t = time.perf_counter()
        _plain_gan_loop(G, D, x, steps, batch_size, seed=0)
        return time.perf_counter() - t

    kit, plain = [], []
    for r in range(repeats + 1):
        if r % 2:
            t_plain, t_kit = time_plain(r), time_kit(r)
        else:
            t_kit, t_plain = time_kit(r), time_plain(r)
        if r:  # round 0 warms up
            kit.append(t_kit)
            plain.append(t_plain)
    kit_s, plain_s = statistics.median(kit), statistics.median(plain)
    return {
        "ratio": round(kit_s / plain_s, 3),
        "gankit_seconds": round(kit_s, 3),
        "plain_seconds": round(plain_s, 3),
        "steps": steps,
        "batch_size": batch_size,
        "repeats": repeats,
    }


def digit_judge() -> dict:
    """The bundled digit judge's accuracy on the 1,000 held-out digits, measured now."""
    images, labels = load_mnist_subset("test")
    return {"test_accuracy": round(label_agreement(images, labels, load_judge()), 4), "n": len(labels)}


def digits8_vae(seed: int = 0, k: int = 100, progress: bool = False) -> dict:
    """The VAE likelihood anchor: scikit-learn's 8×8 digits with the protocol of Tomczak's
    "Deep Generative Modeling" examples (1,000 train / 350 validation / 447 test, 17
    intensity levels, a categorical decoder, nats per image). Trains gankit's VAE with
    validation-based early stopping, then measures on the test images the negative ELBO
    (one z per image) and the importance-weighted NLL with ``k`` samples.

    Their VAE reaches about 96.7 nats (−ELBO); gankit's target is test NLL ≤ 92 and
    −ELBO ≤ 95 with ``train_seconds`` ≤ 40 on a 2-core CPU.
    """
    train, _ = load_digits8("train")
    val, _ = load_digits8("val")
    test, _ = load_digits8("test")
    torch.manual_seed(seed)
    model = VAE(DIGITS8_VAE_CONFIG)
    config = dataclasses.replace(DIGITS8_TRAIN_CONFIG, seed=seed, progress=progress)
    start = time.perf_counter()
    history = train_vae(model, train, config, device="cpu", val_data=val)
    seconds = time.perf_counter() - start
    nelbo = evaluate_vae(model, test)["nelbo"]
    nll = importance_weighted_nll(model, test, k=k, generator=torch.Generator().manual_seed(seed)).mean().item()
    return {"test_nll": round(nll, 2), "test_nelbo": round(nelbo, 2), "train_seconds": round(seconds, 1), "k": k,
            "steps": len(history)}


def family_benchmark(n: int = 1000, sample_steps: int = 20, guidance: float = 1.0, seed: int = 0) -> dict:
    """Lesson 12's kit-wide table at 1,000 images per model: every bundled digit model on
    the same judge (:func:`gankit.recipes.family_table`), with the real digits' reference."""
    reference = real_reference()
    rows = family_table(n=n, seed=seed, sample_steps=sample_steps, guidance=guidance)
    return {"n": n, "sample_steps": sample_steps, "guidance": guidance, "seed": seed,
            "real_judge_confident": round(reference.confident, 4), "fd_real_reference": round(reference.fd, 2),
            "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.as_dict().items()}
                     for row in rows]}


# --------------------------------------------------------------------------- output


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    return {"cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": str(get_device()), "python": platform.python_version()}


def write_markdown(results: dict, path: Path) -> None:
    m = results["machine"]
    lines = [
        "# gankit benchmark results",
        "",
        "Written by `make bench` (`python -m gankit.tools.bench`); do not edit by hand.",
        "",
        f"Machine: {m['cpu']}, {m['threads']} threads, torch {m['torch']}, device {m['device']}, "
        f"Python {m['python']}. Run at {results['date']}.",
        "",
        "## Lessons",
        "",
        "| lesson | seconds | figures |",
        "|---|---:|---|",
    ]
    for name, entry in sorted(results["lessons"].items()):
        figures = ", ".join(f"{k} = {v:g}" for k, v in entry["metrics"].items()) or "—"
        lines.append(f"| {name} | {entry['seconds']:.1f} | {figures} |")
    lines += ["", "## Benchmarks", "", "| benchmark | figures |", "|---|---|"]
    for name, entry in results["benchmarks"].items():
        if name == "family_table":
            continue
        lines.append(f"| {name} | " + ", ".join(f"{k} = {v:g}" for k, v in entry.items()) + " |")
    family = results["benchmarks"].get("family_table")
    if family and family.get("rows"):
        lines += ["", "## Every bundled digit model on one judge", "",
                  f"{family['n']} images per model (conditional models asked for each digit equally often), "
                  f"{family['sample_steps']} Euler steps per diffusion image, guidance weight {family['guidance']:g}; "
                  f"real held-out digits: {family['real_judge_confident']:.1%} confident, FD real vs real "
                  f"{family['fd_real_reference']:.1f}. Columns: `gankit.metrics.family`.", "",
                  format_family_table([FamilyRow(**row) for row in family["rows"]])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", nargs="*", default=None, help="lesson numbers or names to run (default: all)")
    parser.add_argument("--skip-lessons", action="store_true", help="only the loop benchmark")
    parser.add_argument("--repeats", type=int, default=11, help="timed runs per loop (median reported)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="folder for results.json / results.md")
    parser.add_argument("--merge", action="store_true",
                        help="keep the entries of an existing results.json for the lessons not run this time "
                             "(with --lessons: re-measure some lessons without running all of them)")
    args = parser.parse_args(argv)

    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "lessons": {}, "benchmarks": {}}
    previous = args.out / "results.json"
    if args.merge and previous.exists():
        old = json.loads(previous.read_text(encoding="utf-8"))
        results["lessons"] = dict(old.get("lessons", {}))
        results["date"] = f"{old.get('date', '?')} and {results['date']} (merged)"
    if not args.skip_lessons:
        lessons = find_lessons()
        if args.lessons:
            lessons = [l for l in lessons if any(l.name.startswith(sel) for sel in args.lessons)]
        for lesson in lessons:
            print(f"running {lesson.name} ...", flush=True)
            results["lessons"][lesson.name] = entry = run_lesson(lesson)
            print(f"  {entry['seconds']:.1f} s  {entry['metrics']}", flush=True)
    print("timing gankit's GAN loop against a plain loop ...", flush=True)
    results["benchmarks"]["gan_loop_overhead"] = entry = gan_loop_overhead(repeats=args.repeats)
    print(f"  {entry}")
    results["benchmarks"]["digit_judge"] = entry = digit_judge()
    print(f"  digit judge: {entry}")
    print("every bundled digit model on one judge ...", flush=True)
    results["benchmarks"]["family_table"] = entry = family_benchmark()
    print(format_family_table([FamilyRow(**row) for row in entry.get("rows", [])]))
    print("training the 8x8-digits VAE anchor ...", flush=True)
    results["benchmarks"]["digits8_vae"] = entry = digits8_vae()
    print(f"  digits8 VAE: {entry}")
    print("gankit serve under load: 500 one-name requests from 16 clients, without and with batching ...", flush=True)
    results["benchmarks"]["serve_load"] = entry = serve_load(requests=500, clients=16, batch_ms=5.0)
    print(f"  serve load: {entry}")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_markdown(results, args.out / "results.md")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
