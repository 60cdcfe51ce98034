"""The README is where a new user learns what the kit teaches: keep it in step with the lessons."""

from pathlib import Path

from gankit.tools.lessons import find_lessons

ROOT = Path(__file__).resolve().parents[1]


def test_every_lesson_is_listed_in_the_readme_with_its_time():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [lesson.name for lesson in find_lessons() if f"notebooks/{lesson.name}.ipynb" not in readme]
    assert not missing, f"README.md's lesson table does not link {missing}; add a row for each."
    for lesson in find_lessons():
        row = next(line for line in readme.splitlines() if f"notebooks/{lesson.name}.ipynb" in line)
        assert f"~{lesson.expected_cpu_seconds:.0f} s" in row, (
            f"README.md gives another CPU time for {lesson.name} than its metadata "
            f"(~{lesson.expected_cpu_seconds:.0f} s): {row}"
        )


def test_each_lesson_states_its_measured_time_in_its_introduction():
    # the student reads the lesson, not its metadata: the two must say the same
    import re

    import nbformat

    for lesson in find_lessons():
        intro = nbformat.read(lesson.path, as_version=4).cells[0].source
        match = re.search(r"\*\*Expected CPU time:\*\* about (\d+) seconds", intro)
        assert match, f"{lesson.name}: the first cell should say '**Expected CPU time:** about N seconds'."
        assert int(match.group(1)) == lesson.expected_cpu_seconds, (
            f"{lesson.name} says about {match.group(1)} seconds in its introduction but its metadata "
            f"(measured by make bench) says {lesson.expected_cpu_seconds:.0f}."
        )


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme and "make test" in readme


def graded_exercises(path) -> list[str]:
    """The grade ids of a lesson's graded check cells (nbgrader's ``grade: true``), one per exercise."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]


def test_every_lesson_has_three_graded_exercises_and_the_readme_counts_them():
    """DESIGN.md: three exercises or more per lesson (write it, predict it, change it and
    measure); README's table says how many, counted from the notebooks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for lesson in find_lessons():
        ids = graded_exercises(lesson.path)
        assert len(ids) >= 3, f"{lesson.name} has {len(ids)} graded exercises ({ids}); a lesson asks for three or more."
        assert len(set(ids)) == len(ids), f"{lesson.name} repeats a grade id: {ids}"
        row = next(line for line in readme.splitlines() if f"notebooks/{lesson.name}.ipynb" in line)
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert cells[-2] == str(len(ids)), (
            f"README.md's row for {lesson.name} gives {cells[-2]!r} graded exercises; the notebook has {len(ids)}."
        )


def test_each_lesson_states_the_time_make_bench_measured():
    """The stated time (metadata, introduction, README) is the last `make bench` measurement
    (benchmarks/results.json, an idle 2-core machine, kernel start included), rounded to 5 s:
    within 15 %, so that a lesson that grew slower is caught when the benchmark is rerun."""
    import json

    measured = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))["lessons"]
    off = []
    for lesson in find_lessons():
        seconds = measured.get(lesson.name, {}).get("seconds")
        if seconds is None:
            off.append(f"{lesson.name}: not in benchmarks/results.json (run make bench)")
        elif abs(lesson.expected_cpu_seconds - seconds) > 0.15 * seconds:
            off.append(f"{lesson.name}: states about {lesson.expected_cpu_seconds:.0f} s, make bench measured {seconds:.1f} s")
    assert not off, "stated lesson times out of step with the benchmark:\n" + "\n".join(off)
