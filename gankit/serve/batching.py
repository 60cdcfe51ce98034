"""Micro-batching: name requests that arrive together are answered by one model call.

Writing one name costs the names GPT about as much as writing five — each step of
generation is one forward pass, whatever the batch — so sixteen clients asking for one
name each are served far faster by one batch of sixteen than by sixteen calls in a row.
A :class:`NameBatcher` collects the requests that arrive within ``window`` seconds of the
first (up to ``max_names`` names in all), groups those with the same sampling settings,
asks the model once per group and hands each request its share of the names.

Only requests **without a seed** are batched. A seeded request is answered alone, so that
its seed reproduces it exactly; in a batch, what a request gets depends on who else
arrived at the same moment, and no seed can replay that.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Callable

from gankit.serve.models import NameGenerator
from gankit.serve.schemas import MAX_SEED

__all__ = ["NameBatcher", "Settings"]


@dataclass(frozen=True)
class Settings:
    """What must be equal for two requests to share a model call."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    prompt: str = ""
    control: str | None = None


class NameBatcher:
    """One worker thread that answers a :class:`~gankit.serve.models.NameGenerator`'s
    unseeded requests in batches. ``submit`` blocks until the request's names are written."""

    def __init__(self, model: NameGenerator, window: float = 0.005, max_names: int = 256,
                 on_call: Callable[[int], None] | None = None) -> None:
        if window <= 0:
            raise ValueError(f"window is the seconds to wait for more requests, > 0; got {window}.")
        self.model, self.window, self.max_names = model, window, max_names
        self.on_call = on_call  # told how many requests each model call answered (for the metrics)
        self._queue: queue.Queue[tuple[int, Settings, Future]] = queue.Queue()
        worker = threading.Thread(target=self._work, name=f"batcher-{model.name}", daemon=True)
        worker.start()

    def submit(self, n: int, settings: Settings) -> list[str]:
        """``n`` names with ``settings``, written together with whatever else is waiting."""
        future: Future = Future()
        self._queue.put((n, settings, future))
        return future.result()

    def _collect(self) -> list[tuple[int, Settings, Future]]:
        """The first waiting request, then every one that arrives within the window."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.window
        total = batch[0][0]
        while total < self.max_names:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            batch.append(item)
            total += item[0]
        return batch

    def _work(self) -> None:
        while True:
            groups: dict[Settings, list[tuple[int, Future]]] = {}
            for n, settings, future in self._collect():
                groups.setdefault(settings, []).append((n, future))
            for settings, requests in groups.items():
                try:
                    names = self.model.names(sum(n for n, _ in requests), seed=secrets.randbelow(MAX_SEED),
                                             **asdict(settings))
                    if self.on_call is not None:
                        self.on_call(len(requests))
                except Exception as exc:  # every request of the group learns of it; the worker goes on
                    for _, future in requests:
                        future.set_exception(exc)
                    continue
                start = 0
                for n, future in requests:  # each request its own consecutive share
                    future.set_result(names[start:start + n])
                    start += n
