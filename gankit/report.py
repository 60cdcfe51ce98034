"""One way for every lesson to state its figures.

``gankit.report(ring8_modes=8, ring8_hq=0.93)`` prints the figures as a small table in
the notebook. When the lesson runs headless under ``make bench``, the runner sets
``GANKIT_REPORT_FILE``; the figures are then also appended to that file (one JSON object
per line), from which the benchmark writes ``benchmarks/results.json``.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Real

REPORT_FILE_ENV = "GANKIT_REPORT_FILE"


def _format(value: float | int) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def report(**metrics: float | int) -> dict[str, float | int]:
    """Print ``metrics`` (name=number pairs) as a table; under ``make bench``, record them.

    Names are the keys of ``benchmarks/results.json``; values must be finite numbers
    (counts as ints, shares as fractions 0–1). Returns the metrics, so a lesson check can
    use them.
    """
    if not metrics:
        raise ValueError("report() needs at least one name=value pair, e.g. report(ring8_modes=8).")
    clean: dict[str, float | int] = {}
    for name, value in metrics.items():
        if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
            value = value.item()
        if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"report(): {name} must be a finite number, got {value!r}.")
        clean[name] = int(value) if isinstance(value, int) else float(value)

    width = max(len(k) for k in clean)
    lines = [f"{'figure':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{k:<{width}}  {_format(v)}" for k, v in clean.items()]
    print("\n".join(lines))

    path = os.environ.get(REPORT_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
    return clean
