"""The ``gankit`` command (also ``python -m gankit``).

    gankit doctor    check this installation, offline: versions, device, data, lessons
    gankit lessons   list the lessons with their title and expected CPU time
    gankit run       run lessons headless with parameter overrides (-p NAME VALUE) into build/
    gankit student   write student versions (solution cells replaced by stubs) into build/student/
    gankit train     reproduce a bundled checkpoint from its recipe (see gankit.recipes)
    gankit serve     serve the bundled models as a web API on localhost (see gankit.serve)
    gankit translate build the translated lessons from i18n/<lang>/*.po into build/<lang>/
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
from pathlib import Path
from typing import Callable

import torch

import gankit
from gankit import data, text
from gankit.data import DATA_DIR
from gankit.models import CheckpointError
from gankit.recipes import REPO_ROOT, find_recipes, get_recipe
from gankit.serve import DEFAULT_MODELS, PortInUseError
from gankit.serve import serve as serve_models
from gankit.tools import lessons, messages
from gankit.tools import translate as translation
from gankit.tools.lessons import find_lessons, select_lessons
from gankit.tools.runner import (
    LessonRunError,
    ParameterError,
    check_parameters,
    parse_value,
    read_parameters,
    run_notebook,
)
from gankit.tools.student import build_student_versions, solution_cells
from gankit.utils import get_device

__all__ = ["main"]

_PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "tqdm", "ipywidgets", "jupyterlab", "ipykernel", "nbval"]


def _version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _doctor_checks() -> list[tuple[str, Callable[[], str]]]:
    """(name, check) pairs; a check returns a short description or raises."""

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

    def name_lists() -> str:
        sizes = {which: len(text.load_names(which, "all")) for which in ("female", "male", "surnames")}
        return ", ".join(f"{n:,} {which}" for which, n in sizes.items()) + ", sha256 ok"

    def device() -> str:
        dev = get_device()
        torch.zeros(2, device=dev).sum().item()  # actually use it
        return f"{dev} (torch threads: {torch.get_num_threads()})"

    def notebooks() -> str:
        found = lessons.find_lessons()
        assert found, f"no lessons found in {lessons.NOTEBOOK_DIR}"
        return f"{len(found)} lesson(s) in {lessons.NOTEBOOK_DIR}"

    return [("device", device), ("toy 2-D data", toy), ("bundled MNIST subset", mnist_subset),
            ("bundled name lists", name_lists), ("lessons", notebooks)]


def doctor(_: argparse.Namespace) -> int:
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


    full = [n for n, sub in (("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")) if (DATA_DIR / sub).is_dir()]
    print(f"  info full datasets on disk: {', '.join(full) or 'none (optional; downloaded on first use when online)'}")
    if problems:
        print(f"\ngankit doctor found {len(problems)} problem(s): {'; '.join(problems)}")
        return 1
    print("\nEverything needed for the lessons is here, offline.")
    return 0


def list_lessons(args: argparse.Namespace) -> int:
    found = find_lessons(args.dir)
    if not found:
        print(f"No lessons in {args.dir or 'notebooks/'}.")
        return 1
    width = max(len(lesson.name) for lesson in found)
    for lesson in found:
        secs = f"~{lesson.expected_cpu_seconds:.0f} s" if lesson.expected_cpu_seconds else "   ?"
        print(f"{lesson.name:<{width}}  {secs:>7}  {lesson.title}")
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    try:
        paths = select_lessons(args.notebooks)
        parameters = {name: parse_value(value) for name, value in args.parameter}
        if args.list_parameters:
            for path in paths:
                found = read_parameters(path)
                width = max((len(n) for n in found), default=0)
                print(f"{path.stem}:")
                print("\n".join(f"  {p.describe(width)}" for p in found.values()) or "  (no parameters cell)")
            return 0
        for path in paths:  # every lesson is checked before the first one starts
            check_parameters(path, parameters)
    except (FileNotFoundError, ParameterError) as exc:
        print(f"gankit run: {exc}", file=sys.stderr)
        return 2
    if not paths:
        print("gankit run: no lessons to run.", file=sys.stderr)
        return 2

    failed = []
    for path in paths:
        given = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
        print(f"running {path.stem}" + (f" with {given}" if given else "") + " ...", flush=True)
        try:
            result = run_notebook(path, parameters, args.out, html=not args.no_html, timeout=args.timeout,
                                  progress=True)
        except LessonRunError as exc:
            print(f"FAILED: {exc}", flush=True)
            failed.append(path.stem)
            continue
        outputs = " and ".join(_shown(p) for p in (result.notebook, result.html) if p is not None)
        print(f"  ran in {result.seconds:.1f} s; wrote {outputs}", flush=True)
    if failed:
        print(f"\n{len(failed)} of {len(paths)} lesson(s) failed: {', '.join(failed)}")
        return 1
    return 0


def student(args: argparse.Namespace) -> int:
    # nbformat: only `gankit student` reads notebooks itself (keeps the other commands quick to start)
    import nbformat


    try:
        paths = select_lessons(args.notebooks)
        written = build_student_versions(paths, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"gankit student: {exc}", file=sys.stderr)
        return 2
    for source, target in zip(paths, written):
        n = len(solution_cells(nbformat.read(source, as_version=4)))
        note = f"{n} solution cell(s) replaced by stubs" if n else "no cell tagged `solution`: copied as it is"
        print(f"wrote {_shown(target)}  ({note})")
    return 0


def train(args: argparse.Namespace) -> int:
    if args.list or not args.recipe:
        recipes = find_recipes()
        if not recipes:
            print("No recipes.")
            return 1
        width = max(len(n) for n in recipes)
        for name, recipe in recipes.items():
            params = ", ".join(f"{k}={v!r}" for k, v in recipe.PARAMS.items())
            print(f"{name:<{width}}  {recipe.DESCRIPTION}\n{'':<{width}}  writes {recipe.DEFAULT_OUT}; parameters: {params}")
        return 0 if args.list else 2
    try:
        recipe = get_recipe(args.recipe)
        params = {name: parse_value(value) for name, value in args.parameter}
        unknown = sorted(set(params) - set(recipe.PARAMS))
        if unknown:
            raise KeyError(f"recipe {recipe.NAME!r} has no parameter {', '.join(unknown)}; "
                           f"its parameters: {', '.join(recipe.PARAMS)}.")
    except KeyError as exc:
        print(f"gankit train: {exc.args[0]}", file=sys.stderr)
        return 2
    out = args.out or (REPO_ROOT / recipe.DEFAULT_OUT)
    print(f"training recipe {recipe.NAME} (seed {args.seed}) -> {_shown(out)}", flush=True)
    figures = recipe.train(Path(out), seed=args.seed, progress=not args.quiet, **params)
    for name, value in figures.items():
        print(f"  {name}: {value:.4g}" if isinstance(value, float) else f"  {name}: {value}")
    print(f"wrote {_shown(out)}")
    return 0


def serve(args: argparse.Namespace) -> int:
    try:
        serve_models(args.host, args.port, args.models, request_log=args.request_log,
                     floors={measure: float(share) for measure, share in args.alert_below},
                     batch_window_ms=args.batch_ms, threads=args.threads)
    except PortInUseError as exc:
        print(f"gankit serve: {exc.strerror}", file=sys.stderr)
        return 1
    except (FileNotFoundError, CheckpointError, ValueError, OSError) as exc:  # a model it cannot serve, a bad host
        print(f"gankit serve: {exc}", file=sys.stderr)
        return 2
    return 0


def translate(args: argparse.Namespace) -> int:
    try:
        if args.extract_messages:
            written = messages.extract_messages(args.lang, args.lessons or None)
            for name, m in written.items():
                print(f"updated i18n/{args.lang}/checks/{name}.po: {m.messages} messages, {m.translated} translated, "
                      f"{m.fuzzy} fuzzy, {m.untranslated} untranslated")
            return 0
        if args.extract:
            written = messages.extract_messages(args.lang)
            print(f"updated the message catalogs i18n/{args.lang}/checks/*.po: "
                  f"{sum(m.messages for m in written.values())} messages in {len(written)} catalogs, "
                  f"{sum(m.translated for m in written.values())} translated")
            found = translation.extract(args.lang, args.lessons)
            if not found:
                print(f"gankit translate: no catalog in i18n/{args.lang}/ yet; name a lesson to start one "
                      f"(gankit translate --lang {args.lang} 01 --extract).", file=sys.stderr)
                return 2
            for name, s in found.items():
                print(f"updated i18n/{args.lang}/{name}.po: {s.messages} messages, {s.translated} translated, "
                      f"{s.fuzzy} fuzzy, {s.untranslated} untranslated")
            return 0
        if args.status:
            found = translation.status(args.lang, args.lessons)
            width = max(len(name) for name in found)
            print(f"{'lesson':<{width}}  messages  translated  fuzzy  untranslated")
            for name, s in found.items():
                counts = (f"{s.messages:>8}  {s.translated:>10}  {s.fuzzy:>5}  {s.untranslated:>12}"
                          + ("" if s.has_catalog else "  not yet translated (no catalog)"))
                print(f"{name:<{width}}  {counts}")
            code = messages.message_status(args.lang, args.lessons or None)
            if code:
                width = max(len(name) for name in code)
                print(f"\n{'messages of':<{width}}  messages  translated  fuzzy  untranslated")
                for name, m in code.items():
                    print(f"{name:<{width}}  {m.messages:>8}  {m.translated:>10}  {m.fuzzy:>5}  {m.untranslated:>12}")
            return 0
        built = translation.build(args.lang, args.lessons, args.out or Path("build") / args.lang,
                                  allow_missing=args.allow_missing)
    except (FileNotFoundError, translation.TranslationError, ValueError) as exc:
        print(f"gankit translate: {exc}", file=sys.stderr)
        return 2
    for lesson in built:
        total = lesson.translated + len(lesson.kept_english)
        note = f"; {len(lesson.kept_english)} kept in English" if lesson.kept_english else ""
        print(f"wrote {_shown(lesson.path)}  ({lesson.translated} of {total} markdown cells translated{note})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gankit", description="gankit, a Jupyter teaching kit for generative models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("doctor", help="check the installation offline (versions, device, data, lessons)")
    p.set_defaults(func=doctor)
    p = sub.add_parser("lessons", help="list the lessons with their title and expected CPU time")
    p.add_argument("--dir", type=Path, default=None, help="lesson folder (default: the kit's notebooks/)")
    p.set_defaults(func=list_lessons)
    p = sub.add_parser("run", help="run lessons headless with parameter overrides; write the executed notebook and HTML",
                       description="Run lessons top to bottom in a fresh kernel, with parameter overrides injected "
                                   "after the parameters cell (papermill's convention), and write each executed "
                                   "notebook and its HTML export into --out.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help="lesson notebook files, or lesson numbers such as 01 (default: every lesson)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a parameter; VALUE is read as papermill does: True/False, None, int, float, "
                        "else a string (repeat -p for several)")
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build/)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML export")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell (default: no limit)")
    p.add_argument("--list-parameters", action="store_true", help="print the lessons' parameters and exit")
    p.set_defaults(func=run)
    p = sub.add_parser("student", help="write student versions: every `solution` cell replaced by a stub",
                       description="Write each lesson with every cell tagged `solution` replaced by its stub "
                                   "(the checks stay), ready to hand out.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help="lesson notebook files, or lesson numbers such as 01 (default: every lesson)")
    p.add_argument("--out", type=Path, default=Path("build/student"), help="output folder (default: build/student/)")
    p.set_defaults(func=student)
    p = sub.add_parser("train", help="reproduce a bundled checkpoint from its recipe (gankit train --list)",
                       description="Train one of the recipes behind data/checkpoints/ with the same code as the "
                                   "lessons, and write its checkpoint (by default over the bundled one).")
    p.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--out", type=Path, default=None, help="checkpoint file to write (default: the recipe's file "
                                                          "under data/checkpoints/)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0, the one the bundled file used)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a recipe parameter (repeat for several)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=train)
    p = sub.add_parser("serve", help="serve the bundled models as a web API (names, digits) on localhost",
                       description="Start the gankit service with uvicorn: POST /v1/names and /v1/digits, "
                                   "GET /v1/models, /healthz and /metrics, API docs at /docs and a small page "
                                   "at /. Ctrl-C stops it.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the "
                        "network)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="CHECKPOINT",
                   help=f"bundled checkpoint names or checkpoint files (default: {' '.join(DEFAULT_MODELS)})")
    p.add_argument("--request-log", type=Path, default=Path("build/serve/requests.jsonl"),
                   help="file that gets one JSON line per request (default: build/serve/requests.jsonl)")
    p.add_argument("--alert-below", nargs=2, action="append", default=[], metavar=("MEASURE", "SHARE"),
                   help="raise an alert (GET /v1/monitor, /metrics) while the rolling share of served items "
                        "passing MEASURE (judge_confident, label_agreement, novel) is below SHARE, e.g. "
                        "--alert-below judge_confident 0.6 (repeat for several)")
    p.add_argument("--batch-ms", type=float, default=0.0, metavar="MS",
                   help="answer name requests without a seed in micro-batches: those arriving within MS "
                        "milliseconds share one model call (default: 0, every request alone)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="PyTorch threads per model call (default: 1; see gankit.serve.server for why more "
                        "threads serve small models more slowly when requests come in at once)")
    p.set_defaults(func=serve)
    p = sub.add_parser("translate", help="build the translated lessons (gettext catalogs in i18n/<lang>/)",
                       description="Build build/<lang>/NN_*.ipynb: the English lessons' code, tags and metadata "
                                   "with the markdown from i18n/<lang>/NN_*.po. Refuses while a cell is "
                                   "untranslated or fuzzy, naming it. --extract brings the catalogs in step with "
                                   "the English notebooks; --status counts what is translated.")
    p.add_argument("lessons", nargs="*", metavar="LESSON",
                   help="lesson numbers such as 01, or notebook files (default: every lesson with a catalog; "
                        "--status: every lesson)")
    p.add_argument("--lang", required=True, choices=sorted(translation.LANGUAGES), help="language, e.g. zh_CN")
    p.add_argument("--extract", action="store_true",
                   help="create or update the catalogs from the English notebooks (new cells untranslated, "
                        "changed ones fuzzy, vanished ones obsolete) and exit")
    p.add_argument("--extract-messages", action="store_true",
                   help="update only the catalogs of what the code says, i18n/<lang>/checks/*.po, for the checks "
                        "modules (gan, vae, ...) or lessons named (default: all) and exit")
    p.add_argument("--status", action="store_true",
                   help="print messages, translated, fuzzy and untranslated per lesson and exit")
    p.add_argument("--allow-missing", action="store_true",
                   help="build anyway, keeping the English text of untranslated or fuzzy cells")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: build/<lang>/)")
    p.set_defaults(func=translate)
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
