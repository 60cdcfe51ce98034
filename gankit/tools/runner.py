"""Running lessons headless: ``gankit run`` and ``make bench``.

A lesson's parameters cell (tagged ``parameters``) holds its defaults. To run a lesson
with other values, papermill's convention is followed, and papermill itself does the
work: the new values go into a cell tagged ``injected-parameters`` placed right after the
parameters cell, so they win over the defaults while the defaults stay visible. The same
notebooks therefore also run with ``papermill`` directly.

    from gankit.tools.runner import run_notebook
    result = run_notebook("notebooks/01_gan_fundamentals.ipynb", {"steps": 500}, out_dir="build")
    result.notebook, result.html, result.seconds

What this module adds to papermill:

* a parameter the lesson does not have is refused *before* anything runs, with the
  lesson's parameters listed (papermill only warns, and the run then ignores the value);
* the kernel is the Python that runs gankit (``sys.executable``), whatever kernel names are
  registered on the machine — the same choice as ``nbval --nbval-current-env``;
* a failing cell raises :class:`LessonRunError`, which names the lesson, the cell (its
  index in the lesson file, counting every cell from 0, as nbval does) and the error;
  the partial notebook (and its HTML) stays on disk to be read;
* an HTML export (nbconvert) next to the executed notebook.
"""

from __future__ import annotations

import ast
import difflib
import contextlib
import io
import os
import sys
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from gankit.tools.translate import output_stem, translation_language

__all__ = [
    "Parameter",
    "ParameterError",
    "LessonRunError",
    "RunResult",
    "read_parameters",
    "parse_value",
    "check_parameters",
    "run_notebook",
    "export_html",
]

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"  # papermill's tag for the cell it adds


class ParameterError(ValueError):
    """A parameter override does not fit the lesson; the message lists what does."""


@dataclass(frozen=True)
class Parameter:
    """One assignment in a lesson's parameters cell: ``steps = 2000  # generator updates``."""

    name: str
    default: str  # the default as written in the cell, e.g. "2e-4" or "None"
    comment: str = ""  # the comment at the end of its line, if any

    def describe(self, width: int = 0) -> str:
        text = f"{self.name:<{width}} = {self.default}"
        return f"{text:<{width + 14}}  # {self.comment}" if self.comment else text


class LessonRunError(RuntimeError):
    """A cell of a lesson raised an error during a headless run.

    Attributes: ``lesson`` (file stem), ``cell_index`` (index in the lesson file, all cells
    counted from 0; None if the failure is not tied to a cell), ``ename`` and ``evalue``
    (the exception's class name and message), ``source`` (the failing cell's code), and
    ``notebook`` / ``html`` (the partial executed notebook and its export, kept on disk).
    """

    def __init__(self, lesson: str, cell_index: int | None, ename: str, evalue: str, source: str,
                 notebook: Path, html: Path | None, seconds: float):
        self.lesson, self.cell_index, self.ename, self.evalue = lesson, cell_index, ename, evalue
        self.source, self.notebook, self.html, self.seconds = source, notebook, html, seconds
        where = f"cell {cell_index}" if cell_index is not None else "a cell"
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        message = f"{lesson} failed in {where}"
        if first_line:
            message += f" (which starts `{first_line.strip()[:80]}`)"
        message += f": {ename}: {evalue}".rstrip(": ")
        message += f"\nThe notebook up to the failure is kept in {notebook}"
        message += f" (and {html})." if html else "."
        super().__init__(message)


@dataclass(frozen=True)
class RunResult:
    """A lesson that ran to its end: where its executed notebook and HTML export are."""

    lesson: str
    notebook: Path
    html: Path | None
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- parameters


def _read(nb_or_path: nbformat.NotebookNode | str | Path) -> tuple[nbformat.NotebookNode, str]:
    """The notebook and the name to call it by in messages (its file stem)."""
    if isinstance(nb_or_path, (str, Path)):
        path = Path(nb_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"No notebook at {path}.")
        return nbformat.read(path, as_version=4), path.stem
    return nb_or_path, "the notebook"


def _parameters_cell_index(nb: nbformat.NotebookNode) -> int | None:
    """The first cell tagged ``parameters`` (papermill uses the first one too)."""
    for i, cell in enumerate(nb.cells):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return i
    return None


def _end_of_line_comment(line: str) -> str:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.COMMENT:
                return tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return ""


