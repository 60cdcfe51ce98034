"""Student versions of the lessons: ``gankit student`` and ``make student``.

In a lesson, the reference solution of an exercise sits in a cell tagged ``solution``,
followed by a cell that checks it (``gankit.checks``). The student version is the same
notebook with every solution cell replaced by a stub, and nothing else changed:

* a function keeps its ``def`` line (decorators and signature as written) and its
  docstring; its body becomes ``raise NotImplementedError("Exercise: ...")``, so the check
  that follows says "not written yet" instead of failing somewhere further on;
* a class keeps its header and docstring, and each of its methods becomes such a stub;
* imports stay (they are not the answer), and so do the comments just above a ``def``;
* a variable the cell assigns becomes ``name = ...  # YOUR CODE HERE``, so later cells
  find the name (a check can treat ``...`` as "not written yet");
* any other code becomes a ``# YOUR CODE HERE`` placeholder, and a markdown cell tagged
  ``solution`` (a written answer) becomes "*Write your answer here.*".

The lessons mark the answer itself the way nbgrader does, between ``### BEGIN SOLUTION``
and ``### END SOLUTION`` lines (with nbgrader's metadata on the solution cell and on the
check cell after it), so a course can also hand the lessons out with nbgrader's
``generate_assignment``; this builder replaces each marked region as above and keeps the
rest of the cell. A solution cell without markers is stubbed from its syntax alone.

The stubbed cells are tagged ``exercise`` instead of ``solution``; every output and
execution count is cleared, so no result of the solution leaks either.

    from gankit.tools.student import build_student_versions
    build_student_versions(["notebooks/01_gan_fundamentals.ipynb"], "build/student")
"""

from __future__ import annotations

import ast
import copy
import io
import tokenize
from pathlib import Path
from typing import Iterable

import nbformat

from gankit.tools.translate import LANGUAGES, output_stem, translation_language

__all__ = ["SOLUTION_TAG", "EXERCISE_TAG", "PLACEHOLDER", "BEGIN_SOLUTION", "END_SOLUTION", "stub_source",
           "student_version", "build_student_versions", "solution_cells"]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
PLACEHOLDER = "# YOUR CODE HERE"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"  # nbgrader's markers
MARKDOWN_PLACEHOLDER = "*Write your answer here.*"


def solution_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the cells tagged ``solution``."""
    return [i for i, cell in enumerate(nb.cells) if SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])]


# --------------------------------------------------------------------------- one cell


def _header_end(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[int, int]:
    """(line, column), 1-based line, just after the colon that ends a def/class header:
    the first ``:`` outside brackets that does not belong to a lambda (annotations and
    default values may hold colons of their own, always inside brackets or a lambda)."""
    text = "\n".join(lines[node.lineno - 1:]) + "\n"
    depth = 0
    lambdas = 0  # a lambda in a default value brings a colon of its own
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string == "lambda":
                lambdas += 1
            elif tok.type == tokenize.OP:
                if tok.string in "([{":
                    depth += 1
                elif tok.string in ")]}":
                    depth -= 1
                elif tok.string == ":" and lambdas:
                    lambdas -= 1
                elif tok.string == ":" and depth == 0:
                    return node.lineno - 1 + tok.end[0], tok.end[1]
    except tokenize.TokenError:
        pass
    raise ValueError(f"could not find the end of the header of {node.name!r}")  # not reached for valid code


def _docstring_node(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[0]
    return None


def _stub_def(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, owner: str = "") -> list[str]:
    """The stub of one function or class, as source lines at their original indentation."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    end_row, end_col = _header_end(lines, node)
    header = lines[start - 1:end_row - 1] + [lines[end_row - 1][:end_col]]
    indent = " " * (node.col_offset + 4)
    first = node.body[0]
    if first.lineno > end_row:  # the body's own indentation, when it is on lines of its own
        indent = lines[first.lineno - 1][:first.col_offset]

    out = list(header)
    doc = _docstring_node(node)
    if doc is not None:
        if doc.lineno > end_row:
            out += lines[doc.lineno - 1:doc.end_lineno]
        else:  # def f(): "docstring on the def line"
            out.append(indent + ast.get_source_segment("\n".join(lines), doc))

    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if not methods:
            out += [indent + PLACEHOLDER, indent + "pass"]
        for method in methods:
            if len(out) > len(header):  # a blank line after the docstring or the previous method
                out.append("")
            out += _stub_def(lines, method, owner=f"{node.name}.")
        return out
    what = f"{owner}{node.name}"
    out += [indent + PLACEHOLDER,
            f'{indent}raise NotImplementedError("Exercise: write {what} (see the instructions above).")']
    return out


def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    else:
        return []
    names = []
    for target in targets:
        elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        names += [t.id for t in elements if isinstance(t, ast.Name)]
    return names


