"""The service as a real process, started and stopped from Python (lesson 14, tests, benchmarks).

:func:`start_server` runs ``python -m gankit serve --port 0`` in a child process: the system
picks a free port, the server prints which, and the function returns once ``/healthz``
answers. What it returns, a :class:`ServerProcess`, knows the URL, the server's output and
its request log, and stops the process — SIGTERM first (uvicorn finishes the requests in
progress and exits), SIGKILL if that takes longer than ``stop_timeout_s``.

A server must not outlive the notebook that started it, whatever happens in between:

* use it as a context manager (``with start_server() as server: ...``) and it stops when
  the block ends, also when the block raises;
* or keep it across cells and call ``server.stop()`` at the end; if a cell fails first,
  the server is still stopped when the kernel ends or restarts (a ``weakref.finalize``,
  which Python runs at exit), or when the object is garbage-collected; on Linux also when
  the kernel is killed outright (the child asks for SIGTERM when its parent dies).

Why a process and not a thread: a client in another process is what a service sees in
production, and a server in its own process cannot block or be blocked by the notebook's
own work (the GIL). The server's output goes to a file, not a pipe: a pipe nobody reads
fills up and blocks the server.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

import httpx

from gankit.serve.models import DEFAULT_MODELS

__all__ = ["ServerStartError", "ServerProcess", "start_server", "stop_process"]

ROOT = Path(__file__).resolve().parents[2]
_URL_LINE = re.compile(r"on http://([0-9.]+|\[[0-9a-f:]+\]):(\d+)/")


class ServerStartError(RuntimeError):
    """The server exited, or did not answer ``/healthz`` in time; the message holds its output."""


def die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: ask the kernel to send the child SIGTERM when its parent dies, even by SIGKILL
    or a CI timeout, when no finalizer runs. Pass it as ``subprocess.Popen(...,
    preexec_fn=die_with_parent)`` (the service here; the browser tests' JupyterLab too)."""
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not glibc: the child then outlives a killed parent
        pass


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> int | None:
    """SIGTERM, then SIGKILL if the process has not ended within ``timeout_s``; its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class ServerProcess:
    """A running ``gankit serve`` process: ``url``, ``request_log``, ``output()``, ``stop()``."""

    def __init__(self, process: subprocess.Popen, url: str, output_path: Path, request_log: Path | None,
                 stop_timeout_s: float = 10.0) -> None:
        self.process, self.url, self.output_path, self.request_log = process, url, output_path, request_log
        self.stop_timeout_s = stop_timeout_s
        # stops the server when the interpreter exits (a failed cell, a kernel restart) or the object is
        # collected; a finalizer holds no reference to self, so it does not keep the object alive
        self._finalizer = weakref.finalize(self, stop_process, process, stop_timeout_s)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """What the server printed so far (its start line, warnings, a traceback if it crashed)."""
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL) and return its exit status; stopping twice is harmless."""
        self._finalizer()  # runs stop_process once, and detaches it
        return self.process.returncode

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (status {self.process.returncode})"
        return f"ServerProcess({self.url}, pid {self.process.pid}, {state})"


def start_server(models: Sequence[str | os.PathLike] = DEFAULT_MODELS, *, host: str = "127.0.0.1", port: int = 0,
                 batch_ms: float = 0.0, alert_below: dict[str, float] | None = None,
                 request_log: str | os.PathLike | None = None, folder: str | os.PathLike | None = None,
                 startup_s: float = 120.0, stop_timeout_s: float = 10.0) -> ServerProcess:
    """Start ``gankit serve`` with ``models`` in a child process and wait until it answers.

    ``port=0`` lets the system pick a free port (read it from ``server.url``). ``batch_ms`` and
    ``alert_below`` are the CLI's ``--batch-ms`` and ``--alert-below`` ({"judge_confident": 0.6}).
    The request log goes to ``request_log`` (default: ``requests.jsonl`` in ``folder``, a new
    temporary folder unless given), the server's output to ``server.txt`` beside it. Raises
    :class:`ServerStartError` with the server's output if it exits at start or does not
    answer ``/healthz`` within ``startup_s`` seconds; the process is stopped in both cases.
    """
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="gankit-serve-"))
    folder.mkdir(parents=True, exist_ok=True)
    log = Path(request_log) if request_log is not None else folder / "requests.jsonl"
    output_path = folder / "server.txt"
    command = [sys.executable, "-m", "gankit", "serve", "--host", host, "--port", str(port),
               "--models", *map(str, models), "--request-log", str(log), "--batch-ms", f"{batch_ms:g}"]
    for measure, share in (alert_below or {}).items():
        command += ["--alert-below", measure, f"{share:g}"]
    with open(output_path, "w", encoding="utf-8") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   preexec_fn=die_with_parent if sys.platform == "linux" else None)
    server = ServerProcess(process, "", output_path, log, stop_timeout_s)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                raise ServerStartError(f"gankit serve exited with status {process.returncode} at start:\n"
                                       f"{server.output()}")
            if not server.url:
                found = _URL_LINE.search(server.output())
                server.url = f"http://{found.group(1)}:{found.group(2)}" if found else ""
            if server.url:
                try:
                    if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"gankit serve did not answer /healthz within {startup_s:g} s (raise "
                                       f"startup_s on a slow machine). Its output:\n{server.output()}")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise

