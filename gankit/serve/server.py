"""Run the service with uvicorn: what ``gankit serve`` does.

The listening socket is opened here, before the models load and before uvicorn starts, so
that a port already in use is a clear message at once ("port 8000 on 127.0.0.1 is in use:
...") rather than a traceback from inside the server; uvicorn then serves on that socket.
Port 0 asks the system for a free port, and the line printed at start says which one.

uvicorn stops cleanly on Ctrl-C or SIGTERM: it stops accepting, lets the requests in
progress finish, and exits. It then passes the signal on, as a server should: after
SIGTERM the process ends with that signal's status (-15 from Python's subprocess, 143 in a
shell); after Ctrl-C ``serve`` returns.

**One PyTorch thread per model call, by default.** Measured here (names GPT, one-name
requests, 2 cores): with PyTorch's default of 2 threads, 35.8 requests/s from 1 client fell
to 16.8 from 4 clients and 18.0 from 16; with 1 thread the rate stayed at 29-32 requests/s
for 1, 4 and 16 clients. A likely cause: requests are answered in a pool of Python threads,
PyTorch's OpenMP keeps a team of worker threads for each Python thread that runs a parallel
operator, and an idle team spins for a while before it sleeps, so the teams of the last few
requests compete for the cores the current one needs. The bundled models are small enough
that one thread per call loses little (``--threads`` raises it).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence

import torch
import uvicorn

from gankit.serve.app import create_app
from gankit.serve.models import DEFAULT_MODELS
from gankit.serve.monitor import QualityMonitor

__all__ = ["PortInUseError", "open_socket", "serve"]


class PortInUseError(OSError):
    """The port asked for is taken (most often by another server still running)."""


def open_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), ready for uvicorn to listen on."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise OSError(f"cannot serve on host {host!r}: {exc.strerror}. Use an address such as 127.0.0.1.") from None
    sock = socket.socket(family, kind, proto)
    # lets a restarted server bind while the old one's connections wait out TIME_WAIT; a port that
    # another socket is listening on stays refused
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                errno.EADDRINUSE,
                f"port {port} on {host} is in use: another program (perhaps an earlier `gankit serve`) is "
                f"listening there. Stop it, or choose another port with --port (--port 0 picks a free one).",
            ) from None
        raise
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, models: Sequence[str | os.PathLike] = DEFAULT_MODELS,
          request_log: str | os.PathLike | None = None, floors: dict[str, float] | None = None,
          batch_window_ms: float = 0.0, threads: int = 1) -> None:
    """Serve ``models`` on http://host:port/ until stopped (Ctrl-C or SIGTERM). ``floors``:
    alarms of the quality monitor, e.g. {"judge_confident": 0.6} (see gankit.serve.monitor);
    ``batch_window_ms``: micro-batching of unseeded name requests (see gankit.serve.batching);
    ``threads``: PyTorch's intra-op threads (see the module's docstring for why 1)."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads is how many threads one model call may use, at least 1; got {threads!r}.")
    torch.set_num_threads(threads)
    sock = open_socket(host, port)
    try:
        app = create_app(models, request_log=request_log, monitor=QualityMonitor(floors=floors),
                         batch_window_ms=batch_window_ms)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        batching = f"{batch_window_ms:g} ms" if batch_window_ms > 0 else "off"
        print(f"gankit serve: {', '.join(app.state.served)} on http://{shown}:{bound_port}/ "
              f"(API docs at /docs; request log: {request_log or 'off'}; batching: {batching}); Ctrl-C stops it.",
              flush=True)
        config = uvicorn.Config(app, log_level="warning", access_log=False)  # the request log replaces uvicorn's
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has already shut down cleanly, and passes the signal on
        print("gankit serve: stopped.", flush=True)
    finally:
        sock.close()
