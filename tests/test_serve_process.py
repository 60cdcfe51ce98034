"""gankit.serve.process: the service as a child process that never outlives its starter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from gankit.serve.process import ServerStartError, start_server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (ended, not yet reaped by its parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_context_manager_serves_then_stops(tmp_path):
    with start_server(["names_gpt"], folder=tmp_path) as server:
        assert server.running and server.url.startswith("http://127.0.0.1:")
        answer = httpx.post(f"{server.url}/v1/names", json={"n": 2, "seed": 3}, timeout=30).json()
        assert answer["model"] == "names_gpt" and len(answer["names"]) == 2
        assert "names_gpt on http://127.0.0.1:" in server.output()
    assert not server.running and server.process.returncode == -signal.SIGTERM  # stopped cleanly by SIGTERM
    assert server.stop() == -signal.SIGTERM  # twice is harmless
    assert '"route": "/v1/names"' in server.request_log.read_text()  # the request log is where it said


def test_a_failing_block_still_stops_the_server(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with start_server(["names_gpt"], folder=tmp_path) as server:
            1 / 0
    assert not server.running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=2)


def test_a_server_that_cannot_start_says_why(tmp_path):
    with pytest.raises(ServerStartError, match="exited with status") as info:
        start_server(["no_such_checkpoint"], folder=tmp_path, startup_s=60)
    assert "no_such_checkpoint" in str(info.value)  # the server's own message is in the error


def test_the_server_dies_with_a_killed_parent(tmp_path):
    """A kernel killed outright (SIGKILL: no atexit, no finalizer) leaves no server behind (Linux)."""
    if sys.platform != "linux":
        pytest.skip("the parent-death signal is Linux's prctl")
    script = ("import sys, time\nfrom gankit.serve.process import start_server\n"
              f"s = start_server(['names_gpt'], folder={str(tmp_path)!r})\n"
              "print(s.process.pid, flush=True)\ntime.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait()
        assert _wait_gone(child), f"the server (pid {child}) outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
