"""Finding the lessons and reading what they say about themselves.

A lesson is a notebook ``notebooks/NN_name.ipynb``. Its title is the first ``# `` heading
of its first markdown cell; its expected CPU time and one-line summary live in the
notebook's metadata under ``"gankit"``:

    "metadata": {"gankit": {"expected_cpu_seconds": 50, "summary": "..."}}

so ``gankit lessons``, the README table and ``make bench`` read one source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOTEBOOK_DIR", "Lesson", "find_lessons", "read_lesson", "select_lessons"]

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
_LESSON_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class Lesson:
    path: Path
    title: str
    expected_cpu_seconds: float | None
    summary: str

    @property
    def name(self) -> str:
        """The file stem, e.g. ``01_gan_fundamentals`` (the key in benchmarks/results.json)."""
        return self.path.stem


def read_lesson(path: str | Path) -> Lesson:
    """Read a lesson's title, expected CPU time and summary from its notebook file."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"No lesson notebook at {path}.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid notebook JSON ({exc}); was it saved completely?") from exc
    title = path.stem
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", []))
            match = re.search(r"^#\s+(.+)$", source, flags=re.MULTILINE)
            if match:
                title = match.group(1).strip()
            break
    meta = nb.get("metadata", {}).get("gankit", {})
    seconds = meta.get("expected_cpu_seconds")
    return Lesson(path=path, title=title, expected_cpu_seconds=seconds, summary=meta.get("summary", ""))


def find_lessons(directory: str | Path | None = None) -> list[Lesson]:
    """Every ``NN_name.ipynb`` in ``directory`` (default: the kit's notebooks/), in order."""
    directory = Path(directory) if directory is not None else NOTEBOOK_DIR
    if not directory.is_dir():
        raise FileNotFoundError(f"No lesson folder at {directory}.")
    return [read_lesson(p) for p in sorted(directory.glob("*.ipynb")) if _LESSON_NAME.match(p.name)]


def select_lessons(selection: list[str] | None = None, directory: str | Path | None = None) -> list[Path]:
    """The notebooks that ``gankit run`` / ``gankit student`` are asked for: each item is a
    notebook file, or a lesson number or name prefix ("01", "01_gan") looked up in
    ``directory`` (default: the kit's notebooks/). Nothing selected means every lesson."""
    if not selection:
        return [lesson.path for lesson in find_lessons(directory)]
    paths = []
    for item in selection:
        path = Path(item)
        if path.suffix == ".ipynb" or path.exists():
            if not path.is_file():
                raise FileNotFoundError(f"No notebook at {path}.")
            paths.append(path)
            continue
        matches = [lesson.path for lesson in find_lessons(directory) if lesson.name.startswith(item)]
        if len(matches) != 1:
            names = ", ".join(lesson.name for lesson in find_lessons(directory)) or "none"
            problem = "matches no lesson" if not matches else f"matches {len(matches)} lessons"
            raise FileNotFoundError(f"{item!r} {problem}; give a notebook file or one of: {names}.")
        paths.append(matches[0])
    return paths
