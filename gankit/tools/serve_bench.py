"""A load test of ``gankit serve`` for ``make bench``: how many one-name requests per second
the names endpoint answers, and how long a request waits, with many clients at once.

:func:`serve_load` starts the service as a real process (``python -m gankit serve``) on a
free port of 127.0.0.1 — loopback only, nothing leaves the machine — and sends it
``requests`` requests for one unseeded name (``POST /v1/names {"n": 1}``) from ``clients``
threads at once, each sending its next request as soon as its last one is answered (a
closed loop: the load is ``clients`` requests in flight, not a fixed rate). It does this
twice, each time against a fresh server: once with every request answered alone, once with
the service's micro-batching (``--batch-ms``), under which unseeded name requests that
arrive within the window share one model call (:mod:`gankit.serve.batching`).

What it reports, for the batched run and (suffix ``_unbatched``) the unbatched one:

* ``requests_per_s``: requests answered, divided by the wall time from the first request
  sent to the last answer received;
* ``p50_ms``, ``p95_ms``, ``p99_ms``: percentiles of the time from sending a request to
  having its answer, in milliseconds, over the answered requests (linear interpolation
  between the sorted times, numpy's default, so p50 <= p95 <= p99 always holds);
* ``errors``: requests that did not get a 200 with one name — an error status, a transport
  error or time-out, or a request not yet sent when the run's time limit ran out. The
  target is 0.

Before the timed requests, each client sends one untimed request, so that the first
timings do not include connection set-up and the model's first call.

Both runs are bounded: the server must answer ``/healthz`` within ``startup_s`` seconds,
and the requests stop after ``timeout_s`` seconds (what is left counts as errors). The
server process is stopped (SIGTERM, then SIGKILL after 10 s) whatever happens, including
an exception or Ctrl-C in the benchmark.

    python -m gankit.tools.serve_bench [--requests 500] [--clients 16] [--batch-ms 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from gankit.serve.process import ServerStartError, start_server, stop_process

__all__ = ["ServeBenchError", "load_once", "serve_load", "stop_server"]

HOST = "127.0.0.1"  # loopback only: the load test never listens on, or calls, another address
ServeBenchError = ServerStartError  # the server could not be started, or did not answer: nothing was measured
stop_server = stop_process  # SIGTERM, then SIGKILL after 10 s


def _percentiles(latencies_ms: list[float]) -> dict[str, float]:
    if not latencies_ms:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(latencies_ms), [50, 95, 99])
    return {"p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1), "p99_ms": round(float(p99), 1)}


def load_once(url: str, requests: int = 500, clients: int = 16, timeout_s: float = 120.0) -> dict:
    """Send ``requests`` one-name requests to a running service at ``url`` from ``clients``
    threads at once (each sends its next request when its last is answered). Returns
    requests_per_s, p50_ms, p95_ms, p99_ms and errors (see the module's docstring)."""
    if requests < 1 or clients < 1:
        raise ValueError(f"requests and clients must be at least 1; got requests={requests}, clients={clients}")
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"the load test only calls this machine over loopback (http://{HOST}:PORT); got {url!r}")
    body = {"n": 1}  # no seed: under --batch-ms such requests may share a model call
    tickets = itertools.count()  # next(...) is atomic in CPython: each request number is taken once
    lock = threading.Lock()
    latencies_ms: list[float] = []
    errors = 0
    deadline = time.monotonic() + timeout_s
    start_together = threading.Barrier(clients + 1, timeout=timeout_s)

    def ok(response: httpx.Response) -> bool:
        return response.status_code == 200 and len(response.json().get("names", [])) == 1

    def client(http: httpx.Client) -> None:
        nonlocal errors
        try:  # one untimed request: the connection is open and the model warm before timing starts
            http.post("/v1/names", json=body, timeout=max(1.0, deadline - time.monotonic()))
        except httpx.HTTPError:
            pass
        start_together.wait()
        while next(tickets) < requests:
            left = deadline - time.monotonic()
            if left <= 0:
                with lock:
                    errors += 1  # not sent in time: counted, so that errors == 0 means every request was answered
                continue
            sent = time.perf_counter()
            try:
                good = ok(http.post("/v1/names", json=body, timeout=left))
            except (httpx.HTTPError, ValueError):  # a transport error, a time-out, a body that is not JSON
                good = False
            took_ms = (time.perf_counter() - sent) * 1000
            with lock:
                if good:
                    latencies_ms.append(took_ms)
                else:
                    errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(base_url=url, limits=limits) as http:  # one pool shared by the threads (httpx allows it)
        threads = [threading.Thread(target=client, args=(http,), daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        start_together.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        wall = time.perf_counter() - began
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        raise ServeBenchError(f"{stuck} of {clients} clients were still waiting {timeout_s:g} s after the start")
    answered = len(latencies_ms)
    return {"requests_per_s": round(answered / wall, 1) if wall > 0 else float("nan"),
            **_percentiles(latencies_ms), "errors": errors}


def serve_load(requests: int = 500, clients: int = 16, batch_ms: float = 5.0, timeout_s: float = 120.0,
               startup_s: float = 60.0, models: tuple[str, ...] = ("names_gpt",)) -> dict:
    """The names endpoint under load, unbatched and with ``batch_ms`` micro-batching, each
    against a fresh ``gankit serve`` process on a free loopback port (see the module's
    docstring for what is measured and how it is bounded). Returns

    ``requests_per_s``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``errors`` (with batching),
    the same five with the suffix ``_unbatched``, and ``requests``, ``clients``,
    ``batch_ms`` — all numbers, as ``benchmarks/results.json`` keeps them.
    """
    if batch_ms <= 0:
        raise ValueError(f"batch_ms is the micro-batching window to compare with no batching; it must be "
                         f"above 0 (got {batch_ms}). The issue's figures use 5.")
    results: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(prefix="gankit-serve-bench-") as tmp:
        for window, suffix in ((0.0, "_unbatched"), (batch_ms, "")):
            # gankit.serve.process stops the server when the block ends, also on an error or Ctrl-C
            with start_server(models, host=HOST, batch_ms=window, folder=Path(tmp) / f"batch{window:g}",
                              startup_s=startup_s) as server:
                figures = load_once(server.url, requests=requests, clients=clients, timeout_s=timeout_s)
            results.update({f"{key}{suffix}": value for key, value in figures.items()})
    order = ["requests_per_s", "p50_ms", "p95_ms", "p99_ms", "errors"]
    return {**{k: results[k] for k in order}, **{f"{k}_unbatched": results[f"{k}_unbatched"] for k in order},
            "requests": requests, "clients": clients, "batch_ms": batch_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="timed requests per run (default: 500)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--batch-ms", type=float, default=5.0, help="micro-batching window of the batched run")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each run may send requests for")
    args = parser.parse_args(argv)
    print(json.dumps(serve_load(args.requests, args.clients, args.batch_ms, args.timeout), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