def read_parameters(nb_or_path: nbformat.NotebookNode | str | Path) -> dict[str, Parameter]:
    """The parameters of a lesson, in the order its parameters cell assigns them.

    The cell is read with :mod:`ast`, not run: every top-level ``name = value`` (or
    ``name: type = value``) is a parameter. A notebook without a ``parameters`` cell has
    none. A parameters cell that is not plain Python is an error, since nothing could be
    injected after it reliably.
    """
    nb, lesson = _read(nb_or_path)
    index = _parameters_cell_index(nb)
    if index is None:
        return {}
    source = nb.cells[index].source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(
            f"The parameters cell of {lesson} (cell {index}) is not plain Python ({exc.msg}, line {exc.lineno}); "
            f"keep it to simple `name = value` lines."
        ) from exc
    lines = source.splitlines()
    found: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        names = []
        for target in targets:
            elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            names += [t.id for t in elements if isinstance(t, ast.Name)]
        text = ast.get_source_segment(source, node.value) or ast.unparse(node.value)
        comment = _end_of_line_comment(lines[node.end_lineno - 1])
        for name in names:
            found[name] = Parameter(name, text, comment)
    return found


def parse_value(text: str) -> Any:
    """A command-line value, read as ``papermill -p`` reads it: ``True``/``False``, ``None``,
    an int, a float, or else the string itself ("cpu", "data/my_digits")."""
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _kind(value: Any) -> str:
    return {bool: "True or False", int: "a whole number", float: "a number", str: "text"}.get(type(value),
                                                                                          type(value).__name__)


def _check_types(lesson: str, known: dict[str, Parameter], values: dict[str, Any]) -> None:
    """Refuse a value whose type cannot stand where the default's does (``-p steps abc``),
    before anything runs: an int may stand for a float, None and anything may replace None."""
    wrong = []
    for name, value in values.items():
        try:
            default = ast.literal_eval(known[name].default)
        except (ValueError, SyntaxError):  # an expression: nothing to compare with
            continue
        if default is None or value is None:
            continue
        ok = (type(value) is type(default)
              or (isinstance(default, float) and type(value) is int)
              or (isinstance(default, (tuple, list)) and isinstance(value, (tuple, list))))
        if not ok:
            wrong.append(f"{name} = {value!r} ({_kind(value)}), where the lesson's default is "
                         f"{known[name].default} ({_kind(default)})")
    if wrong:
        raise ParameterError(f"{lesson}: " + "; ".join(wrong) + ". Give a value of the default's kind.")


def check_parameters(nb_or_path: nbformat.NotebookNode | str | Path, names) -> None:
    """Raise :class:`ParameterError` unless every name in ``names`` is one of the lesson's
    parameters; the message lists them all, with their defaults and comments. When ``names``
    is a dict of values, also refuse a value of another kind than the default's
    (``-p steps abc``), so that a lesson never starts with a value it cannot use."""
    nb, lesson = _read(nb_or_path)
    known = read_parameters(nb)
    unknown = [name for name in names if name not in known]
    if not unknown:
        if isinstance(names, dict):
            _check_types(lesson, known, names)
        return
    if not known:
        raise ParameterError(
            f"{lesson} has no parameters cell (a code cell tagged `parameters`), so it takes no -p values; "
            f"got {', '.join(unknown)}."
        )
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    width = max(len(n) for n in known)
    listing = "\n".join(f"  {p.describe(width)}" for p in known.values())
    first = next(iter(known.values()))
    what = "parameter" if len(hints) == 1 else "parameters"
    raise ParameterError(
        f"{lesson} has no {what} {', '.join(hints)}. Its parameters are:\n{listing}\n"
        f"Change one with -p NAME VALUE, for example -p {first.name} {first.default}."
    )


# --------------------------------------------------------------------------- the kernel


class _CurrentEnvKernelSpecs(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel on this very Python interpreter."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        # ipykernel: only needed when a kernel is started, not when this module is imported
        import ipykernel.kernelspec

        spec = ipykernel.kernelspec.get_kernel_dict()
        spec["display_name"] = f"Python 3 ({sys.prefix})"
        return KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)


