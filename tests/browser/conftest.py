"""Fixtures for the browser test: the system Chromium, a JupyterLab server started from the
kit's own environment, and a headless browser driven by Playwright.

Chromium comes from Debian's ``chromium`` package; Playwright's own browser download is
never used. Without a browser (or without the ``playwright`` package) the test is skipped
locally and fails under ``CI=true``, so CI cannot pass by not running it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from gankit.serve.process import die_with_parent

ON_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Background networking off: this machine's closed network refuses those connections,
# and a test should not depend on them anyway.
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in containers and CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
SERVER_START_TIMEOUT_S = 120


def missing(reason: str) -> None:
    """Skip locally; fail on CI, where a browser test that did not run must not look green."""
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """The system Chromium: $GANKIT_CHROMIUM if set, else Debian's /usr/bin/chromium."""
    explicit = os.environ.get("GANKIT_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class JupyterLab:
    """A running ``jupyter lab``: where it serves from and how to reach it."""

    process: subprocess.Popen
    root_dir: Path
    port: int
    token: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5) -> bytes:
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jupyter_command(root_dir: Path, port: int, token: str) -> list[str]:
    # The same program and options as `make lab` (the Makefile's lab target), so the test
    # proves what a student gets; the port, token and root differ, and no browser opens.
    jupyter = Path(sys.executable).with_name("jupyter")  # .venv/bin/jupyter under `make test`
    command = [
        *([str(jupyter)] if jupyter.exists() else [sys.executable, "-m", "jupyter"]), "lab",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail on a taken port rather than silently move
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--no-browser",
    ]
    if os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    return command


def _wait_until_answering(lab: JupyterLab) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            lab.api("status", timeout=2)
            # the lab page itself, not only the REST API: its assets are built and served
            urllib.request.urlopen(lab.url("lab"), timeout=10).read()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer within {SERVER_START_TIMEOUT_S} s:\n{lab.log_tail()}")


def _stop(lab: JupyterLab) -> None:
    """Stop the server and its kernels: the REST shutdown first (it stops the kernels too),
    then SIGTERM and at last SIGKILL to the server's whole process group."""
    if lab.process.poll() is None:
        try:
            lab.api("shutdown", method="POST")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
    for sig, wait_s in ((None, 20), (signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        if sig is not None:
            try:
                os.killpg(lab.process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            lab.process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    # the server may have gone while a member of its group (a kernel's child) lingers
    try:
        os.killpg(lab.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory) -> JupyterLab:
    """JupyterLab serving an empty temporary folder (the tests copy lessons into it), on a
    free localhost port with a random token; stopped at the end, also after a failure."""
    base = tmp_path_factory.mktemp("jupyter")
    root_dir = base / "notebooks"
    root_dir.mkdir()
    env = dict(os.environ)
    # Keep this server's state out of the user's: a student's next `make lab` should not
    # reopen the test's notebook, and the user's settings should not change the test.
    env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(base / "workspaces")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(base / "user-settings")
    env.setdefault("GANKIT_DEVICE", "cpu")
    # One PyTorch thread in the kernel: on a shared 2-core machine, two threads fighting
    # other processes ran the cells up to lesson 01's widget 5x slower (170 s, against 35 s
    # with one). tests/conftest.py does the same for the unit tests. Set it to override.
    env.setdefault("OMP_NUM_THREADS", "1")

    last_error: Exception | None = None
    for _attempt in range(3):  # a free port can be taken between the check and the bind
        token = secrets.token_hex(24)
        port = _free_port()
        log = base / f"jupyter-{port}.log"
        with open(log, "w", encoding="utf-8") as log_file:
            process = subprocess.Popen(
                _jupyter_command(root_dir, port, token),
                cwd=root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so that _stop reaches all of it
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,  # its kernels follow it
            )
        lab = JupyterLab(process, root_dir, port, token, log)
        try:
            _wait_until_answering(lab)
        except Exception as exc:  # noqa: BLE001 - retried, then re-raised below
            _stop(lab)
            last_error = exc
            continue
        try:
            yield lab
        finally:
            _stop(lab)
        return
    raise RuntimeError(f"could not start jupyter lab: {last_error}")


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def cjk_fonts() -> list[str]:
    """The font families fontconfig knows for Chinese ("Noto Sans CJK SC", ...). Without one,
    Chromium draws each Chinese character as an empty box; the translated lesson's test
    needs one (Debian's fonts-noto-cjk, which .ci/run installs)."""
    listed = ""
    if shutil.which("fc-list"):
        listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                                check=False).stdout
    fonts = sorted({name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()})
    if not fonts:
        missing("no CJK font for the translated lesson's browser test: install Debian's with "
                "`apt-get install -y fonts-noto-cjk`")
    return fonts


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        missing(
            "no Chromium found for the browser test: install Debian's with "
            "`apt-get install -y chromium` (or set GANKIT_CHROMIUM to a Chromium executable)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    """Headless system Chromium driven by Playwright's sync API."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is missing: `pip install -e '.[dev]'` (or `make setup`) installs it")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture
def new_page(browser, jupyter_lab):
    """A fresh browser page; afterwards it is closed and the server's kernels are shut down
    (the next lesson starts its own)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()
        try:
            for kernel in json.loads(jupyter_lab.api("kernels")):
                jupyter_lab.api(f"kernels/{kernel['id']}", method="DELETE", timeout=30)
        except OSError:  # the server is gone; the jupyter_lab fixture's finalizer reports it
            pass
