"""A student's view of the lessons: JupyterLab serves the kit, a lesson runs in a real
(headless) Chromium, and its widget renders and responds.

nbval proves that a notebook executes in a kernel; this proves that a student who opens
JupyterLab sees the widget, and that moving its slider redraws the picture.

What runs, and why it is a copy
    Each lesson is copied into the server's temporary root folder, so that JupyterLab's
    autosave never writes outputs into notebooks/ (they are stored clean). The copy is the
    real lesson, every cell unchanged, with one cell added after the parameters cell,
    tagged ``injected-parameters`` as papermill does, that lowers the number of training
    steps (FAST_PARAMETERS). The widget shows the same snapshots, only fewer steps apart;
    the lesson at its default parameters is run by nbval in the same ``make test``. On
    this shared 2-core machine (load 8) the cells above lesson 01's widget took 58 s at
    the defaults and 19 s with steps=300, so the test stays well under two minutes (the
    kernel runs one PyTorch thread: see conftest.py).

By default the first lesson with a widget is checked; ``GANKIT_BROWSER_ALL=1`` (``make
test-browser-all``) checks every lesson that has one. Screenshots of the widget before
and after the slider moves are saved in build/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from gankit import widgets as gankit_widgets

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "build" / "screenshots"
CHECK_ALL = os.environ.get("GANKIT_BROWSER_ALL", "").strip().lower() in {"1", "true", "yes"}

# Per lesson, parameter values that make the run up to the widget quick (see the docstring).
FAST_PARAMETERS: dict[str, dict[str, object]] = {
    "01_gan_fundamentals": {"steps": 300},
}

LOAD_TIMEOUT_MS = 120_000  # JupyterLab's page, then the kernel, on a busy machine
RUN_TIMEOUT_S = 360  # the cells up to the widget, on a busy machine
REDRAW_TIMEOUT_S = 30

# A call of one of gankit.widgets' explorers, e.g. `widgets.snapshot_explorer(...)`.
WIDGET_CALL = re.compile(r"\bwidgets\.(" + "|".join(map(re.escape, gankit_widgets.__all__)) + r")\s*\(")


@dataclass
class WidgetLesson:
    path: Path
    widget_cell: int  # index in the lesson's cells
    explorer: str  # the gankit.widgets function it calls

    @property
    def name(self) -> str:
        return self.path.stem


def find_widget_lessons(directory: Path = NOTEBOOKS) -> list[WidgetLesson]:
    """Every lesson with a cell that shows one of gankit's widgets, with its first such cell."""
    lessons = []
    for path in sorted(directory.glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            match = WIDGET_CALL.search(cell.source) if cell.cell_type == "code" else None
            if match:
                lessons.append(WidgetLesson(path, index, match.group(1)))
                break
    return lessons


def _lessons_to_check() -> list[WidgetLesson]:
    lessons = find_widget_lessons()
    return lessons if CHECK_ALL else lessons[:1]


def prepare_copy(lesson: WidgetLesson, root_dir: Path) -> tuple[Path, int]:
    """Copy the lesson into root_dir with FAST_PARAMETERS injected after its parameters cell.
    Returns the copy's path and the widget cell's index in the copy."""
    nb = nbformat.read(lesson.path, as_version=4)
    widget_cell = lesson.widget_cell
    overrides = FAST_PARAMETERS.get(lesson.name, {})
    if overrides:
        tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
        assert tagged, f"{lesson.path.name} has no cell tagged 'parameters' to override"
        unknown = [name for name in overrides if not re.search(rf"^{name}\s*=", nb.cells[tagged[0]].source, re.M)]
        assert not unknown, f"FAST_PARAMETERS names {unknown}, which {lesson.path.name}'s parameters cell lacks"
        source = "# Parameters injected by the browser test (tests/browser): fewer steps, same lesson\n"
        source += "".join(f"{name} = {value!r}\n" for name, value in overrides.items())
        nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
        if tagged[0] < widget_cell:
            widget_cell += 1
    copy = root_dir / lesson.path.name
    nbformat.write(nb, copy)
    return copy, widget_cell


def test_find_widget_lessons_finds_lesson_01():
    """The generic search finds the explorer in lesson 01 (so the browser test checks it)."""
    lessons = {lesson.name: lesson for lesson in find_widget_lessons()}
    assert "01_gan_fundamentals" in lessons
    lesson = lessons["01_gan_fundamentals"]
    assert lesson.explorer == "snapshot_explorer"
    cell = nbformat.read(lesson.path, as_version=4).cells[lesson.widget_cell]
    assert "widgets.snapshot_explorer(" in cell.source


def test_find_widget_lessons_takes_gankit_widgets_only(tmp_path):
    def lesson(name, *sources):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
        nbformat.write(nb, tmp_path / name)

    lesson("01_a.ipynb", "import ipywidgets as widgets", "widgets.IntSlider()")  # not one of gankit's
    lesson("02_b.ipynb", "x = 1", "from gankit import widgets", "widgets.snapshot_explorer(a)", "widgets.snapshot_explorer(b)")
    lesson("03_c.ipynb", "gankit.widgets.snapshot_explorer(snaps)")
    found = [(lesson.path.name, lesson.widget_cell) for lesson in find_widget_lessons(tmp_path)]
    assert found == [("02_b.ipynb", 2), ("03_c.ipynb", 0)]


def test_prepare_copy_injects_parameters_after_the_parameters_cell(tmp_path):
    lesson = find_widget_lessons()[0]
    copy, widget_index = prepare_copy(lesson, tmp_path)
    original, nb = nbformat.read(lesson.path, as_version=4), nbformat.read(copy, as_version=4)
    injected = [i for i, cell in enumerate(nb.cells) if "injected-parameters" in cell.metadata.get("tags", [])]
    overrides = FAST_PARAMETERS.get(lesson.name, {})
    assert len(injected) == (1 if overrides else 0)
    if injected:
        assert "parameters" in nb.cells[injected[0] - 1].metadata.get("tags", [])
        assert all(f"{name} = {value!r}" in nb.cells[injected[0]].source for name, value in overrides.items())
    assert nb.cells[widget_index].source == original.cells[lesson.widget_cell].source
    assert len(nb.cells) == len(original.cells) + len(injected)


# --------------------------------------------------------------------------- in the browser


class LessonPage:
    """One lesson open in JupyterLab, with what the test asks of it."""

    def __init__(self, page, lesson: WidgetLesson):
        self.page, self.lesson = page, lesson
        self.page_errors: list[str] = []
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
        self.cells = self.notebook.locator(".jp-Cell")
        self.idle = page.locator('.jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status="idle"]')

    def errors(self) -> list[str]:
        """Tracebacks shown in the notebook, and widgets that failed to display. (stderr alone,
        e.g. a progress bar or a warning, is not an error.) textContent, not innerText: cells
        scrolled out of view are not rendered, and their innerText is empty."""
        stderr = self.notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        errors = [text for text in stderr.all_text_contents() if "Traceback" in text]
        outputs = self.notebook.locator(".jp-OutputArea-output").all_text_contents()
        return errors + [text for text in outputs if "Error displaying widget" in text]

    def prompts(self, upto: int) -> list[str]:
        """The input prompts ("[3]:", "[*]:", "[ ]:") of the code cells before cell `upto`."""
        return self.notebook.evaluate(
            """(nb, upto) => [...nb.querySelectorAll('.jp-Cell')].slice(0, upto)
                .filter(cell => cell.classList.contains('jp-CodeCell'))
                .map(cell => (cell.querySelector('.jp-InputPrompt')?.textContent ?? '').trim())""",
            upto,
        )

    def fail(self, message: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{self.lesson.name}-failure.png"
        self.page.screenshot(path=str(shot))
        if self.page_errors:
            message += "\n\nerrors in the page's JavaScript:\n" + "\n".join(self.page_errors)
        pytest.fail(f"{message}\n(screenshot: {shot})", pytrace=False)

    def wait_for(self, condition, what: str, timeout_s: float) -> None:
        """Poll `condition` until it holds; fail at once when a cell shows an error."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            errors = self.errors()
            if errors:
                self.fail(f"a cell showed an error while waiting for {what}:\n\n" + "\n\n".join(errors))
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(0.5)

    def menu(self, menu: str, item: str | re.Pattern) -> None:
        """Click a menu-bar entry, then one of its items, as a student would."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
        self.page.locator(".lm-Menu:visible .lm-Menu-item", has_text=item).first.click()

    def dismiss_news_prompt(self) -> None:
        """JupyterLab's first-start question about news, so that its toast hides nothing."""
        toast = self.page.locator(".Toastify__toast", has_text="Jupyter news")
        if toast.count():
            toast.get_by_role("button", name="No", exact=True).click()
            toast.wait_for(state="detached", timeout=5_000)


def _ran(prompt: str) -> bool:
    return re.fullmatch(r"\[\d+\]:", prompt) is not None


@pytest.mark.browser
@pytest.mark.parametrize("lesson", _lessons_to_check(), ids=lambda lesson: lesson.name)
def test_lesson_widget_renders_and_responds(lesson: WidgetLesson, new_page, jupyter_lab):
    from playwright.sync_api import expect  # imported here: the `browser` fixture skips (or fails) without it

    started = time.monotonic()
    (SCREENSHOTS / f"{lesson.name}-failure.png").unlink(missing_ok=True)  # from an earlier run
    copy, widget_index = prepare_copy(lesson, jupyter_lab.root_dir)
    n_cells = len(nbformat.read(copy, as_version=4).cells)
    lab = LessonPage(new_page, lesson)

    # (1) open the lesson through its URL, as `make lab` does, and wait for an idle kernel
    lab.page.goto(jupyter_lab.url(f"lab/tree/{copy.name}"), timeout=LOAD_TIMEOUT_MS)
    lab.idle.wait_for(timeout=LOAD_TIMEOUT_MS)
    expect(lab.cells).to_have_count(n_cells, timeout=LOAD_TIMEOUT_MS)  # cells render progressively
    opened_s = time.monotonic() - started

    # (2) select the widget cell and run every cell above it
    widget_cell = lab.cells.nth(widget_index)
    widget_cell.scroll_into_view_if_needed()
    widget_cell.locator(".jp-InputPrompt").click()
    expect(widget_cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
    lab.menu("Run", "Run All Above Selected Cell")
    lab.wait_for(
        lambda: all(map(_ran, lab.prompts(widget_index))),
        f"the {len(lab.prompts(widget_index))} code cells above the widget to run",
        RUN_TIMEOUT_S,
    )
    ran_s = time.monotonic() - started - opened_s

    # (3) run the widget cell itself (still selected); its control appears, then the figure
    expect(widget_cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
    lab.menu("Run", re.compile(r"^Run Selected Cells?"))
    output = widget_cell.locator(".jp-OutputArea-output").filter(has=lab.page.locator(".widget-vbox")).first
    slider = output.locator(".widget-slider .noUi-handle")
    dropdown = output.locator("select")
    figure = output.locator(".widget-output img")
    lab.wait_for(
        lambda: (slider.count() + dropdown.count()) and figure.count() and figure.first.is_visible(),
        "the widget: its control and its figure",
        60,
    )
    lab.idle.wait_for(timeout=60_000)
    assert _ran(lab.prompts(widget_index + 1)[-1]), "the widget cell did not finish"
    is_slider = slider.count() > 0
    control = slider.first if is_slider else dropdown.first
    expect(control).to_be_visible()
    if lab.errors():
        lab.fail("a cell showed an error:\n\n" + "\n\n".join(lab.errors()))

    lab.dismiss_news_prompt()
    widget_cell.evaluate("cell => cell.scrollIntoView({block: 'start'})")  # the call, then the widget
    box = output.locator(".widget-vbox").first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before_png = SCREENSHOTS / f"{lesson.name}-widget-before.png"
    lab.page.screenshot(path=str(SCREENSHOTS / f"{lesson.name}-page.png"))
    box.screenshot(path=str(before_png))
    before_src = figure.first.get_attribute("src") or ""
    assert before_src.startswith("data:image/png"), f"the widget shows no PNG figure: {before_src[:80]!r}"
    readout = output.locator(".widget-readout")
    before_readout = readout.first.inner_text() if readout.count() else ""

    # (4) move the control by keyboard, as a student can; the figure must be redrawn
    control.focus()
    if is_slider:  # to the other end: Home, or End for a slider that starts at its minimum
        value = control.get_attribute("aria-valuenow")  # noUiSlider's handle says where it is
        at_min = value is not None and value == control.get_attribute("aria-valuemin")
        keys = ["End", "Home"] if at_min else ["Home", "End"]
    else:
        keys = ["ArrowDown", "ArrowUp"]
    for key in keys:
        lab.page.keyboard.press(key)
        deadline = time.monotonic() + REDRAW_TIMEOUT_S
        while (figure.first.get_attribute("src") or before_src) == before_src and time.monotonic() < deadline:
            time.sleep(0.25)
        if (figure.first.get_attribute("src") or before_src) != before_src:
            break
    else:
        lab.fail(f"pressing {' / '.join(keys)} on the widget's control did not change its figure")
    time.sleep(0.5)  # let the new image paint before the screenshot
    after_png = SCREENSHOTS / f"{lesson.name}-widget-after.png"
    box.screenshot(path=str(after_png))
    after_readout = readout.first.inner_text() if readout.count() else ""
    assert not before_readout or after_readout != before_readout, "the figure changed but the readout did not"
    if lab.errors():
        lab.fail("an error appeared after moving the control:\n\n" + "\n\n".join(lab.errors()))

    print(
        f"\n{lesson.name}: opened in {opened_s:.0f} s; the cells above the widget ran in {ran_s:.0f} s; "
        f"widget shown and redrawn ({before_readout!r} -> {after_readout!r}) in "
        f"{time.monotonic() - started - opened_s - ran_s:.0f} s; screenshots in {SCREENSHOTS.relative_to(ROOT)}/"
    )