def _enclosing_def(lines: list[str], row: int, indent: str) -> str:
    """``Class.method`` or ``function``: the def that encloses line ``row`` (indented ``indent``)."""
    names, width = [], len(indent)
    for line in reversed(lines[:row]):
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if depth < width and stripped.startswith(("def ", "async def ", "class ")):
            names.insert(0, stripped.split("def ", 1)[-1].split("class ", 1)[-1].split("(")[0].split(":")[0].strip())
            width = depth
            if depth == 0:
                break
    return ".".join(names)


def _stub_markers(source: str) -> str:
    """The stub of a solution cell marked the nbgrader way: each region between
    ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes what :func:`stub_source` writes
    for it — in a function, a placeholder and ``raise NotImplementedError``; at the top
    level, ``name = ...`` for the names it assigns (else a placeholder). Everything outside
    the markers stays as written."""
    lines = source.split("\n")
    out: list[str] = []
    row = 0
    while row < len(lines):
        line = lines[row]
        if line.strip() != BEGIN_SOLUTION:
            if line.strip() == END_SOLUTION:
                raise ValueError(f"{END_SOLUTION!r} on line {row + 1} without a {BEGIN_SOLUTION!r} before it.")
            out.append(line)
            row += 1
            continue
        indent = line[:len(line) - len(line.lstrip())]
        end = next((r for r in range(row + 1, len(lines)) if lines[r].strip() == END_SOLUTION), None)
        if end is None:
            raise ValueError(f"{BEGIN_SOLUTION!r} on line {row + 1} has no {END_SOLUTION!r} after it.")
        if indent:
            what = _enclosing_def(lines, row, indent)
            out += [indent + PLACEHOLDER,
                    f'{indent}raise NotImplementedError("Exercise: write {what} (see the instructions above).")']
        else:
            region = "\n".join(lines[row + 1:end])
            try:
                names = [n for node in ast.parse(region).body for n in _assigned_names(node)]
            except SyntaxError:
                names = []
            out += [f"{name} = ...  {PLACEHOLDER}" for name in dict.fromkeys(names)] or [PLACEHOLDER]
        row = end + 1
    return "\n".join(out).rstrip() + "\n"


def stub_source(source: str) -> str:
    """The student's stub for the code of one solution cell (see the module docstring): from
    nbgrader's solution markers when the cell has them, else from the cell's syntax."""
    if BEGIN_SOLUTION in source or END_SOLUTION in source:
        return _stub_markers(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: nothing to keep safely
        return PLACEHOLDER + "\n"
    lines = source.splitlines()
    out: list[str] = []
    defined: set[str] = set()
    previous_end = 0  # last source line (1-based) already accounted for
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        gap = lines[previous_end:start - 1]  # blank lines and comments between statements
        previous_end = node.end_lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out += gap  # the comments just above a def describe it; they stay
            out += _stub_def(lines, node)
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out += [line for line in gap if not line.strip()]
            out += lines[node.lineno - 1:node.end_lineno]
        else:
            names = [n for n in _assigned_names(node) if n not in defined]
            last = next((line for line in reversed(out) if line.strip()), "")
            if names:
                out += [line for line in gap if not line.strip()]
                out += [f"{name} = ...  {PLACEHOLDER}" for name in dict.fromkeys(names)]
                defined.update(names)
            elif last.strip() != PLACEHOLDER:  # one placeholder for a run of other statements
                out += [line for line in gap if not line.strip()]
                out.append(PLACEHOLDER)
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- notebooks


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every ``solution`` cell stubbed and every output cleared. A written
    answer's stub is in the lesson's language (a translated lesson's metadata names it)."""
    nb = copy.deepcopy(nb)
    answer = LANGUAGES.get(translation_language(nb) or "", {}).get("answer_placeholder", MARKDOWN_PLACEHOLDER)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_TAG in tags:
            cell.source = stub_source(cell.source) if cell.cell_type == "code" else answer
            cell.metadata["tags"] = [EXERCISE_TAG if t == SOLUTION_TAG else t for t in tags]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("papermill", None)
    nb.metadata.pop("papermill", None)
    nb.metadata.setdefault("gankit", {})["student_version"] = True
    return nb


def build_student_versions(paths: Iterable[str | Path], out_dir: str | Path = "build/student") -> list[Path]:
    """Write the student version of each notebook in ``paths`` to ``out_dir`` (same file
    names; a translated lesson's gets its language too, ``01_gan_fundamentals.zh_CN.ipynb``);
    returns the paths written. Refuses to write over a lesson itself."""
    out_dir = Path(out_dir)
    written = []
    for path in paths:
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"No notebook at {path}.")
        nb = nbformat.read(path, as_version=4)
        target = (out_dir / f"{output_stem(nb, path)}.ipynb").resolve()  # a translation: NN_name.zh_CN.ipynb
        if target == path:
            raise ValueError(f"Refusing to overwrite the lesson {path} with its student version: "
                             f"choose another output folder (--out build/student/).")
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_version(nb), target)
        written.append(target)
    return written
