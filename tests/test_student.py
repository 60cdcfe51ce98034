"""gankit.tools.student and `gankit student`: solution cells become stubs, nothing of the
solution leaks, the checks stay, and a student version runs up to its first exercise and
stops there at the check, with the friendly "not written yet" message.

The leak test reads every lesson in notebooks/ (fast, no kernel). That each lesson's
student version stops at its first check is checked inside `make test`'s nbval run of the
lesson (the repository's conftest.py; its test is below), and the student version of a
new lesson is run with `gankit run`'s runner in tests/test_instructors.py.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from gankit.tools.cli import main
from gankit.tools.lessons import NOTEBOOK_DIR, find_lessons
from gankit.tools.student import (
    EXERCISE_TAG,
    PLACEHOLDER,
    SOLUTION_TAG,
    build_student_versions,
    solution_cells,
    stub_source,
    student_version,
)

LESSONS = find_lessons() if NOTEBOOK_DIR.is_dir() else []
WITH_EXERCISES = [lesson for lesson in LESSONS if solution_cells(nbformat.read(lesson.path, as_version=4))]


# --------------------------------------------------------------------------- stubs


def test_stub_of_functions_keeps_signature_and_docstring():
    source = '''# Exercise 1: the two losses.
def d_loss(real_logits, fake_logits):
    """-[mean log D(x) + mean log(1 - D(G(z)))] on logits."""
    # softplus(-a) = -log sigmoid(a)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits):
    return F.softplus(-fake_logits).mean()
'''
    stub = stub_source(source)
    assert stub == '''# Exercise 1: the two losses.
def d_loss(real_logits, fake_logits):
    """-[mean log D(x) + mean log(1 - D(G(z)))] on logits."""
    # YOUR CODE HERE
    raise NotImplementedError("Exercise: write d_loss (see the instructions above).")


def g_loss(fake_logits):
    # YOUR CODE HERE
    raise NotImplementedError("Exercise: write g_loss (see the instructions above).")
'''


def test_stub_keeps_decorators_multiline_signatures_and_imports():
    source = '''import torch
from torch import nn

@torch.no_grad()
def causal_mask(
    T: int,
    key: dict[str, int] = {"a": 1},  # a colon inside brackets
    f=lambda x: x,                   # and one in a lambda
) -> torch.Tensor:
    """A (T, T) mask.

    True where attention may look."""
    return torch.ones(T, T, dtype=torch.bool).tril()

def one_liner(x): return x * 2
'''
    stub = stub_source(source)
    ast.parse(stub)
    assert stub.startswith("import torch\nfrom torch import nn\n\n@torch.no_grad()\ndef causal_mask(\n    T: int,\n")
    assert ') -> torch.Tensor:\n    """A (T, T) mask.\n\n    True where attention may look."""\n    # YOUR CODE HERE\n' in stub
    assert "tril" not in stub and "x * 2" not in stub
    assert "def one_liner(x):\n    # YOUR CODE HERE\n    raise NotImplementedError(" in stub


def test_stub_of_a_class_stubs_each_method():
    source = '''class Head(nn.Module):
    """One attention head."""
    scale = 0.125

    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, x):
        return x * self.d
'''
    stub = stub_source(source)
    namespace = {"nn": __import__("torch").nn}
    exec(compile(stub, "<stub>", "exec"), namespace)
    assert namespace["Head"].__doc__ == "One attention head."
    with pytest.raises(NotImplementedError, match=r"Exercise: write Head.__init__"):
        namespace["Head"](3)
    assert "scale" not in stub and "self.d = d" not in stub and "x * self.d" not in stub


def test_stub_of_statements_keeps_assigned_names():
    stub = stub_source("mask = torch.ones(T, T).tril()\nmask[0, 0] = 0\nfor i in range(3):\n    print(i)\nbeta, gamma = 1, 2\n")
    assert stub == f"mask = ...  {PLACEHOLDER}\n{PLACEHOLDER}\nbeta = ...  {PLACEHOLDER}\ngamma = ...  {PLACEHOLDER}\n"
    namespace: dict = {}
    exec(stub, namespace)  # later cells find the names (a check can test for ...)
    assert namespace["mask"] is Ellipsis


def test_stub_of_code_that_is_not_python():
    assert stub_source("%timeit f(x)\n") == PLACEHOLDER + "\n"


def _lesson(cells, outputs=True):
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        if kind == "code" and outputs:
            cell.outputs = [nbformat.v4.new_output("stream", text=f"output of {source[:20]}")]
            cell.execution_count = 1
        nb.cells.append(cell)
    return nb


def test_student_version_changes_only_solution_cells_and_clears_outputs():
    nb = _lesson([
        ("markdown", "# 01 · x", ()),
        ("code", "steps = 1", ("parameters",)),
        ("code", "def f(x):\n    return x + 41\n", (SOLUTION_TAG,)),
        ("code", "check(f)", ()),
        ("markdown", "The answer is 42 because ...", (SOLUTION_TAG, "other")),
    ])
    student = student_version(nb)
    assert [c.source for c in student.cells[:2]] == [c.source for c in nb.cells[:2]]
    assert student.cells[3].source == "check(f)"
    assert "x + 41" not in student.cells[2].source and "def f(x):" in student.cells[2].source
    assert student.cells[4].source == "*Write your answer here.*"
    assert student.cells[2].metadata["tags"] == [EXERCISE_TAG]
    assert student.cells[4].metadata["tags"] == [EXERCISE_TAG, "other"]
    for cell in student.cells:
        if cell.cell_type == "code":  # the solution's output would leak it too
            assert cell.outputs == [] and cell.execution_count is None
    assert student.metadata["gankit"]["student_version"] is True
    assert "x + 41" in nb.cells[2].source and nb.cells[2].outputs  # the original is not modified


def test_build_student_versions_refuses_to_overwrite_the_lesson(tmp_path):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(_lesson([("code", "x = 1", ())]), str(path))
    with pytest.raises(ValueError, match="Refusing to overwrite"):
        build_student_versions([path], tmp_path)
    with pytest.raises(FileNotFoundError):
        build_student_versions([tmp_path / "02_missing.ipynb"], tmp_path / "out")


# --------------------------------------------------------------------------- every lesson: nothing leaks


def _body_lines(source: str) -> set[str]:
    """The lines of a solution cell that are the answer: every function's body (after its
    docstring), and every top-level statement that is not a def, class or import. Written
    independently of gankit.tools.student, so that a bug there cannot hide here."""
    tree = ast.parse(source)
    lines = source.splitlines()
    answer: set[int] = set()
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            answer.update(range(node.lineno, node.end_lineno + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):  # class attributes and other non-method statements
            for item in node.body:
                docstring = isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant) and item is node.body[0]
                if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not docstring:
                    answer.update(range(item.lineno, item.end_lineno + 1))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
            if has_doc:
                start = body[0].end_lineno + 1
            else:  # the first line after the signature, which ends with ":" (comments included)
                start = next(i for i in range(node.lineno, node.end_lineno + 1)
                             if re.sub(r"#.*", "", lines[i - 1]).rstrip().endswith(":")) + 1
            answer.update(range(start, node.end_lineno + 1))
    return {lines[i - 1].strip() for i in answer if re.search(r"[A-Za-z0-9]", lines[i - 1])}


def _cell_lines(cells) -> set[str]:
    return {line.strip() for cell in cells for line in cell.source.splitlines()}


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_no_solution_text_leaks_into_the_student_version(lesson):
    nb = nbformat.read(lesson.path, as_version=4)
    solutions = solution_cells(nb)
    student = student_version(nb)
    assert len(student.cells) == len(nb.cells)
    others = [c for i, c in enumerate(nb.cells) if i not in solutions]
    kept = [c for i, c in enumerate(student.cells) if i not in solutions]
    assert [c.source for c in kept] == [c.source for c in others], "a cell that is not a solution changed"
    stub_lines = _cell_lines([student.cells[i] for i in solutions])
    elsewhere = _cell_lines(others)  # lines the lesson shows anyway, outside its solutions
    all_student_lines = _cell_lines(student.cells)
    for i in solutions:
        if nb.cells[i].cell_type != "code":
            assert student.cells[i].source == "*Write your answer here.*"
            continue
        body = _body_lines(nb.cells[i].source)
        assert body, f"{lesson.name} cell {i}: a solution cell with no answer lines?"
        for line in body:
            assert line not in stub_lines, f"{lesson.name} cell {i}: the stub still holds {line!r}"
            if line not in elsewhere:
                assert line not in all_student_lines, f"{lesson.name} cell {i}: {line!r} is in the student version"
        assert SOLUTION_TAG not in student.cells[i].metadata.get("tags", [])


@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=lambda lesson: lesson.name)
def test_every_exercise_is_followed_by_a_check(lesson):
    """The structure the student-version run relies on: after the solution cells of an
    exercise comes a code cell that calls a check from gankit.checks."""
    nb = nbformat.read(lesson.path, as_version=4)
    solutions = solution_cells(nb)
    for i in solutions:
        after = next((j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"), None)
        assert after is not None, f"{lesson.name}: solution cell {i} is the last code cell; add its check after it"
        if after in solutions:
            continue
        assert "checks." in nb.cells[after].source, f"{lesson.name}: cell {after} after solution cell {i} calls no check"


# --------------------------------------------------------------------------- the command


@pytest.mark.skipif(not LESSONS, reason="no lessons yet")
def test_cli_student_writes_every_lesson(tmp_path, capsys):
    assert main(["student", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(lesson.path.name for lesson in LESSONS)
    for lesson in LESSONS:
        assert lesson.path.name in out
        written = nbformat.read(tmp_path / lesson.path.name, as_version=4)
        assert solution_cells(written) == []
        nbformat.validate(written)
    for lesson in WITH_EXERCISES:
        assert re.search(rf"{lesson.path.name}\s+\(\d+ solution cell\(s\) replaced by stubs\)", out)


def test_cli_student_one_notebook(tmp_path, capsys):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(_lesson([("code", "x = 1", ())], outputs=False), str(path))
    assert main(["student", str(path), "--out", str(tmp_path / "student")]) == 0
    assert "no cell tagged `solution`" in capsys.readouterr().out
    assert (tmp_path / "student" / "01_x.ipynb").exists()
    assert main(["student", "no_such_lesson_xyz", "--out", str(tmp_path)]) == 2


# --------------------------------------------------------------------------- the student version runs up to its first exercise
#
# For the bundled lessons this is checked inside `make test`'s nbval run of each lesson, in
# its kernel, just before the first solution cell (the repository's conftest.py adds the
# items "Cell N · student stub" and "Cell N · student check"): executing every lesson a
# second time up to its first exercise cost 4-5 minutes of `make test`. Here that plugin
# meets a lesson whose first check passes, one whose check crashes, and a good one.

_SETUP = "from gankit.checks.core import not_written"
_SOLUTION = "def f():\n    return 1"
_GOOD_CHECK = ("try:\n    value = f()\nexcept NotImplementedError:\n    raise not_written('f') from None\n"
               "assert value == 1")


def _tiny_lesson(path, check: str) -> None:
    cells = [nbformat.v4.new_markdown_cell("# 01 · A tiny lesson"), nbformat.v4.new_code_cell(_SETUP),
             nbformat.v4.new_code_cell(_SOLUTION, metadata={"tags": [SOLUTION_TAG]}), nbformat.v4.new_code_cell(check)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def test_make_test_runs_each_lessons_first_check_against_the_stubs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    lessons = {"good": _GOOD_CHECK, "passes": "print('this check checks nothing')", "crashes": "g()"}
    for name, check in lessons.items():
        (tmp_path / name).mkdir()
        _tiny_lesson(tmp_path / name / "01_tiny.ipynb", check)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "--nbval-lax", "--nbval-current-env",
                           "-p", "no:cacheprovider", "-rA", "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=Path(__file__).resolve().parents[1],  # where conftest.py can be imported from
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    results = {f"{lesson}: {cell}": outcome for outcome, lesson, cell in
               re.findall(r"^(PASSED|FAILED) \S*?(\w+)/01_tiny.ipynb::(Cell \d+(?: · student \w+)?)", out, flags=re.M)}
    assert results["good: Cell 1 · student stub"] == "PASSED", out
    assert results["good: Cell 2 · student check"] == "PASSED", out
    assert results["good: Cell 2"] == "PASSED", out  # the solution's own run, after the stub's
    assert results["passes: Cell 2 · student check"] == "FAILED", out
    assert "passed against the stubs" in out
    assert results["crashes: Cell 2 · student check"] == "FAILED", out
    assert "it raised NameError" in out
    assert proc.returncode == 1, out


# --------------------------------------------------------------------------- nbgrader's markers


def test_marked_regions_are_stubbed_and_the_rest_kept():
    source = '''import torch


def f(x):
    """Double it."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


