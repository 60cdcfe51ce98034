"""Watching what the service sends out: the quality of the last few hundred answers.

Request counts and latencies (``/metrics``) say that the service answers; they cannot say
that the answers are any good. A worse checkpoint swapped in — an early one, the wrong
file, a model broken by a bad export — answers just as fast. So the monitor measures the
served items themselves, with the same measures as the lessons, over a rolling window of
the last ``window`` items of each model:

* digits: the share the digit judge reads with confidence (largest class probability
  ≥ 0.9, as :func:`gankit.metrics.judge_scores`; real held-out digits: 96.3 %), and the
  share it reads as the digit that was asked for (:func:`gankit.metrics.label_agreement`);
* names: the share that are new — not in the names the model was trained on
  (:func:`gankit.metrics.novelty`). A model that copies its training list, or writes
  gibberish, moves this away from where the bundled model sits.

``floors`` turns a measure into an alarm: once a window has ``min_items`` items, a rolling
share below its floor is reported in ``alerts`` (and the ``gankit_served_alert`` gauge).
This is the monitoring-and-feedback step of a deployed model (监控与反馈), made small.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence

import torch

from gankit.metrics import load_judge
from gankit.models import DigitJudge
from gankit.text import load_names

__all__ = ["QualityMonitor", "CONFIDENCE", "MEASURES"]

CONFIDENCE = 0.9  # the judge's "confident" threshold, as in gankit.metrics.judge_scores
MEASURES = ("judge_confident", "label_agreement", "novel")


class QualityMonitor:
    """Rolling quality of the served items, per model and measure.

    ``observe_digits`` and ``observe_names`` are called with what was just sent out;
    ``summary()`` gives, per model, each measure's share over the window and how many items
    it holds. Thread-safe: requests are answered in a thread pool.
    """

    def __init__(self, window: int = 500, *, judge: DigitJudge | None = None,
                 training_names: Iterable[str] | None = None, floors: dict[str, float] | None = None,
                 min_items: int = 50) -> None:
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive number of items, got {window!r}.")
        self.window, self.min_items = window, min_items
        self.floors = dict(floors or {})
        for measure, floor in self.floors.items():
            if measure not in MEASURES:
                raise ValueError(f"The monitor has no measure {measure!r}; its measures: {', '.join(MEASURES)}.")
            if not 0 <= floor <= 1:
                raise ValueError(f"The floor of {measure} is a share between 0 and 1, got {floor}.")
        self._judge = judge
        # the first names of the bundled names model's training split (data/README.md)
        self._training = set(load_names("first", "train") if training_names is None else training_names)
        self._values: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _add(self, model: str, measure: str, values: Iterable[float]) -> None:
        with self._lock:
            self._values.setdefault((model, measure), deque(maxlen=self.window)).extend(values)

    def observe_digits(self, model: str, images: torch.Tensor, labels: Sequence[int]) -> None:
        """Judge the served ``images`` (N, 1, 28, 28) in [0, 1] that were asked for as ``labels``."""
        with self._lock:  # the judge is one module shared by every request thread
            if self._judge is None:
                self._judge = load_judge()
            with torch.inference_mode():
                top, predicted = self._judge.predict_proba(images).max(dim=1)  # (N,), (N,)
        self._add(model, "judge_confident", (top >= CONFIDENCE).float().tolist())
        self._add(model, "label_agreement", (predicted == torch.as_tensor(labels)).float().tolist())

    def observe_names(self, model: str, names: Sequence[str]) -> None:
        """Note which of the served ``names`` are new (not among the training names)."""
        self._add(model, "novel", [float(name not in self._training) for name in names])

    def summary(self) -> dict:
        """{"models": {model: {measure: {"share", "items"}}}, "alerts": [...], "window": W}."""
        with self._lock:
            values = {key: list(v) for key, v in self._values.items()}
        models: dict[str, dict] = {}
        alerts = []
        for (model, measure), items in values.items():
            share = sum(items) / len(items)
            models.setdefault(model, {})[measure] = {"share": share, "items": len(items)}
            floor = self.floors.get(measure)
            if floor is not None and len(items) >= self.min_items and share < floor:
                alerts.append({"model": model, "measure": measure, "share": share, "floor": floor,
                               "message": f"{model}: {measure} over the last {len(items)} items is "
                                          f"{share:.1%}, below its floor of {floor:.1%}"})
        return {"window": self.window, "models": models, "alerts": alerts}
