"""The student's first exercise, checked inside `make test`'s run of each lesson.

A student who opens the student version of a lesson (``gankit student``) runs it top to
bottom and should stop at the first exercise's check with the friendly CheckFailed
"... not written yet", not with a NameError or NotImplementedError, and with every cell
before it passing. The cells before the first exercise are the lesson's own (the student
version changes only the ``solution`` cells, tests/test_student.py checks that), so the
state there is the state nbval reaches when it executes the lesson. Rather than execute
every lesson a second time up to its first exercise (up to 115 s for lesson 10), nbval's
run of each lesson (``make test``) carries two more items just before the first solution
cell, in the same kernel:

- ``Cell N · student stub``: the student version of each solution cell up to the check,
  which must run without an error;
- ``Cell N · student check``: the check cell, which must fail with CheckFailed and
  "not written yet".

Then the solution cells run as usual and replace the stubs' definitions. Only the
notebooks that nbval collects get these items; ``pytest tests`` alone does not.
"""

from __future__ import annotations

from collections import defaultdict

import nbformat
import pytest

try:
    from nbval.plugin import IPyNbCell, IPyNbFile
except ImportError:  # nbval missing: no notebook is collected, nothing to add
    IPyNbCell = IPyNbFile = None


if IPyNbCell is not None:

    class StudentStubCell(IPyNbCell):
        """The student version of a solution cell: it must run without an error."""

    class StudentCheckCell(IPyNbCell):
        """An exercise's check run against the stubs: it must fail with the friendly message."""

        def runtest(self):
            super().runtest()  # options["check_exception"]: an error does not fail the item by itself
            errors = [out for out in self.test_outputs or [] if out.get("output_type") == "error"]
            if not errors:
                self.raise_cell_error("The student version's first check passed against the stubs: it should fail "
                                      "with CheckFailed 'not written yet' (is the check testing the exercise?)")
            ename, evalue = errors[0]["ename"], errors[0]["evalue"]
            if ename != "CheckFailed" or "not written yet" not in evalue:
                self.raise_cell_error(
                    f"The student version's first check should fail with CheckFailed '... not written yet'; it "
                    f"raised {ename}: {evalue}", "\n" + "\n".join(errors[0].get("traceback", [])))


def _student_items(notebook_file, items_of_file):
    """The items to run before the first solution cell of ``notebook_file``'s lesson, and
    the index (in ``items_of_file``) to insert them at; (None, []) without exercises."""
    from gankit.tools.student import solution_cells, student_version

    nb = notebook_file.nb
    solutions = solution_cells(nb)
    solutions = [i for i in solutions if nb.cells[i].cell_type == "code"]
    if not solutions:
        return None, []
    first = solutions[0]
    check = next((j for j in range(first + 1, len(nb.cells))
                  if nb.cells[j].cell_type == "code" and j not in solutions), None)
    if check is None:
        return None, []
    code_number = {i: n for n, i in enumerate(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}
    if [item.cell_num for item in items_of_file] != list(range(len(code_number))):
        return None, []  # some cells deselected (-k, --lf): the state before the exercise would differ
    position = code_number[first]
    student = student_version(nb)
    new = []
    for i in range(first, check):
        if i in solutions:
            new.append(StudentStubCell.from_parent(
                notebook_file, name=f"Cell {code_number[i]} · student stub", cell_num=code_number[i],
                cell=nbformat.v4.new_code_cell(student.cells[i].source), options=defaultdict(bool)))
    new.append(StudentCheckCell.from_parent(
        notebook_file, name=f"Cell {code_number[check]} · student check", cell_num=code_number[check],
        cell=nbformat.v4.new_code_cell(nb.cells[check].source), options=defaultdict(bool, check_exception=True)))
    return position, new


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    if IPyNbFile is None:
        return
    files = {}
    for item in items:
        if isinstance(item, IPyNbCell) and isinstance(item.parent, IPyNbFile):
            files.setdefault(item.parent, []).append(item)
    for notebook_file, of_file in files.items():
        if not notebook_file.path.name[:2].isdigit() or getattr(notebook_file, "nb", None) is None:
            continue  # a lesson is a numbered notebook (gankit.tools.lessons)
        position, new = _student_items(notebook_file, of_file)
        if new:
            at = items.index(of_file[position])
            items[at:at] = new