class Net:
    def forward(self, x):
        ### BEGIN SOLUTION
        return x + 1
        ### END SOLUTION


### BEGIN SOLUTION
answer = 42
### END SOLUTION
'''
    stub = stub_source(source)
    assert "2 * x" not in stub and "x + 1" not in stub and "42" not in stub and "SOLUTION" not in stub
    assert '    """Double it."""\n    # YOUR CODE HERE\n    raise NotImplementedError("Exercise: write f ' in stub
    assert 'raise NotImplementedError("Exercise: write Net.forward ' in stub
    assert "answer = ...  # YOUR CODE HERE" in stub and stub.startswith("import torch\n")


@pytest.mark.parametrize("source, match", [
    ("### BEGIN SOLUTION\nx = 1\n", "has no '### END SOLUTION'"),
    ("x = 1\n### END SOLUTION\n", "without a '### BEGIN SOLUTION'"),
])
def test_unbalanced_markers_are_an_error(source, match):
    with pytest.raises(ValueError, match=match):
        stub_source(source)


@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=lambda lesson: lesson.name)
def test_every_solution_is_marked_for_nbgrader_and_both_stubs_agree(lesson):
    """Each solution cell marks its answer and carries nbgrader's metadata, its check cell is
    a locked, graded cell, and the stub built from the markers is the one built from syntax."""
    nb = nbformat.read(lesson.path, as_version=4)
    ids = set()
    for i in solution_cells(nb):
        cell, check = nb.cells[i], nb.cells[i + 1]
        if cell.cell_type != "code":
            continue
        assert "### BEGIN SOLUTION" in cell.source, f"{lesson.name} cell {i}: mark the answer for nbgrader"
        meta, check_meta = cell.metadata.get("nbgrader", {}), check.metadata.get("nbgrader", {})
        assert meta.get("solution") is True and meta.get("grade") is False, f"{lesson.name} cell {i}"
        assert check_meta.get("grade") is True and check_meta.get("locked") is True and check_meta.get("points", 0) > 0
        assert meta["grade_id"] not in ids and check_meta["grade_id"] not in ids  # nbgrader needs unique ids
        ids |= {meta["grade_id"], check_meta["grade_id"]}
        plain = "\n".join(line for line in cell.source.split("\n")
                          if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
        assert stub_source(cell.source) == stub_source(plain)
