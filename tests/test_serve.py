"""The service, tested as a client meets it: a real `gankit serve` process on a free port of
this machine, called over HTTP with httpx (not an in-process client, which would skip the
server, the socket and the process).

The server starts once for the module (a few seconds: Python, torch and two checkpoints)
and is always stopped by the fixture, even when a test fails. The tests run in file order:
the last ones check that after every bad request above the server still answers, and that
it stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families
from PIL import Image

from gankit.metrics import label_agreement
from gankit.data import load_mnist_subset
from gankit.models import ConditionalVAE, ConditionalVAEConfig, UNetConfig, UNetDenoiser, save_checkpoint
from gankit.models.dcgan import to_unit_range
from gankit.models.diffusion import sample_flow
from gankit.serve import MAX_BODY_BYTES, NameBatcher, QualityMonitor, create_app, load_served
from gankit.serve.batching import Settings
from gankit.serve.models import CHECKPOINT_DIR, DEFAULT_MODELS, DiffusionDigitGenerator
from gankit.tools.cli import main
from gankit.serve.process import start_server

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60  # a cold start on a busy 2-core machine; it usually takes 3-6 s


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One live `gankit serve` process on a free loopback port (gankit.serve.process, as lesson 14
    starts it), with micro-batching and an alarm; stopped at the end of the module, whatever happens."""
    with start_server(DEFAULT_MODELS, alert_below={"label_agreement": 0.5}, batch_ms=5,
                      folder=tmp_path_factory.mktemp("serve"), startup_s=STARTUP_SECONDS) as running:
        yield running


def _client(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


@pytest.fixture(scope="module")
def client(server):
    with _client(server) as c:
        yield c


# --------------------------------------------------------------------------- happy paths


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "models": ["names_gpt", "cvae_digits", "diffusion_digits"]}


def test_names_are_names_and_the_same_for_the_same_seed(client):
    body = {"n": 8, "temperature": 0.9, "top_k": 10, "top_p": 0.95, "seed": 3}
    first = client.post("/v1/names", json=body)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["model"] == "names_gpt" and answer["seed"] == 3
    assert len(answer["names"]) == 8
    assert all(re.fullmatch(r"[a-z]+", name) for name in answer["names"]), answer["names"]
    assert client.post("/v1/names", json=body).json() == answer
    other = client.post("/v1/names", json={**body, "seed": 4}).json()
    assert other["names"] != answer["names"]


def test_names_begin_with_the_prompt_and_follow_the_control(client):
    r = client.post("/v1/names", json={"n": 6, "prompt": "ma", "control": "female", "seed": 0})
    assert r.status_code == 200, r.text
    names = r.json()["names"]
    assert len(names) == 6 and all(name.startswith("ma") and re.fullmatch(r"[a-z]+", name) for name in names)


def test_names_without_a_seed_may_share_a_batch_and_have_no_seed(client):
    answer = client.post("/v1/names", json={"n": 3, "prompt": "jo"}).json()  # the server batches (--batch-ms 5)
    assert answer["seed"] is None and len(answer["names"]) == 3
    assert all(name.startswith("jo") for name in answer["names"])


def test_digits_are_28x28_pngs_of_the_digits_asked_for(client):
    asked = list(range(10))
    r = client.post("/v1/digits", json={"digits": asked, "n": 2, "seed": 0})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"] == "cvae_digits" and answer["seed"] == 0
    labels = [image["digit"] for image in answer["images"]]
    assert labels == [d for d in asked for _ in range(2)]  # n of each, in the order asked
    images = []
    for image in answer["images"]:
        data = base64.b64decode(image["png"])
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        png = Image.open(io.BytesIO(data))
        assert png.format == "PNG" and png.size == (28, 28) and png.mode == "L"
        images.append(torch.from_numpy(np.asarray(png, dtype=np.float32) / 255)[None])  # (1, 28, 28)
    # the digit judge (98.8 % on real digits) reads most of them as the digit asked for
    agreement = label_agreement(torch.stack(images), torch.tensor(labels))
    assert agreement >= 0.8, f"the judge agrees on only {agreement:.0%} of the served digits"
    assert client.post("/v1/digits", json={"digits": asked, "n": 2, "seed": 0}).json() == answer


