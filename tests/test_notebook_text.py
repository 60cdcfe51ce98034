"""The lessons' markdown renders: no control characters (a backslash lost in a Python
string turns ``\\frac`` into a form feed and ``\\text`` into a tab), and every ``$`` and
``$$`` of the maths is closed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # everything below space but the newline


def markdown_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def maths_problems(text: str) -> list[str]:
    """What is wrong with the ``$`` delimiters of one markdown cell (code spans and ``\\$``
    set aside), as messages; empty when every formula is closed."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = text.replace("\\$", "")
    problems = []
    if text.count("$$") % 2:
        problems.append("an odd number of $$")
    inline = text.replace("$$", "")
    for n, line in enumerate(inline.split("\n\n")):  # inline maths never spans a paragraph
        if line.count("$") % 2:
            problems.append(f"paragraph {n + 1} has an odd number of $: {line.strip()[:80]!r}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_has_no_control_characters(path):
    for i, source in markdown_cells(path):
        found = CONTROL.search(source)
        assert not found, (f"{path.name} cell {i}: control character {found.group()!r} at "
                           f"{source[max(0, found.start() - 30):found.start() + 10]!r} — a backslash lost "
                           f"(\\f, \\r, \\t, \\b…)? Write the LaTeX in the notebook, not through a Python string.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_formula_is_closed(path):
    for i, source in markdown_cells(path):
        problems = maths_problems(source)
        assert not problems, f"{path.name} cell {i}: " + "; ".join(problems)


@pytest.mark.parametrize("text, ok", [
    ("$a + b$ and $$\\frac{1}{2}$$", True),
    ("price: \\$5 and `$HOME` and $x$", True),
    ("$$x = 1$", False),
    ("the loss $-\\log D(x)", False),
    ("$a$\n\n$b", False),
])
def test_the_checker_catches_an_open_formula(text, ok):
    assert (maths_problems(text) == []) is ok
