"""gankit.report, gankit.tools.lessons and the gankit command."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import torch

import gankit
import gankit.tools.lessons as lessons
from gankit.tools.cli import main
from gankit.tools.lessons import find_lessons, read_lesson
from gankit.report import REPORT_FILE_ENV, report

# --------------------------------------------------------------------------- report


def test_report_prints_a_table(capsys, monkeypatch):
    monkeypatch.delenv(REPORT_FILE_ENV, raising=False)
    out = report(ring8_modes=8, ring8_hq=0.93125)
    assert out == {"ring8_modes": 8, "ring8_hq": 0.93125}
    assert isinstance(out["ring8_modes"], int)
    printed = capsys.readouterr().out
    lines = printed.strip().splitlines()
    assert lines[0].split() == ["figure", "value"]
    assert any(line.split() == ["ring8_modes", "8"] for line in lines)
    assert any(line.split() == ["ring8_hq", "0.9312"] or line.split() == ["ring8_hq", "0.9313"] for line in lines)


def test_report_is_reachable_from_the_package():
    assert gankit.report is report


def test_report_appends_json_lines(tmp_path, monkeypatch, capsys):
    path = tmp_path / "report.jsonl"
    monkeypatch.setenv(REPORT_FILE_ENV, str(path))
    report(a=1, b=0.5)
    assert path.read_text(encoding="utf-8").splitlines() == [json.dumps({"a": 1, "b": 0.5})]
    report(c=2)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"a": 1, "b": 0.5}, {"c": 2}]


def test_report_without_env_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(REPORT_FILE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report(a=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0.9", None, True, [1.0]])
def test_report_rejects_non_numbers(bad, tmp_path, monkeypatch, capsys):
    path = tmp_path / "report.jsonl"
    monkeypatch.setenv(REPORT_FILE_ENV, str(path))
    with pytest.raises(ValueError, match="finite number"):
        report(good=1, bad=bad)
    assert not path.exists()  # nothing half-written
    assert capsys.readouterr().out == ""


def test_report_rejects_nan_tensor(capsys):
    with pytest.raises(ValueError):
        report(x=torch.tensor(float("nan")))


def test_report_needs_something():
    with pytest.raises(ValueError, match="at least one"):
        report()


def test_report_accepts_tensors_and_numpy_scalars(tmp_path, monkeypatch, capsys):
    path = tmp_path / "report.jsonl"
    monkeypatch.setenv(REPORT_FILE_ENV, str(path))
    out = report(share=torch.tensor(0.25), modes=torch.tensor(8), np_share=np.float32(0.5), np_modes=np.int64(3))
    assert out == {"share": 0.25, "modes": 8, "np_share": 0.5, "np_modes": 3}
    assert type(out["share"]) is float and type(out["modes"]) is int
    assert type(out["np_share"]) is float and type(out["np_modes"]) is int
    assert json.loads(path.read_text(encoding="utf-8")) == out


# --------------------------------------------------------------------------- lessons


def write_lesson(path, title="# 99 · Title", seconds=30, summary="A test lesson.", extra_cells=()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"{title}\n\nSome text.\n\n# Not the title"), *extra_cells]
    meta = {"summary": summary}
    if seconds is not None:
        meta["expected_cpu_seconds"] = seconds
    nb.metadata["gankit"] = meta
    nbformat.write(nb, str(path))
    return path


def test_read_lesson(tmp_path):
    path = write_lesson(tmp_path / "99_x.ipynb", extra_cells=[nbformat.v4.new_code_cell("x = 1")])
    lesson = read_lesson(path)
    assert lesson.title == "99 · Title"
    assert lesson.expected_cpu_seconds == 30
    assert lesson.summary == "A test lesson."
    assert lesson.name == "99_x"
    assert lesson.path == path


def test_read_lesson_title_only_from_first_markdown_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# comment, not a title"), nbformat.v4.new_markdown_cell("Intro only"),
                nbformat.v4.new_markdown_cell("# Later heading")]
    path = tmp_path / "98_untitled.ipynb"
    nbformat.write(nb, str(path))
    lesson = read_lesson(path)
    assert lesson.title == "98_untitled"  # falls back to the file name
    assert lesson.expected_cpu_seconds is None
    assert lesson.summary == ""


def test_read_lesson_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_lesson(tmp_path / "01_missing.ipynb")
    broken = tmp_path / "01_broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(ValueError, match="not valid notebook JSON"):
        read_lesson(broken)


def test_find_lessons_picks_numbered_notebooks_in_order(tmp_path):
    write_lesson(tmp_path / "99_x.ipynb")
    write_lesson(tmp_path / "02_second_one.ipynb", title="# 02 · Second")
    write_lesson(tmp_path / "notes.ipynb")
    write_lesson(tmp_path / "1_short.ipynb")
    write_lesson(tmp_path / "03_Capitals.ipynb")
    (tmp_path / "04_not_a_notebook.txt").write_text("x")
    found = find_lessons(tmp_path)
    assert [lesson.name for lesson in found] == ["02_second_one", "99_x"]
    assert found[0].title == "02 · Second"


def test_find_lessons_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_lessons(tmp_path / "nope")


def test_real_lessons_have_title_and_expected_time():
    if not lessons.NOTEBOOK_DIR.is_dir() or not find_lessons():
        pytest.skip("no lesson notebooks yet")
    for lesson in find_lessons():
        assert lesson.title and lesson.title != lesson.name, f"{lesson.path.name} has no '# ' title"
        assert isinstance(lesson.expected_cpu_seconds, (int, float)) and lesson.expected_cpu_seconds > 0, (
            f"{lesson.path.name} has no metadata.gankit.expected_cpu_seconds"
        )


# --------------------------------------------------------------------------- cli


def test_cli_lessons_lists_the_lesson(tmp_path, capsys):
    write_lesson(tmp_path / "99_x.ipynb")
    write_lesson(tmp_path / "notes.ipynb", title="# Hidden")
    assert main(["lessons", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "99_x" in out and "99 · Title" in out and "~30 s" in out
    assert "Hidden" not in out


def test_cli_lessons_without_expected_time(tmp_path, capsys):
    write_lesson(tmp_path / "01_a.ipynb", seconds=None)
    assert main(["lessons", "--dir", str(tmp_path)]) == 0
    assert "?" in capsys.readouterr().out


def test_cli_lessons_empty_folder(tmp_path, capsys):
    assert main(["lessons", "--dir", str(tmp_path)]) == 1
    assert "No lessons" in capsys.readouterr().out


def test_cli_doctor_ok(tmp_path, monkeypatch, capsys):
    # doctor also checks that lessons exist; point it at a folder with one so the test
    # does not depend on which notebooks are written yet
    write_lesson(tmp_path / "01_a.ipynb")
    monkeypatch.setattr(lessons, "NOTEBOOK_DIR", tmp_path)
    monkeypatch.setenv("GANKIT_DEVICE", "cpu")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok" in out
    for name in ("device", "toy 2-D data", "bundled MNIST subset", "lessons"):
        assert f"ok   {name}" in out
    assert "FAIL" not in out and "MISSING" not in out


def test_cli_doctor_reports_problems(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lessons, "NOTEBOOK_DIR", tmp_path)  # no lessons there
    monkeypatch.setenv("GANKIT_DEVICE", "cpu")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL lessons" in out
    assert "ok   toy 2-D data" in out  # the other checks still ran


def test_cli_doctor_on_the_real_repository(monkeypatch, capsys):
    monkeypatch.setenv("GANKIT_DEVICE", "cpu")
    if not lessons.NOTEBOOK_DIR.is_dir() or not find_lessons():
        pytest.skip("no lesson notebooks yet, so doctor is expected to report that")
    assert main(["doctor"]) == 0
    assert "ok" in capsys.readouterr().out


def test_cli_no_command(capsys):
    assert main([]) == 2
    assert "doctor" in capsys.readouterr().out


def test_cli_unknown_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
