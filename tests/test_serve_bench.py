"""gankit.tools.serve_bench: the load test that ``make bench`` runs against ``gankit serve``,
here with tiny counts (20 requests from 4 clients) so that it takes seconds, not minutes."""

from __future__ import annotations

import math
import socket

import pytest

from gankit.tools import serve_bench
from gankit.tools.serve_bench import ServeBenchError, load_once, serve_load

FIGURES = ["requests_per_s", "p50_ms", "p95_ms", "p99_ms", "errors"]


@pytest.fixture
def started(monkeypatch):
    """Every server process serve_load starts, so a test can check that each was stopped."""
    processes = []
    real = serve_bench.start_server

    def recording(*args, **kwargs):
        server = real(*args, **kwargs)
        processes.append(server.process)
        return server

    monkeypatch.setattr(serve_bench, "start_server", recording)
    return processes


def test_serve_load_measures_both_runs_without_errors_and_stops_both_servers(started):
    result = serve_load(requests=20, clients=4, batch_ms=5)
    assert set(result) == {*FIGURES, *(f"{k}_unbatched" for k in FIGURES), "requests", "clients", "batch_ms"}
    assert all(isinstance(v, (int, float)) for v in result.values()), "results.json and the markdown want numbers"
    for suffix in ("", "_unbatched"):
        assert result[f"errors{suffix}"] == 0
        assert result[f"requests_per_s{suffix}"] > 0
        assert 0 < result[f"p50_ms{suffix}"] <= result[f"p95_ms{suffix}"] <= result[f"p99_ms{suffix}"]
    assert (result["requests"], result["clients"], result["batch_ms"]) == (20, 4, 5)
    assert len(started) == 2 and all(p.poll() is not None for p in started), "a server was left running"


def test_the_server_is_stopped_when_the_load_test_fails(started, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the load test broke")

    monkeypatch.setattr(serve_bench, "load_once", broken)
    with pytest.raises(RuntimeError, match="broke"):
        serve_load(requests=5, clients=1)
    assert len(started) == 1 and started[0].poll() is not None, "the server outlived the failed load test"


def test_requests_that_get_no_answer_are_errors():
    with socket.socket() as s:  # a port nobody listens on: every request is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = load_once(f"http://127.0.0.1:{port}", requests=6, clients=2, timeout_s=10)
    assert result["errors"] == 6 and result["requests_per_s"] == 0
    assert math.isnan(result["p50_ms"])


def test_percentiles_by_hand():
    # sorted 10..50: p50 is the middle one; p95 sits at position 0.95 * 4 = 3.8, 80 % of the way from 40 to 50
    assert serve_bench._percentiles([50, 10, 40, 20, 30]) == {"p50_ms": 30.0, "p95_ms": 48.0, "p99_ms": 49.6}


def test_refusals_name_what_was_wrong():
    with pytest.raises(ValueError, match="loopback"):
        load_once("http://example.com:80")
    with pytest.raises(ValueError, match="at least 1"):
        load_once("http://127.0.0.1:1", requests=0)
    with pytest.raises(ValueError, match="batch_ms"):
        serve_load(batch_ms=0)


def test_a_server_that_cannot_start_is_a_clear_error():
    with pytest.raises(ServeBenchError, match="exited"):
        serve_load(requests=5, clients=1, models=("no_such_checkpoint",), startup_s=60)
