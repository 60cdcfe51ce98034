"""gankit.tools.runner and `gankit run`: parameters read from the parameters cell, overrides
injected after it (papermill's convention), unknown names refused, executed notebook and
HTML written, failures reported with the lesson, the cell and the error; `make bench`
runs lessons through the same runner.

The tests that start a kernel use notebooks of a few cells written here, so they take
seconds; the walkthrough in test_instructors.py runs a real (template) lesson.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from gankit.tools import bench
from gankit.tools.cli import main
from gankit.tools.lessons import NOTEBOOK_DIR, find_lessons, read_lesson, select_lessons
from gankit.report import REPORT_FILE_ENV
from gankit.tools.runner import (
    INJECTED_TAG,
    LessonRunError,
    ParameterError,
    check_parameters,
    parse_value,
    read_parameters,
    run_notebook,
)

LESSONS = find_lessons() if NOTEBOOK_DIR.is_dir() else []


def write_notebook(path: Path, parameters: str | None, *cells: str) -> Path:
    """A notebook: a title, a parameters cell (unless None), then the given code cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem} · test"))
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


PARAMS = """steps = 2000          # generator updates
lr: float = 2e-4      # learning rate
name = "ring8"
a, b = 1, 2
device = None
print("parameters set")  # not a parameter
"""


# --------------------------------------------------------------------------- reading parameters


def test_read_parameters(tmp_path):
    path = write_notebook(tmp_path / "01_x.ipynb", PARAMS)
    found = read_parameters(path)
    assert list(found) == ["steps", "lr", "name", "a", "b", "device"]
    assert found["steps"].default == "2000" and found["steps"].comment == "generator updates"
    assert found["lr"].default == "2e-4" and found["lr"].comment == "learning rate"
    assert found["name"].default == '"ring8"' and found["name"].comment == ""
    assert found["a"].default == "1, 2"
    assert found["device"].default == "None"


def test_read_parameters_without_a_parameters_cell(tmp_path):
    assert read_parameters(write_notebook(tmp_path / "01_x.ipynb", None, "x = 1")) == {}


def test_parameters_cell_that_is_not_python(tmp_path):
    path = write_notebook(tmp_path / "01_x.ipynb", "steps = 1\n%matplotlib inline\n")
    with pytest.raises(ParameterError, match="not plain Python"):
        read_parameters(path)


