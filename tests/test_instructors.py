"""INSTRUCTORS.md, followed by a test: "Adding a lesson" done with the template in a
temporary folder — it is listed by `gankit lessons`, `gankit run` executes it, nbval
passes it, `make bench` times it and records its figures, and its student version stops
at the exercise's check — with no change to the tooling. Also: the commands and files
INSTRUCTORS.md names exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import gankit.tools.lessons as lessons
from gankit.tools import bench
from gankit.tools.cli import build_parser, main
from gankit.tools.lessons import find_lessons
from gankit.tools.runner import LessonRunError, read_parameters, run_notebook
from gankit.tools.student import build_student_versions, solution_cells

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "gankit" / "templates" / "lesson_template.ipynb"
INSTRUCTORS = ROOT / "INSTRUCTORS.md"


@pytest.fixture(scope="module")
def new_lesson(tmp_path_factory) -> Path:
    """The walkthrough's steps 1-2: copy the template as lesson 07, give it its title."""
    folder = tmp_path_factory.mktemp("notebooks")
    path = folder / "07_my_topic.ipynb"
    shutil.copy(TEMPLATE, path)
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.source.startswith("# NN · "), "the template's title line changed; update INSTRUCTORS.md"
    first.source = re.sub(r"^# NN · [^\n]*", "# 07 · My topic", first.source)
    nbformat.write(nb, str(path))
    return path


def test_template_has_the_anatomy_of_a_lesson():
    nb = nbformat.read(TEMPLATE, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert {"seed", "device"} <= set(read_parameters(TEMPLATE))
    assert solution_cells(nb), "the template shows an exercise"
    assert any("checks.lesson_check(" in c.source for c in nb.cells)
    assert any("gankit.report(" in c.source for c in nb.cells)
    assert nb.metadata["gankit"]["expected_cpu_seconds"] > 0 and nb.metadata["gankit"]["summary"]
    for cell in nb.cells:  # stored clean, like the lessons
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_walkthrough_the_new_lesson_is_listed(new_lesson, capsys):
    found = find_lessons(new_lesson.parent)
    assert [lesson.name for lesson in found] == ["07_my_topic"]
    assert found[0].title == "07 · My topic"
    assert main(["lessons", "--dir", str(new_lesson.parent)]) == 0
    assert "07_my_topic" in capsys.readouterr().out


def test_walkthrough_gankit_run(new_lesson, tmp_path, capsys):
    assert main(["run", str(new_lesson), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "07_my_topic.html").exists()
    nb = nbformat.read(tmp_path / "07_my_topic.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "✓ The generator moved towards the data" in printed
    assert "template_distance_after" in printed  # gankit.report's table


def test_walkthrough_nbval_passes(new_lesson):
    """What `make test` does to every notebook in notebooks/, done to the new lesson."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(new_lesson), "--nbval-lax", "--nbval-current-env",
         "-q", "-p", "no:cacheprovider", "--rootdir", str(new_lesson.parent)],
        cwd=new_lesson.parent, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"\b\d+ passed", proc.stdout)


def test_walkthrough_make_bench_times_it(new_lesson, tmp_path, monkeypatch, capsys):
    """`make bench` (python -m gankit.tools.bench) finds the lesson by itself and records its figures.
    The benchmarks that do not depend on the lessons (the GAN loop, the digit judge, the
    kit-wide digit table, the 8×8-digits VAE, the service's load test; each has tests of
    its own) are replaced to save time (the VAE's 1,500 steps made this test take 41 s)."""
    monkeypatch.setattr(lessons, "NOTEBOOK_DIR", new_lesson.parent)
    monkeypatch.setattr(bench, "gan_loop_overhead", lambda repeats: {"ratio": 1.0})
    monkeypatch.setattr(bench, "family_benchmark", lambda: {"rows": []})
    monkeypatch.setattr(bench, "digit_judge", lambda: {"test_accuracy": 1.0, "n": 1})
    monkeypatch.setattr(bench, "digits8_vae", lambda: {"test_nll": 0.0})
    monkeypatch.setattr(bench, "serve_load", lambda **kwargs: {"requests_per_s": 1.0})
    assert bench.main(["--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    entry = results["lessons"]["07_my_topic"]
    assert entry["seconds"] > 0
    assert set(entry["metrics"]) == {"template_distance_before", "template_distance_after"}
    assert entry["metrics"]["template_distance_after"] < entry["metrics"]["template_distance_before"]
    assert "07_my_topic" in (tmp_path / "results.md").read_text(encoding="utf-8")


def test_walkthrough_student_version_stops_at_the_check(new_lesson, tmp_path):
    [student] = build_student_versions([new_lesson], tmp_path)
    nb = nbformat.read(new_lesson, as_version=4)
    check_cell = solution_cells(nb)[0] + 1
    with pytest.raises(LessonRunError) as info:
        run_notebook(student, out_dir=tmp_path / "run", html=False)
    assert (info.value.cell_index, info.value.ename) == (check_cell, "CheckFailed"), str(info.value)
    assert "not written yet" in info.value.evalue


# --------------------------------------------------------------------------- the page itself


def test_instructors_md_names_only_commands_that_exist():
    text = INSTRUCTORS.read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```.*?```", text, flags=re.S) + re.findall(r"`[^`\n]+`", text))
    used = set(re.findall(r"(?:^|[\s/`])gankit (\w[\w-]*)", code, flags=re.M))
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # argparse has no public way to list them
    assert {"run", "student", "lessons"} <= used, "INSTRUCTORS.md should show gankit run, student and lessons"
    assert used <= commands, f"INSTRUCTORS.md names gankit commands that do not exist: {used - commands}"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in set(re.findall(r"\bmake (\w+)", code)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"INSTRUCTORS.md names `make {target}`"
    for path in re.findall(r"\b((?:gankit|tests)/[\w/]+\.(?:py|ipynb))", text):
        assert (ROOT / path).exists(), f"INSTRUCTORS.md names {path}, which does not exist"
