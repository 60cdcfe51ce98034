"""The web service: a FastAPI app that answers requests with the bundled models.

    POST /v1/names    names from the names GPT (n, temperature, top_k, top_p, prompt, control, seed)
    POST /v1/digits   PNG images of the digits asked for, base64 in JSON (digits, n, seed, model:
                      the conditional VAE unless "diffusion_digits" or another served one is named)
    GET  /v1/models   each served checkpoint: its file's sha256 and the figures its recipe measured
    GET  /v1/monitor  the quality of what was served: rolling judge and novelty shares per model
    GET  /healthz     "ok" while the service answers
    GET  /metrics     Prometheus text: requests by route and status, errors, latency histogram,
                      requests per model call, the monitor's shares
    GET  /docs        the OpenAPI description, to read and try (/openapi.json for programs);
                      its Swagger UI files come from the service itself, so it works offline
    GET  /            a small page to ask for names and digits by hand

:func:`create_app` builds the app; ``gankit serve`` (or :func:`gankit.serve.server.serve`)
runs it with uvicorn. What makes it a service rather than a notebook cell:

* nothing reaches a model unvalidated: the pydantic schemas of :mod:`gankit.serve.schemas`
  and each model's own limits turn a bad value into a 422 that names the field;
* a request body over ``max_body_bytes`` is refused (413) before it is read whole;
* the same seed gives the same answer, whatever else runs at the same time (each request
  has its own generator; each model answers one request at a time); with
  ``batch_window_ms``, name requests without a seed may share a model call instead
  (:mod:`gankit.serve.batching`), several times the throughput under load;
* every request is counted and timed (``/metrics``) and written as one JSON line to the
  request log: time, method, route, status, latency, and how many items it asked for;
* what is sent out is measured too (:mod:`gankit.serve.monitor`): a worse model answers as
  fast as a good one, so only the items themselves show it.

The handlers are plain ``def`` functions: FastAPI runs them in a thread pool, so a model
working on one request does not stop the server from accepting the next.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import Match
from PIL import Image

from gankit import __version__
from gankit.serve.batching import NameBatcher, Settings
from gankit.serve.monitor import QualityMonitor
from gankit.serve.models import DEFAULT_MODELS, DigitGenerator, NameGenerator, ServedModel, load_served
from gankit.serve.schemas import (
    MAX_SEED,
    DigitImage,
    DigitsRequest,
    DigitsResponse,
    Health,
    ModelsResponse,
    MonitorResponse,
    NamesRequest,
    NamesResponse,
)

__all__ = ["MAX_BODY_BYTES", "create_app", "png_base64"]

MAX_BODY_BYTES = 16 * 1024  # the largest request is a few hundred bytes; 16 KiB leaves room and refuses junk
PAGE = Path(__file__).with_name("page.html")
DOCS_ASSETS = "/docs-assets"  # where /docs and /redoc find their JavaScript, CSS and icon
_ITEMS = "gankit.items"  # scope key where a handler leaves how many items its request asked for
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

request_logger = logging.getLogger("gankit.serve.requests")


class _Metrics:
    """The service's Prometheus metrics, in a registry of their own (so that two apps in one
    process, as in tests, count separately)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("gankit_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.errors = Counter("gankit_request_errors", "requests answered with an error status "
                              "(4xx: the request was wrong, 5xx: the service failed)",
                              ["route", "status"], registry=self.registry)
        self.latency = Histogram("gankit_request_seconds", "time from request to response, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.items = Counter("gankit_items_served", "names or images sent back, by model",
                             ["model"], registry=self.registry)
        self.calls = Histogram("gankit_model_call_requests", "requests answered by one model call, by model "
                               "(1 without batching; _count is the number of calls)", ["model"],
                               buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)


