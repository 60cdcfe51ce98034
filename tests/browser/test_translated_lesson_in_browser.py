"""A translated lesson as a Chinese student opens it: lesson 01 built in Chinese
(``gankit translate``), opened in JupyterLab in headless Chromium with a CJK font installed,
its markdown rendered in Chinese with its maths typeset, and a screenshot saved to
``build/screenshots/zh_CN_01_gan_fundamentals.png``.

The CJK font is Debian's ``fonts-noto-cjk`` (``.ci/run`` installs it): without one, Chromium
draws each Chinese character as an empty box, and a page of boxes would still "render". So
the font is looked up with fontconfig first (``fc-list :lang=zh``), and the test is skipped
locally, and fails under ``CI=true``, when none is found.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from gankit.tools import translate

from test_math_in_browser import rendered_maths_problems  # tests/browser is on sys.path (rootdir conftest)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.browser
def test_translated_lesson_01_renders_in_chinese(cjk_fonts, new_page, jupyter_lab, tmp_path):
    [built] = translate.build("zh_CN", ["01"], out=tmp_path / "zh_CN")
    nb = nbformat.read(built.path, as_version=4)
    english = nbformat.read(ROOT / "notebooks" / built.path.name, as_version=4)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == [c.source for c in english.cells
                                                                    if c.cell_type == "code"]

    # Its own file name and its own workspace: the maths test opens the English lesson 01
    # as maths/01_gan_fundamentals.ipynb in the maths workspace, which reopens as a tab every
    # lesson opened in it. Chromium gives '' as the innerText of an element it skips under
    # CSS content-visibility, which JupyterLab sets on hidden tabs and (windowing mode
    # "contentVisibility", its default) on cells out of view; reading the first h1 after
    # the maths check had scrolled to the last cell, this test read '' in one clean-clone
    # run in three. So the title is read with the first cell in view, in the only tab open.
    opened = tmp_path / "01_gan_fundamentals.zh_CN.ipynb"
    shutil.copyfile(built.path, opened)
    problems, typeset = rendered_maths_problems(new_page, jupyter_lab, opened, workspace="gankit-translation-test")
    panels = new_page.locator(".jp-NotebookPanel")
    assert panels.count() == 1, f"{panels.count()} notebooks open in the translation test's workspace, expected 1"
    first = panels.locator(".jp-Cell").first
    first.scroll_into_view_if_needed()
    heading = first.locator(".jp-RenderedMarkdown h1")
    heading.wait_for(state="visible")
    title = heading.inner_text()
    # textContent, not innerText: the count should not depend on which cells are in view
    chinese = sum(len(CJK.findall(text)) for text in panels.locator(".jp-RenderedMarkdown").all_text_contents())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "zh_CN_01_gan_fundamentals.png"
    new_page.screenshot(path=str(shot))

    assert not problems, f"the translated lesson's maths: {problems} (screenshot: {shot})"
    assert typeset > 0
    assert CJK.search(title), f"the lesson's title is not in Chinese: {title!r} (screenshot: {shot})"
    assert chinese > 300, f"only {chinese} Chinese characters rendered (screenshot: {shot})"
    print(f"\nlesson 01 in Chinese: {chinese} Chinese characters and {typeset} formulas rendered, "
          f"fonts {cjk_fonts[:3]}; screenshot {shot}")