class CurrentEnvKernelManager(AsyncKernelManager):
    """The kernel manager the runner uses: a kernel on ``sys.executable``, so a lesson runs
    against the gankit installed here, whatever kernels Jupyter has registered."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return _CurrentEnvKernelSpecs()


# --------------------------------------------------------------------------- running


def export_html(notebook: str | Path, html: str | Path | None = None) -> Path:
    """Write ``notebook`` as a standalone HTML page (nbconvert); returns its path."""
    # nbconvert is heavy to import: loaded only when HTML is asked for
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    html = Path(html) if html is not None else notebook.with_suffix(".html")
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html.write_text(body, encoding="utf-8")
    return html


def _lesson_cell_index(nb: nbformat.NotebookNode, executed_index: int) -> int:
    """Map an index in the executed notebook back to the lesson file, which has no injected
    parameters cell."""
    injected = [i for i, cell in enumerate(nb.cells) if INJECTED_TAG in cell.get("metadata", {}).get("tags", [])]
    if injected and executed_index > injected[0]:
        return executed_index - 1
    return executed_index


@contextlib.contextmanager
def _kernel_language(lang: str | None):
    """``GANKIT_LANG=lang`` in the environment that the kernel inherits, while a translated lesson
    runs, so that its checks speak its language (gankit._i18n); a ``GANKIT_LANG`` the user set wins."""
    if not lang or os.environ.get("GANKIT_LANG"):
        yield
        return
    os.environ["GANKIT_LANG"] = lang
    try:
        yield
    finally:
        os.environ.pop("GANKIT_LANG", None)


def run_notebook(
    path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | Path = "build",
    *,
    html: bool = True,
    timeout: float | None = None,
    progress: bool = False,
) -> RunResult:
    """Execute the notebook at ``path`` from top to bottom in a fresh kernel.

    ``parameters`` (name → value) are injected after the parameters cell; a name the lesson
    does not have raises :class:`ParameterError` before anything runs. The executed
    notebook is written to ``out_dir/<stem>.ipynb`` as the run goes, and, when ``html``, its
    export to ``out_dir/<stem>.html`` (a translated lesson's stem gets its language,
    ``01_gan_fundamentals.zh_CN``, so it does not replace the English run's, and its checks speak
    its language). The kernel starts in the notebook's folder, as in
    Jupyter and nbval. ``timeout`` limits each cell (seconds; None: no limit);
    ``progress`` shows papermill's progress bar.

    Returns a :class:`RunResult`; a cell that raises gives :class:`LessonRunError` instead,
    with the partial notebook (and HTML) kept.
    """
    # papermill and nbclient are heavy to import: loaded only when a lesson is run
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"No notebook at {path}.")
    nb = nbformat.read(path, as_version=4)
    parameters = dict(parameters or {})
    check_parameters(path, parameters)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{output_stem(nb, path)}.ipynb"  # as given, so that messages show the path the user chose
    if output.resolve() == path:
        raise ValueError(
            f"Refusing to write the executed notebook over the lesson itself ({path}): "
            f"choose another output folder (--out build/)."
        )
    html_path = output.with_suffix(".html") if html else None
    kernel_name = nb.metadata.get("kernelspec", {}).get("name") or "python3"  # any name will do: see _CurrentEnvKernelSpecs

    start = time.perf_counter()
    try:
        with _kernel_language(translation_language(nb)):
            papermill.execute_notebook(
                str(path), str(output), parameters=parameters, kernel_name=kernel_name, language="python",
                progress_bar=progress, execution_timeout=timeout,
                kernel_manager_class=CurrentEnvKernelManager,
                resources={"metadata": {"path": str(path.parent)}},  # the kernel's working directory
            )
    except PapermillExecutionError as exc:
        seconds = time.perf_counter() - start
        executed = nbformat.read(output, as_version=4)
        if html_path is not None:
            export_html(output, html_path)
        # papermill's error marker cells are in `executed` now; count without them
        executed.cells = [c for c in executed.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
        raise LessonRunError(path.stem, _lesson_cell_index(executed, exc.cell_index), exc.ename, exc.evalue,
                             exc.source, output, html_path, seconds) from None
    except (CellTimeoutError, DeadKernelError) as exc:  # no error output: the cell was stopped, or the kernel died
        seconds = time.perf_counter() - start
        executed = nbformat.read(output, as_version=4)
        started = [i for i, c in enumerate(executed.cells) if c.metadata.get("papermill", {}).get("start_time")]
        index = started[-1] if started else None
        if html_path is not None:
            export_html(output, html_path)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if isinstance(exc, CellTimeoutError):
            reason = f"the cell ran longer than the timeout of {timeout:g} s per cell"
        raise LessonRunError(path.stem, None if index is None else _lesson_cell_index(executed, index),
                             type(exc).__name__, reason, executed.cells[index].source if index is not None else "",
                             output, html_path, seconds) from None
    seconds = time.perf_counter() - start
    if html_path is not None:
        export_html(output, html_path)
    return RunResult(path.stem, output, html_path, seconds, parameters)