class _MonitorCollector:
    """Prometheus reads the monitor's rolling shares when it scrapes /metrics."""

    def __init__(self, monitor: QualityMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[GaugeMetricFamily]:
        summary = self.monitor.summary()
        quality = GaugeMetricFamily("gankit_served_quality", "rolling share of the served items that pass a "
                                    "measure (judge_confident, label_agreement, novel), by model",
                                    labels=["model", "measure"])
        alert = GaugeMetricFamily("gankit_served_alert", "1 while a measure is below its floor",
                                  labels=["model", "measure"])
        alerting = {(a["model"], a["measure"]) for a in summary["alerts"]}
        for model, measures in summary["models"].items():
            for measure, value in measures.items():
                quality.add_metric([model, measure], value["share"])
                alert.add_metric([model, measure], float((model, measure) in alerting))
        yield quality
        yield alert


class _Observe:
    """ASGI middleware: time, count and log every HTTP request, whatever its outcome (a 422,
    a 413, a 404 or a crash all count)."""

    def __init__(self, app: Any, metrics: _Metrics, routes: Sequence[Any], log_path: Path | None) -> None:
        self.app, self.metrics, self.routes, self.log_path = app, metrics, routes, log_path

    def _route(self, scope: dict) -> str:
        # the route's template ("/v1/names"), not the raw path: unknown paths share one label,
        # so a scan of random URLs cannot grow the metrics without bound
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route.path
        return "unmatched"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless a response starts: an exception that escapes is the service's failure

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - start
            route = self._route(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            if status >= 400:
                self.metrics.errors.labels(route, str(status)).inc()
            self._log({"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                       "method": scope["method"], "route": route, "path": scope["path"], "status": status,
                       "latency_ms": round(seconds * 1000, 3), "n": scope.get(_ITEMS)})

    def _log(self, record: dict) -> None:
        line = json.dumps(record)
        request_logger.info(line)
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:  # one write per line: lines never interleave
                f.write(line + "\n")


class _BodyTooLarge(HTTPException):
    def __init__(self, size: str, limit: int) -> None:
        super().__init__(413, f"the request body has {size} bytes; this service takes at most {limit:,} "
                              f"(a request is a few numbers and a short prompt)")


class _LimitBody:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 with a message that
    gives the limit. A body that declares its length (Content-Length) is refused before it is
    read; one sent in chunks is cut off as soon as it passes the limit, so a client cannot make
    the service hold an endless body in memory."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = _BodyTooLarge(f"{int(declared):,}", self.max_bytes)
            await JSONResponse(status_code=413, content={"detail": error.detail})(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # an HTTPException: FastAPI's body reader passes it on, and it is answered as JSON
                    raise _BodyTooLarge(f"more than {self.max_bytes:,}", self.max_bytes)
            return message

        await self.app(scope, receive_within_limit, send)


def png_base64(image: torch.Tensor) -> str:
    """A (1, H, W) image in [0, 1] as a greyscale PNG file, base64-encoded for JSON."""
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8)[0].numpy()  # (H, W), 0 = black
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")  # L: one 8-bit grey channel
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _error(field: str, message: str, value: Any) -> dict:
    """One error in pydantic's shape, for a limit that depends on the model: raised in a
    RequestValidationError, it is answered like the schema's own (a 422 naming the field)."""
    return {"type": "value_error", "loc": ("body", field), "msg": message, "input": value}


def _pick(served: dict[str, ServedModel], task: str, name: str | None) -> ServedModel:
    """The model that answers a request of ``task``: the one named, or the first of that task."""
    candidates = [m for m in served.values() if m.task == task]
    if name is None:
        if not candidates:
            raise _NotServed(task)
        return candidates[0]
    if name not in [m.name for m in candidates]:
        known = ", ".join(m.name for m in candidates) or "none"
        raise RequestValidationError(
            [_error("model", f"no {task} model called {name!r} is served; served {task} models: {known}", name)])
    return served[name]


class _NotServed(Exception):
    def __init__(self, task: str) -> None:
        super().__init__(task)
        self.task = task


def _message(errors: list[dict]) -> str:
    """One line for a person: 'temperature: Input should be greater than 0 (got -1)'."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            position, reason = error["loc"][-1], error.get("ctx", {}).get("error", "")
            parts.append(f"the body is not valid JSON (at character {position}: {reason})")
            continue
        field = ".".join(str(p) for p in error.get("loc", ())[1:]) or "body"
        got = f" (got {error['input']!r})" if isinstance(error.get("input"), (int, float, str)) else ""
        parts.append(f"{field}: {error.get('msg', '')}{got}")
    return "; ".join(parts)


def create_app(
    models: Sequence[str | os.PathLike | ServedModel] = DEFAULT_MODELS,
    *,
    request_log: str | os.PathLike | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    monitor: QualityMonitor | None = None,
    batch_window_ms: float = 0.0,
) -> FastAPI:
    """The service's FastAPI app, serving ``models``: bundled checkpoint names, checkpoint
    paths, or already-loaded :class:`~gankit.serve.models.ServedModel` objects.

    ``request_log``: a file that gets one JSON line per request (appended; its folder is
    made). Every line also goes to the ``gankit.serve.requests`` logger.
    ``monitor``: measures what is served (default: a :class:`~gankit.serve.monitor.QualityMonitor`
    over the last 500 items of each model, without alarms).
    ``batch_window_ms`` > 0 answers name requests without a seed in micro-batches: those that
    arrive within that many milliseconds of each other share one model call
    (:mod:`gankit.serve.batching`); 0 answers every request alone.
    """
    served: dict[str, ServedModel] = {}
    for spec in models:
        model = spec if isinstance(spec, ServedModel) else load_served(spec)
        if model.name in served:
            raise ValueError(f"Two served models are called {model.name!r}; each needs its own name (file stem).")
        served[model.name] = model
    if not served:
        raise ValueError("create_app needs at least one model to serve, e.g. models=('names_gpt', 'cvae_digits').")
    log_path = Path(request_log) if request_log is not None else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    metrics = _Metrics()
    monitor = QualityMonitor() if monitor is None else monitor
    metrics.registry.register(_MonitorCollector(monitor))

    # FastAPI's own /docs page loads Swagger UI's script and style sheet from a CDN, so on a
    # machine without internet (a classroom, this kit's default) it stays blank. FastAPIOffline
    # is the same FastAPI app with those files served by the app itself, from the
    # fastapi-offline package (Swagger UI 5, which reads the OpenAPI 3.1 that FastAPI writes).
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="gankit",
        version=__version__,
        description="Names and digits from gankit's bundled models: the service of lesson 14.",
    )
    app.state.served = served
    app.state.metrics = metrics
    app.state.monitor = monitor
    batchers = {}
    if batch_window_ms > 0:
        for model in served.values():
            if isinstance(model, NameGenerator):
                batchers[model.name] = NameBatcher(model, window=batch_window_ms / 1000,
                                                   on_call=metrics.calls.labels(model.name).observe)
    # the middleware added last runs first: _Observe counts and logs the 413s of _LimitBody too
    app.add_middleware(_LimitBody, max_bytes=max_body_bytes)
    app.add_middleware(_Observe, metrics=metrics, routes=app.router.routes, log_path=log_path)

    @app.exception_handler(RequestValidationError)
    async def _validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        return JSONResponse(status_code=422, content={"detail": errors, "message": _message(errors)})

    @app.exception_handler(_NotServed)
    async def _not_served(request: Request, exc: _NotServed) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": (
            f"this service has no {exc.task} model; it serves {', '.join(served)}. Start it with one, "
            f"e.g. gankit serve --models {' '.join(DEFAULT_MODELS)}")})

    @app.post("/v1/names", response_model=NamesResponse, summary="Write names")
    def names(body: NamesRequest, request: Request) -> NamesResponse:
        model = _pick(served, "names", body.model)
        assert isinstance(model, NameGenerator)
        control = None if body.control == "none" else body.control
        errors = model.request_errors(body.prompt, control)
        if errors:
            raise RequestValidationError([_error(field, message, getattr(body, field)) for field, message in errors])
        request.scope[_ITEMS] = body.n
        settings = Settings(temperature=body.temperature, top_k=body.top_k, top_p=body.top_p, prompt=body.prompt,
                            control=control)
        if body.seed is None and model.name in batchers:  # shares a model call: no seed replays it
            seed, names = None, batchers[model.name].submit(body.n, settings)
        else:
            seed = secrets.randbelow(MAX_SEED) if body.seed is None else body.seed
            names = model.names(body.n, seed=seed, **asdict(settings))
            metrics.calls.labels(model.name).observe(1)
        metrics.items.labels(model.name).inc(len(names))
        monitor.observe_names(model.name, names)
        return NamesResponse(model=model.name, seed=seed, names=names)

    @app.post("/v1/digits", response_model=DigitsResponse, summary="Draw digits")
    def digits(body: DigitsRequest, request: Request) -> DigitsResponse:
        model = _pick(served, "digits", body.model)
        assert isinstance(model, DigitGenerator)
        labels = [d for d in body.digits for _ in range(body.n)]  # n of each, in the order asked
        errors = model.request_errors(len(labels))  # a slow model (diffusion) takes fewer images a request
        if errors:
            raise RequestValidationError([_error(field, message, getattr(body, field)) for field, message in errors])
        request.scope[_ITEMS] = len(labels)
        seed = secrets.randbelow(MAX_SEED) if body.seed is None else body.seed
        images = model.draw(labels, seed=seed)  # (N, 1, 28, 28)
        metrics.calls.labels(model.name).observe(1)
        metrics.items.labels(model.name).inc(len(labels))
        monitor.observe_digits(model.name, images, labels)
        return DigitsResponse(model=model.name, seed=seed,
                              images=[DigitImage(digit=d, png=png_base64(x)) for d, x in zip(labels, images)])

    @app.get("/v1/models", response_model=ModelsResponse, summary="The served checkpoints")
    def list_models() -> dict:
        return {"models": [m.describe() for m in served.values()]}

    @app.get("/v1/monitor", response_model=MonitorResponse, summary="The quality of what was served")
    def quality() -> dict:
        return monitor.summary()

    @app.get("/healthz", response_model=Health, summary="Is the service up?")
    def healthz() -> dict:
        return {"status": "ok", "models": list(served)}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    return app
