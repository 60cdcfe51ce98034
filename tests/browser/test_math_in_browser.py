"""Every lesson's equations, as a student sees them: each lesson opens in JupyterLab (in
headless Chromium), every markdown cell is scrolled into view, and MathJax must have typeset
all of its maths without an error.

tests/test_notebook_text.py reads the notebooks' source (control characters, unbalanced
``$``); this test reads the rendered page, which catches what only MathJax knows about. On
JupyterLab 4.6 (measured with a scratch notebook), a broken formula shows up in one of
three ways, and the test looks for each:

* ``mjx-merror`` — "Math input error" (e.g. a form feed where ``\\frac`` was meant);
* a macro MathJax does not know (``\\foo``) is typeset in red (``mathcolor="red"``);
* unbalanced braces (``$\\frac{a}{b$``) are left untypeset, so the ``$`` stays in the text.

Nothing is executed: the lessons only render (the kernel JupyterLab starts stays idle).
A copy of each lesson is opened, so that autosave cannot write into notebooks/, in a folder
and a named JupyterLab workspace of its own (see rendered_maths_problems).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "build" / "screenshots"
LESSONS = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
LOAD_TIMEOUT_MS = 120_000
TYPESET_TIMEOUT_S = 20  # per cell, for MathJax to finish once the cell is in view
WORKSPACE = "gankit-maths-test"  # named workspaces, apart from the default one that `make lab` and the widget test use

# One markdown cell's state in the page: its maths typeset, its errors, and any `$` or `\(`
# left in the text outside code (maths MathJax never typeset).
_CELL_STATE_JS = r"""
cell => {
  const body = cell.querySelector('.jp-RenderedMarkdown');
  if (!body) return null;
  const errors = [...body.querySelectorAll('mjx-merror')].map(e =>
      e.getAttribute('data-mjx-error') || e.textContent);
  const unknown = [...body.querySelectorAll('mjx-assistive-mml [mathcolor="red"]')].map(e => e.textContent);
  const copy = body.cloneNode(true);
  copy.querySelectorAll('mjx-container, code, pre').forEach(e => e.remove());
  const text = copy.textContent;
  const leftover = [];
  for (const m of text.matchAll(/\$|\\\(|\\\[/g)) leftover.push(text.slice(Math.max(0, m.index - 30), m.index + 30));
  return {typeset: body.querySelectorAll('mjx-container').length, errors, unknown, leftover};
}
"""


def math_spans(markdown: str) -> int:
    """How many formulas a markdown source holds: ``$...$`` and ``$$...$$`` outside code
    (a lower bound for what MathJax must typeset; the test asks for at least this many)."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    display = re.findall(r"\$\$.+?\$\$", text, flags=re.S)
    text = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
    return len(display) + len(re.findall(r"\$[^$\n]+?\$", text))


def test_math_spans_counts_formulas_outside_code():
    assert math_spans("a $x$ and $$\\frac{1}{2}$$ and `$not$` and\n```\n$no$\n```\n$y_i$") == 3
    assert math_spans("no maths, only `$HOME`") == 0
    assert math_spans("$$\nV = 1\n$$") == 1


def rendered_maths_problems(page, jupyter_lab, path: Path, workspace: str | None = None) -> tuple[list[str], int]:
    """Open a copy of the notebook at ``path`` in JupyterLab, scroll through its markdown
    cells, and return what is wrong with their rendered maths, and how many formulas were
    typeset.

    The copy is stored under ``path``'s file name (two notebooks with the same name share
    one copy) and opened in a workspace of its own (``workspace``, by default one named
    after the file): a workspace remembers every notebook opened in it and reopens them all
    as tabs, so with one workspace for all the lessons the last one opened with 14 tabs
    and took twice as long."""
    nb = nbformat.read(path, as_version=4)
    markdown = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]
    expected = {i: math_spans(nb.cells[i].source) for i in markdown}
    # Its own folder and its own JupyterLab workspace: the widget test, which runs later with
    # the same server, must not find these lessons reopened from the default workspace, or
    # its own copy of a lesson overwritten (a "file changed on disk" dialog then blocked its clicks).
    folder = jupyter_lab.root_dir / "maths"
    folder.mkdir(exist_ok=True)
    copy = folder / path.name
    shutil.copyfile(path, copy)
    workspace = workspace or f"{WORKSPACE}-" + re.sub(r"[^A-Za-z0-9_-]", "-", path.stem)
    page.goto(jupyter_lab.url(f"lab/workspaces/{workspace}/tree/maths/{copy.name}"), timeout=LOAD_TIMEOUT_MS)
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    cells.nth(len(nb.cells) - 1).wait_for(state="attached", timeout=LOAD_TIMEOUT_MS)
    if cells.count() != len(nb.cells):
        return [f"JupyterLab shows {cells.count()} cells, the notebook has {len(nb.cells)}"], 0

    problems, typeset_total = [], 0
    for index in markdown:
        element = cells.nth(index)
        element.scroll_into_view_if_needed()
        deadline = time.monotonic() + TYPESET_TIMEOUT_S
        while True:  # MathJax typesets asynchronously once the cell is rendered
            state = element.evaluate(_CELL_STATE_JS)
            settled = state is not None and (
                state["errors"] or state["unknown"] or (not state["leftover"] and state["typeset"] >= expected[index])
            )
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        where = f"markdown cell {index}"  # counting from 0, as nbformat does
        if state is None:
            problems.append(f"{where} was not rendered as markdown")
            continue
        typeset_total += state["typeset"]
        problems += [f"{where}: MathJax error: {error}" for error in state["errors"]]
        problems += [f"{where}: unknown TeX command {name!r}" for name in state["unknown"]]
        if state["leftover"]:
            problems.append(f"{where}: maths left untypeset (unbalanced braces or $?) near {state['leftover'][0]!r}")
        if not (state["errors"] or state["unknown"] or state["leftover"]) and state["typeset"] < expected[index]:
            problems.append(f"{where}: {state['typeset']} formulas typeset, the source has {expected[index]}")
    if sum(expected.values()) and not typeset_total:
        problems.append("no formula was typeset at all: is JupyterLab's MathJax extension missing?")
    return problems, typeset_total


@pytest.mark.browser
def test_broken_maths_is_found(new_page, jupyter_lab, tmp_path):
    """The three ways a formula breaks are each reported (so a green lesson means something)."""
    cells = [
        "fine: $\\frac{a}{b}$ and $$x^2$$",
        "form feed: $\x0crac{a}{b}$",  # a form feed where \\frac was meant: what lesson 11 once held
        "unknown: $\\foo x$",
        "braces: $\\frac{a}{b$ here",
    ]
    path = tmp_path / "broken_maths.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c) for c in cells]), path)
    problems, typeset = rendered_maths_problems(new_page, jupyter_lab, path)
    assert typeset >= 2
    assert not any(p.startswith("markdown cell 0") for p in problems), problems
    assert any(p.startswith("markdown cell 1: MathJax error") for p in problems), problems
    assert any(p.startswith("markdown cell 2: unknown TeX command") for p in problems), problems
    assert any(p.startswith("markdown cell 3: maths left untypeset") for p in problems), problems


@pytest.mark.browser
@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_lesson_maths_renders_without_mathjax_errors(path: Path, new_page, jupyter_lab):
    page_errors: list[str] = []
    new_page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    problems, typeset = rendered_maths_problems(new_page, jupyter_lab, path)
    if problems:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{path.stem}-maths-failure.png"
        new_page.screenshot(path=str(shot))
        message = "\n".join(problems)
        if page_errors:
            message += "\n\nerrors in the page's JavaScript:\n" + "\n".join(page_errors)
        pytest.fail(f"{path.name}: {message}\n(screenshot: {shot})", pytrace=False)
    print(f"\n{path.stem}: {typeset} formulas typeset, no MathJax error")