def test_models_lists_each_checkpoint_with_its_sha256_and_figures(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    models = {m["name"]: m for m in r.json()["models"]}
    assert set(models) == {"names_gpt", "cvae_digits", "diffusion_digits"}
    for name, info in models.items():
        path = CHECKPOINT_DIR / f"{name}.pt"
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert info["bytes"] == path.stat().st_size and info["recipe"] == name
    assert models["names_gpt"]["task"] == "names" and models["cvae_digits"]["task"] == "digits"
    assert models["names_gpt"]["figures"]["test_loss"] == pytest.approx(1.868, abs=1e-3)  # data/README.md
    assert models["cvae_digits"]["figures"]["label_agreement"] == pytest.approx(0.888, abs=1e-3)
    assert models["names_gpt"]["alphabet"] == "abcdefghijklmnopqrstuvwxyz"
    assert models["names_gpt"]["parameters"] == 204_800


def test_the_diffusion_model_draws_the_digits_asked_for_when_named(client):
    """``"model": "diffusion_digits"`` picks the second digit model; the images are served as
    the conditional VAE's are, the seed replays them, and they are not the VAE's."""
    body = {"digits": [1, 4, 7], "n": 2, "seed": 0, "model": "diffusion_digits"}
    r = client.post("/v1/digits", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"] == "diffusion_digits" and answer["seed"] == 0
    labels = [image["digit"] for image in answer["images"]]
    assert labels == [1, 1, 4, 4, 7, 7]
    images = []
    for image in answer["images"]:
        png = Image.open(io.BytesIO(base64.b64decode(image["png"])))
        assert png.format == "PNG" and png.size == (28, 28) and png.mode == "L"
        images.append(torch.from_numpy(np.asarray(png, dtype=np.float32) / 255)[None])
    # the recipe measured 100 % label agreement at guidance w = 1 (1,000 images); 5 of 6 leaves room
    agreement = label_agreement(torch.stack(images), torch.tensor(labels))
    assert agreement >= 5 / 6, f"the judge agrees on only {agreement:.0%} of the diffusion model's digits"
    assert client.post("/v1/digits", json=body).json() == answer
    vae = client.post("/v1/digits", json={**body, "model": "cvae_digits"}).json()
    assert vae["model"] == "cvae_digits" and vae["images"] != answer["images"]


def test_models_lists_the_diffusion_model_with_how_it_samples(client):
    info = {m["name"]: m for m in client.get("/v1/models").json()["models"]}["diffusion_digits"]
    assert info["task"] == "digits" and info["model_class"] == "UNetDenoiser"
    assert info["parameters"] == 147_169  # the recipe's U-Net, 16-32-64 (data/README.md: 147k)
    assert (info["sample_steps"], info["guidance"], info["max_images"]) == (20, 1.0, 16)
    assert info["figures"]["sample_steps"] == info["sample_steps"]  # served as its figures were measured
    guided = {g["w"]: g for g in info["figures"]["guided"]}
    assert guided[info["guidance"]]["label_agreement"] == pytest.approx(1.0)  # data/README.md: w=1, 100 %
    assert {m["name"]: m for m in client.get("/v1/models").json()["models"]}["cvae_digits"]["max_images"] == 64


def test_page_and_api_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/v1/names" in page.text and "/v1/digits" in page.text and "fetch(" in page.text
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/names", "/v1/digits", "/v1/models", "/healthz", "/metrics"} <= set(spec["paths"])
    limits = spec["components"]["schemas"]["NamesRequest"]["properties"]
    assert limits["temperature"]["exclusiveMinimum"] == 0 and limits["n"]["maximum"] == 100


@pytest.mark.parametrize("docs", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_outside_the_service(client, docs):
    """FastAPI's default /docs fetches Swagger UI from a CDN and stays blank offline; here the
    page names only the service's own files, and the service answers each of them."""
    page = client.get(docs)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text, page.text
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', page.text)
    kinds = {Path(url).suffix for url in assets}
    assert ".js" in kinds and (docs == "/redoc" or ".css" in kinds), assets
    for url in assets:
        assert url.startswith("/"), f"{docs} refers to {url}, which is not on this service"
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, (url, r.status_code)
        expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}[Path(url).suffix]
        assert expected in r.headers["content-type"], (url, r.headers["content-type"])
    if docs == "/docs":  # the description it renders is this service's
        assert "url: '/openapi.json'" in page.text


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize("path, body, field, words", [
    ("/v1/names", {"temperature": -1}, "temperature", "greater than 0"),
    ("/v1/names", {"temperature": 50}, "temperature", "less than or equal to 5"),
    ("/v1/names", {"top_p": 0}, "top_p", "greater than 0"),
    ("/v1/names", {"top_p": 1.5}, "top_p", "less than or equal to 1"),
    ("/v1/names", {"top_k": 0}, "top_k", "greater than or equal to 1"),
    ("/v1/names", {"n": 10000}, "n", "less than or equal to 100"),
    ("/v1/names", {"prompt": "Zo3"}, "prompt", "'3Z' are not in the model's vocabulary"),
    ("/v1/names", {"prompt": "abcdefghijklmnop"}, "prompt", "at most 14"),
    ("/v1/names", {"control": "robot"}, "control", "'female', 'male' or 'none'"),
    ("/v1/names", {"temprature": 1.0}, "temprature", "Extra inputs are not permitted"),
    ("/v1/names", {"model": "cvae_digits"}, "model", "served names models: names_gpt"),
    ("/v1/digits", {"digits": [11]}, "digits", "less than or equal to 9"),
    ("/v1/digits", {"digits": [-1]}, "digits", "greater than or equal to 0"),
    ("/v1/digits", {"digits": []}, "digits", "at least 1 item"),
    ("/v1/digits", {"n": 2}, "digits", "Field required"),
    ("/v1/digits", {"digits": [1, 2, 3], "n": 30}, "body", "at most 64 per request"),
    ("/v1/digits", {"digits": [7], "model": "gan"}, "model", "served digits models: cvae_digits, diffusion_digits"),
    ("/v1/digits", {"digits": [7], "model": "names_gpt"}, "model", "served digits models: cvae_digits, diffusion_digits"),
    ("/v1/digits", {"digits": [1, 2, 3], "n": 6, "model": "diffusion_digits"}, "n",
     "at most 16 images per request and this one asks for 18"),
])
def test_a_bad_value_is_a_422_that_names_the_field(client, path, body, field, words):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    answer = r.json()
    errors = answer["detail"]
    assert any(field in error["loc"] for error in errors), errors
    assert any(words in error["msg"] for error in errors), errors
    assert answer["message"].startswith(field), answer["message"]


def test_the_prompt_error_names_the_bad_characters_and_the_allowed_ones(client):
    error, = client.post("/v1/names", json={"prompt": "jo-ann"}).json()["detail"]
    assert error["loc"] == ["body", "prompt"]
    assert "'-'" in error["msg"] and "abcdefghijklmnopqrstuvwxyz" in error["msg"]


def test_malformed_json_is_a_422(client):
    r = client.post("/v1/names", content=b'{"n": 3,', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"
    assert "not valid JSON" in r.json()["message"]


def test_unknown_route_and_wrong_method(client):
    assert client.get("/v1/nothing-here").status_code == 404
    assert client.post("/v2/names", json={}).status_code == 404
    assert client.get("/v1/names").status_code == 405


def test_a_body_over_the_limit_is_refused(client):
    big = json.dumps({"prompt": "a" * (MAX_BODY_BYTES + 10)}).encode()
    r = client.post("/v1/names", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert f"at most {MAX_BODY_BYTES:,}" in r.json()["detail"]

    def chunks():  # no Content-Length: the body is cut off as it arrives
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096]

    r = client.post("/v1/names", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert f"more than {MAX_BODY_BYTES:,} bytes" in r.json()["detail"]


# --------------------------------------------------------------------------- watching it


def read_metrics(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    """/metrics as {(sample name, its labels): value}, read by prometheus_client's own parser."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(r.text) for sample in family.samples}


def metric(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_count_requests_errors_and_latency(client):
    before = read_metrics(client)
    client.post("/v1/names", json={"n": 2, "seed": 1})
    client.post("/v1/names", json={"temperature": -1})
    after = read_metrics(client)

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - (metric(before, name, **labels) or 0)

    assert grew("gankit_requests_total", route="/v1/names", method="POST", status="200") == 1
    assert grew("gankit_requests_total", route="/v1/names", method="POST", status="422") == 1
    assert grew("gankit_request_errors_total", route="/v1/names", status="422") == 1
    assert metric(after, "gankit_request_errors_total", route="unmatched", status="404") >= 1  # an earlier test
    assert grew("gankit_request_seconds_count", route="/v1/names") == 2
    assert metric(after, "gankit_request_seconds_bucket", route="/v1/names", le="+Inf") >= 2
    assert grew("gankit_items_served_total", model="names_gpt") == 2


def test_every_request_is_one_json_line_in_the_request_log(client, server):
    client.post("/v1/names", json={"n": 4, "seed": 9})
    time.sleep(0.1)  # the line is written just after the response is sent
    records = [json.loads(line) for line in server.request_log.read_text().splitlines()]
    assert all({"time", "method", "route", "status", "latency_ms", "n"} <= set(r) for r in records)
    last_names = [r for r in records if r["route"] == "/v1/names" and r["status"] == 200][-1]
    assert last_names["n"] == 4 and last_names["latency_ms"] > 0
    assert any(r["status"] == 422 for r in records) and any(r["status"] == 413 for r in records)
    assert any(r["route"] == "unmatched" and r["status"] == 404 for r in records)


def test_concurrent_requests_all_succeed_and_agree(server):
    """8 clients at once, same seed: same names for all (each request has its own generator,
    and the model's lock keeps two requests from interleaving inside it)."""
    start = threading.Barrier(8, timeout=30)

    def ask(i: int) -> tuple[int, dict]:
        with _client(server) as c:
            start.wait()
            if i % 2:
                r = c.post("/v1/digits", json={"digits": [i % 10], "n": 3, "seed": 5})
            else:
                r = c.post("/v1/names", json={"n": 5, "seed": 42, "top_k": 8})
            return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(8)))
    assert all(status == 200 for status, _ in results), results
    names = {tuple(answer["names"]) for i, (_, answer) in enumerate(results) if i % 2 == 0}
    assert len(names) == 1
    with _client(server) as c:
        alone = c.post("/v1/digits", json={"digits": [1], "n": 3, "seed": 5}).json()
    assert results[1][1] == alone  # the same images as when nothing else runs


def test_concurrent_unseeded_requests_are_batched_and_each_gets_its_share(server, client):
    before = read_metrics(client)
    start = threading.Barrier(8, timeout=30)

    def ask(i: int) -> httpx.Response:
        with _client(server) as c:
            start.wait()
            return c.post("/v1/names", json={"n": i + 1, "top_k": 5})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert [len(r.json()["names"]) for r in answers] == list(range(1, 9))
    assert all(re.fullmatch(r"[a-z]+", name) for r in answers for name in r.json()["names"])
    after = read_metrics(client)
    calls = (metric(after, "gankit_model_call_requests_count", model="names_gpt")
             - metric(before, "gankit_model_call_requests_count", model="names_gpt"))
    answered = (metric(after, "gankit_model_call_requests_sum", model="names_gpt")
                - metric(before, "gankit_model_call_requests_sum", model="names_gpt"))
    assert answered == 8 and 1 <= calls <= 8  # how many calls depends on when the 8 arrive


def test_the_monitor_measures_what_was_served(client):
    client.post("/v1/digits", json={"digits": [3, 8], "n": 10, "seed": 2})
    client.post("/v1/names", json={"n": 40, "seed": 2})
    r = client.get("/v1/monitor")
    assert r.status_code == 200
    summary = r.json()
    digits, names = summary["models"]["cvae_digits"], summary["models"]["names_gpt"]
    assert digits["judge_confident"]["items"] >= 20 and digits["label_agreement"]["share"] >= 0.7
    assert names["novel"]["items"] >= 40 and 0 < names["novel"]["share"] < 1
    assert summary["alerts"] == []  # --alert-below label_agreement 0.5: the bundled model is well above
    samples = read_metrics(client)
    assert metric(samples, "gankit_served_quality", model="cvae_digits", measure="label_agreement") >= 0.7
    assert metric(samples, "gankit_served_alert", model="cvae_digits", measure="label_agreement") == 0


def test_a_second_server_on_the_same_port_says_the_port_is_in_use(server, capsys):
    # the command itself, run in this process: the socket is opened before anything loads
    port = int(server.url.rsplit(":", 1)[1])
    assert main(["serve", "--port", str(port), "--request-log", os.devnull]) == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port" in err


# --------------------------------------------------------------------------- after all of that


def test_the_server_still_answers_after_every_bad_request(client, server):
    assert server.process.poll() is None
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.post("/v1/names", json={"n": 1, "seed": 0}).status_code == 200


def test_the_server_stops_cleanly_on_sigterm(server):
    server.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down, then passes SIGTERM on: the process ends by that signal, as a server should
    assert server.process.wait(timeout=5) in (0, -signal.SIGTERM)
    assert "Traceback" not in server.output()


# --------------------------------------------------------------------------- in this process (no server)


def test_an_unknown_checkpoint_names_the_bundled_ones():
    with pytest.raises(FileNotFoundError, match="names_gpt"):
        create_app(["no_such_model"])


def test_a_model_without_an_adapter_is_refused():
    with pytest.raises(ValueError, match="no adapter"):
        load_served(ROOT / "data" / "judge.pt")


def test_the_diffusion_adapter_samples_as_its_recipe_measured():
    """The served images are exactly sample_flow's at the checkpoint's own 20 steps and
    guidance w = 1, from the request's seed, moved from [-1, 1] to [0, 1]."""
    served = load_served("diffusion_digits")
    assert isinstance(served, DiffusionDigitGenerator)
    assert served.sample_steps == served.metadata["params"]["sample_steps"] == 20
    labels = [7, 0, 3]
    images = served.draw(labels, seed=5)
    expected = to_unit_range(sample_flow(served.model, 3, 20, labels=torch.tensor(labels), guidance=1.0,
                                         generator=torch.Generator().manual_seed(5)))
    assert images.shape == (3, 1, 28, 28) and torch.equal(images, expected)
    assert 0 <= images.min() and images.max() <= 1
    assert served.request_errors(16) == [] and served.request_errors(17)[0][0] == "n"


def test_a_denoiser_that_cannot_draw_a_digit_asked_for_is_refused(tmp_path):
    small = {"base_channels": 8, "channel_mults": [1, 2]}
    unlabelled = save_checkpoint(tmp_path / "unlabelled.pt", UNetDenoiser(UNetConfig(**small, n_classes=0)),
                                 params={"sample_steps": 20})
    with pytest.raises(ValueError, match="without labels"):
        load_served(unlabelled)
    no_steps = save_checkpoint(tmp_path / "no_steps.pt", UNetDenoiser(UNetConfig(**small, n_classes=10)))
    with pytest.raises(ValueError, match="sample_steps"):
        load_served(no_steps)
    eps = save_checkpoint(tmp_path / "eps.pt", UNetDenoiser(UNetConfig(**small, n_classes=10)),
                          params={"sample_steps": 20, "objective": "eps"})
    with pytest.raises(ValueError, match="flow matching"):
        load_served(eps)


def call_in_process(app, *requests: tuple[str, str, dict | None]) -> list[httpx.Response]:
    """(method, path, json) requests to ``app`` in this process, through httpx's ASGI transport."""
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return [await c.request(method, path, json=body) for method, path, body in requests]

    return asyncio.run(run())


def test_a_task_that_is_not_served_is_a_404():
    r, = call_in_process(create_app(["names_gpt"]), ("POST", "/v1/digits", {"digits": [7]}))
    assert r.status_code == 404 and "no digits model" in r.json()["detail"]


def test_without_batching_an_unseeded_request_reports_the_seed_that_replays_it():
    app = create_app(["names_gpt"])
    first, = call_in_process(app, ("POST", "/v1/names", {"n": 3}))
    seed = first.json()["seed"]
    again, = call_in_process(app, ("POST", "/v1/names", {"n": 3, "seed": seed}))
    assert isinstance(seed, int) and again.json()["names"] == first.json()["names"]


class RecordingNames:
    """A stand-in for a NameGenerator that writes 'n0', 'n1', ... and records each call."""

    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[int, dict]] = []
        self.fail = fail

    def names(self, n: int, *, seed: int, **settings) -> list[str]:
        if self.fail:
            raise RuntimeError("the model broke")
        self.calls.append((n, settings))
        return [f"n{i}" for i in range(n)]


def submit_together(batcher: NameBatcher, requests: list[tuple[int, Settings]]) -> list:
    start = threading.Barrier(len(requests), timeout=30)

    def one(request: tuple[int, Settings]):
        start.wait()
        try:
            return batcher.submit(*request)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, requests))


def test_the_batcher_makes_one_call_per_group_of_settings_and_splits_it_in_order():
    model = RecordingNames()
    batcher = NameBatcher(model, window=0.5)  # long enough that every request below arrives in it
    warm, cold = Settings(temperature=1.0), Settings(temperature=0.5, prompt="a")
    answers = submit_together(batcher, [(2, warm), (3, cold), (1, warm), (4, cold)])
    assert sorted(n for n, _ in model.calls) == [3, 7]  # one call for each settings: 2 + 1 and 3 + 4 names
    assert dict((n, s["temperature"]) for n, s in model.calls) == {3: 1.0, 7: 0.5}
    assert [len(a) for a in answers] == [2, 3, 1, 4]
    assert sorted(sum(answers, [])) == sorted([f"n{i}" for i in range(3)] + [f"n{i}" for i in range(7)])


def test_a_failing_batch_fails_each_of_its_requests_and_the_batcher_goes_on():
    model = RecordingNames(fail=True)
    batcher = NameBatcher(model, window=0.2)
    answers = submit_together(batcher, [(1, Settings()), (2, Settings())])
    assert all(isinstance(a, RuntimeError) and "the model broke" in str(a) for a in answers)
    model.fail = False
    assert batcher.submit(2, Settings()) == ["n0", "n1"]


def test_the_monitor_counts_novel_names_over_a_rolling_window():
    monitor = QualityMonitor(window=3, training_names=["anna", "bob"], floors={"novel": 0.5}, min_items=3)
    monitor.observe_names("m", ["anna", "zed"])
    assert monitor.summary()["models"]["m"]["novel"] == {"share": 0.5, "items": 2}
    assert monitor.summary()["alerts"] == []  # 2 items: fewer than min_items, no verdict yet
    monitor.observe_names("m", ["bob", "anna"])  # the window keeps the last 3: zed, bob, anna
    summary = monitor.summary()
    assert summary["models"]["m"]["novel"] == {"share": pytest.approx(1 / 3), "items": 3}
    alert, = summary["alerts"]
    assert (alert["model"], alert["measure"], alert["floor"]) == ("m", "novel", 0.5)
    assert "33.3%" in alert["message"] and "50.0%" in alert["message"]


def test_a_floor_for_a_measure_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="judge_confident, label_agreement, novel"):
        QualityMonitor(floors={"judge_confidnt": 0.5})
    with pytest.raises(ValueError, match="between 0 and 1"):
        QualityMonitor(floors={"novel": 50})


def test_the_monitor_judges_real_digits_well_and_noise_badly():
    x, y = load_mnist_subset("test")
    monitor = QualityMonitor(window=100)
    monitor.observe_digits("real", x[:50], y[:50].tolist())
    monitor.observe_digits("noise", torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                           y[:50].tolist())
    models = monitor.summary()["models"]
    assert models["real"]["label_agreement"]["share"] >= 0.95 and models["real"]["judge_confident"]["share"] >= 0.9
    assert models["noise"]["label_agreement"]["share"] <= 0.3


def test_the_monitor_catches_a_worse_checkpoint_swapped_in(tmp_path):
    """An untrained conditional VAE saved under the good one's name answers as fast and as
    validly; only the monitor's judge sees that its digits are not the ones asked for."""
    torch.manual_seed(0)
    worse = save_checkpoint(tmp_path / "cvae_digits.pt", ConditionalVAE(ConditionalVAEConfig()))
    floors = {"label_agreement": 0.5}
    for checkpoint, alarmed in ((CHECKPOINT_DIR / "cvae_digits.pt", False), (worse, True)):
        app = create_app([checkpoint], monitor=QualityMonitor(floors=floors, min_items=50))
        answers = call_in_process(app, ("POST", "/v1/digits", {"digits": list(range(10)), "n": 6, "seed": 0}),
                                  ("GET", "/v1/monitor", None))
        assert answers[0].status_code == 200
        alerts = answers[1].json()["alerts"]
        assert bool(alerts) is alarmed, (checkpoint, answers[1].json())


def test_threads_below_one_are_refused_before_anything_starts(capsys):
    assert main(["serve", "--port", "0", "--threads", "0", "--request-log", os.devnull]) == 2
    assert "at least 1" in capsys.readouterr().err