@pytest.mark.parametrize("text, value", [
    ("500", 500), ("-3", -3), ("2e-4", 2e-4), ("0.5", 0.5), ("True", True), ("False", False),
    ("None", None), ("cpu", "cpu"), ("cuda:1", "cuda:1"), ("data/my digits", "data/my digits"), ("true", "true"),
])
def test_parse_value_like_papermill(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_unknown_parameter_is_refused_with_the_list(tmp_path):
    path = write_notebook(tmp_path / "01_x.ipynb", PARAMS)
    check_parameters(path, ["steps", "device"])  # known: no error
    with pytest.raises(ParameterError) as info:
        check_parameters(path, ["stepz"])
    message = str(info.value)
    assert "01_x has no parameter 'stepz' (did you mean 'steps'?)" in message
    for name in ("steps", "lr", "name", "a", "b", "device"):
        assert f"\n  {name} " in message
    assert "# generator updates" in message
    with pytest.raises(ParameterError, match="no parameters 'x', 'y'"):
        check_parameters(path, ["x", "y", "steps"])


def test_a_value_of_another_kind_than_the_default_is_refused_before_running(tmp_path, capsys):
    path = write_notebook(tmp_path / "01_x.ipynb", PARAMS, "raise RuntimeError('the lesson ran')")
    check_parameters(path, {"steps": 500, "lr": 1, "name": "grid25", "device": "cpu"})  # int for a float is fine
    with pytest.raises(ParameterError, match=r"steps = 'abc' \(text\), where the lesson's default is 2000 "
                                             r"\(a whole number\)"):
        check_parameters(path, {"steps": "abc"})
    with pytest.raises(ParameterError, match="lr = 'fast'"):
        check_parameters(path, {"lr": "fast", "steps": 10})
    with pytest.raises(ParameterError, match="steps = 2.5"):
        check_parameters(path, {"steps": 2.5})
    assert main(["run", str(path), "-p", "steps", "abc", "--out", str(tmp_path / "out"), "--no-html"]) == 2
    assert "steps = 'abc'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "01_x.ipynb").exists()  # nothing ran


def test_parameters_for_a_notebook_without_parameters_cell(tmp_path):
    path = write_notebook(tmp_path / "01_x.ipynb", None, "x = 1")
    with pytest.raises(ParameterError, match="no parameters cell"):
        check_parameters(path, ["steps"])


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_every_lesson_has_seed_and_device_parameters(lesson):
    """INSTRUCTORS.md promises `-p device cuda` and `-p seed N` for every lesson."""
    found = read_parameters(lesson.path)
    assert {"seed", "device"} <= set(found), f"{lesson.name}'s parameters cell lacks seed or device: {list(found)}"


# --------------------------------------------------------------------------- choosing lessons


def test_select_lessons(tmp_path):
    write_notebook(tmp_path / "01_first.ipynb", "x = 1")
    write_notebook(tmp_path / "02_second.ipynb", "x = 1")
    other = write_notebook(tmp_path / "elsewhere" / "notes.ipynb", "x = 1")
    assert [p.name for p in select_lessons(None, tmp_path)] == ["01_first.ipynb", "02_second.ipynb"]
    assert [p.name for p in select_lessons(["02", "01_f"], tmp_path)] == ["02_second.ipynb", "01_first.ipynb"]
    assert select_lessons([str(other)], tmp_path) == [other]
    with pytest.raises(FileNotFoundError, match="matches no lesson.*01_first, 02_second"):
        select_lessons(["07"], tmp_path)
    with pytest.raises(FileNotFoundError, match="matches 2 lessons"):
        select_lessons(["0"], tmp_path)
    with pytest.raises(FileNotFoundError, match="No notebook at"):
        select_lessons([str(tmp_path / "missing.ipynb")], tmp_path)


# --------------------------------------------------------------------------- running


def test_run_injects_parameters_after_the_parameters_cell(tmp_path):
    lesson = write_notebook(
        tmp_path / "lessons" / "01_x.ipynb", "steps = 2000\nname = 'ring8'\nflag = False\n",
        "import os, sys\nprint(repr(steps), repr(name), flag)\nprint(os.getcwd())\nprint(sys.executable)",
    )
    result = run_notebook(lesson, {"steps": 50, "name": "moons", "flag": True}, tmp_path / "build")

    assert result.lesson == "01_x"
    assert result.notebook == tmp_path / "build" / "01_x.ipynb"
    assert result.html == tmp_path / "build" / "01_x.html"
    assert result.seconds > 0 and result.parameters == {"steps": 50, "name": "moons", "flag": True}
    nb = nbformat.read(result.notebook, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in nb.cells]
    assert "parameters" in tags[1] and INJECTED_TAG in tags[2]  # right after the parameters cell
    assert nb.cells[1].source.startswith("steps = 2000")  # the defaults stay visible
    printed = outputs_text(nb.cells[3]).splitlines()
    assert printed[0] == "50 'moons' True"
    assert Path(printed[1]) == lesson.parent.resolve()  # the kernel starts in the lesson's folder
    assert Path(printed[2]).resolve() == Path(sys.executable).resolve()  # and on this Python
    html = result.html.read_text(encoding="utf-8")
    assert "&#39;moons&#39;" in html or "'moons'" in html
    assert not (lesson.parent / "01_x.html").exists()  # nothing written next to the lesson
    assert nbformat.read(lesson, as_version=4).cells[-1].outputs == []  # the lesson itself is untouched


def test_run_without_overrides_and_without_html(tmp_path):
    lesson = write_notebook(tmp_path / "02_y.ipynb", "n = 3", "print(n * 2)")
    result = run_notebook(lesson, out_dir=tmp_path / "out", html=False)
    assert result.html is None and not (tmp_path / "out" / "02_y.html").exists()
    nb = nbformat.read(result.notebook, as_version=4)
    assert not any(INJECTED_TAG in c.metadata.get("tags", []) for c in nb.cells)
    assert outputs_text(nb.cells[-1]) == "6\n"


def test_run_refuses_unknown_parameter_before_running(tmp_path):
    lesson = write_notebook(tmp_path / "01_x.ipynb", "steps = 1", "print('ran')")
    with pytest.raises(ParameterError, match="did you mean 'steps'"):
        run_notebook(lesson, {"step": 5}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_refuses_to_overwrite_the_lesson(tmp_path):
    lesson = write_notebook(tmp_path / "01_x.ipynb", "steps = 1")
    with pytest.raises(ValueError, match="over the lesson itself"):
        run_notebook(lesson, out_dir=tmp_path)


def test_failing_cell_names_lesson_cell_and_error_and_keeps_the_partial_notebook(tmp_path):
    lesson = write_notebook(
        tmp_path / "03_fails.ipynb", "steps = 10",
        "print('before the failure')",
        "from gankit.checks import lesson_check\nlesson_check(steps > 100, 'ok', 'steps is too small')",
        "print('never reached')",
    )
    # cells: 0 title, 1 parameters, 2 print, 3 check, 4 print; the run adds an injected cell
    with pytest.raises(LessonRunError) as info:
        run_notebook(lesson, {"steps": 20}, tmp_path / "out")
    err = info.value
    assert err.lesson == "03_fails"
    assert err.cell_index == 3  # counted in the lesson file, not in the executed notebook
    assert err.ename == "CheckFailed" and "steps is too small" in err.evalue
    assert "from gankit.checks import lesson_check" in err.source
    message = str(err)
    assert "03_fails failed in cell 3" in message and "CheckFailed" in message and "steps is too small" in message
    assert str(err.notebook) in message

    partial = nbformat.read(err.notebook, as_version=4)
    texts = [outputs_text(c) for c in partial.cells if c.cell_type == "code"]
    assert "before the failure\n" in texts
    assert not any("never reached" in t for t in texts)
    assert err.html is not None and err.html.exists()


def test_timeout_is_reported_with_its_cell(tmp_path):
    lesson = write_notebook(tmp_path / "04_slow.ipynb", "n = 1", "import time\ntime.sleep(60)", "print('after')")
    with pytest.raises(LessonRunError) as info:
        run_notebook(lesson, out_dir=tmp_path / "out", html=False, timeout=2)
    assert info.value.ename == "CellTimeoutError"
    assert info.value.cell_index == 2
    assert "timeout of 2 s" in str(info.value)


# --------------------------------------------------------------------------- the command


def test_cli_run_writes_notebook_and_html(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lesson = write_notebook(tmp_path / "lessons" / "05_cli.ipynb", "n = 1", "print('n is', n)")
    assert main(["run", str(lesson), "-p", "n", "7", "--out", "build"]) == 0
    out = capsys.readouterr().out
    assert "running 05_cli with n=7" in out
    assert "wrote build/05_cli.ipynb and build/05_cli.html" in out
    nb = nbformat.read(tmp_path / "build" / "05_cli.ipynb", as_version=4)
    assert outputs_text(nb.cells[-1]) == "n is 7\n"


def test_cli_run_failure_exit_code(tmp_path, capsys):
    lesson = write_notebook(tmp_path / "06_bad.ipynb", "n = 1", "1 / 0")
    assert main(["run", str(lesson), "--out", str(tmp_path / "b"), "--no-html"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 06_bad failed in cell 2" in out and "ZeroDivisionError" in out
    assert "1 of 1 lesson(s) failed: 06_bad" in out


def test_cli_run_unknown_parameter(tmp_path, capsys):
    """Refused before any lesson starts, with the parameters listed; nothing written."""
    good = write_notebook(tmp_path / "01_a.ipynb", "steps = 1\nseed = 0")
    bad = write_notebook(tmp_path / "02_b.ipynb", "seed = 0")
    assert main(["run", str(good), str(bad), "-p", "steps", "5", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "02_b has no parameter 'steps'" in err and "seed = 0" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.skipif(not LESSONS, reason="no lessons yet")
def test_cli_run_refuses_unknown_parameter_of_a_real_lesson(tmp_path, capsys):
    lesson = LESSONS[0]
    assert main(["run", str(lesson.path), "-p", "no_such_parameter", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    for name in read_parameters(lesson.path):
        assert f"\n  {name} " in err
    assert list(tmp_path.iterdir()) == []


def test_cli_list_parameters(tmp_path, capsys):
    lesson = write_notebook(tmp_path / "01_a.ipynb", "steps = 10  # updates\nseed = 0")
    assert main(["run", str(lesson), "--list-parameters"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["01_a:"], ["steps", "=", "10", "#", "updates"], ["seed", "=", "0"]]


def test_cli_run_unknown_lesson(capsys):
    assert main(["run", "no_such_lesson_xyz"]) == 2
    assert "matches no lesson" in capsys.readouterr().err


# --------------------------------------------------------------------------- make bench


def test_bench_runs_lessons_through_the_runner(tmp_path, monkeypatch):
    lesson = write_notebook(
        tmp_path / "07_bench.ipynb", "seed = 0",
        "import gankit\ngankit.report(answer=42, share=0.5)",
        "gankit.report(later=1)",
    )
    calls = []
    import gankit.tools.runner

    real = gankit.tools.runner.run_notebook
    monkeypatch.setattr(gankit.tools.runner, "run_notebook", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setenv(REPORT_FILE_ENV, "/previous/value")
    entry = bench.run_lesson(read_lesson(lesson))
    assert calls, "bench.run_lesson did not use gankit.tools.runner.run_notebook"
    assert set(entry) == {"seconds", "metrics"}
    assert entry["metrics"] == {"answer": 42, "share": 0.5, "later": 1}
    assert entry["seconds"] > 0
    assert os.environ[REPORT_FILE_ENV] == "/previous/value"  # put back


def test_bench_reports_a_failing_lesson(tmp_path, monkeypatch):
    lesson = write_notebook(tmp_path / "08_broken.ipynb", "seed = 0", "raise ValueError('broken on purpose')")
    monkeypatch.delenv(REPORT_FILE_ENV, raising=False)
    with pytest.raises(LessonRunError, match="08_broken failed in cell 2.*broken on purpose"):
        bench.run_lesson(read_lesson(lesson))
    assert REPORT_FILE_ENV not in os.environ
