"""The service's page at ``/``, used as a person uses it: a real ``gankit serve`` process on
a free loopback port, the page opened in headless Chromium (Debian's, through Playwright;
see conftest.py), a 7 and some names asked for through the page's own form fields and
buttons. The test waits for the images and the list to appear and checks what they hold:

* every image is a PNG data URL that decodes to a 28×28 greyscale picture, shown scaled up;
* the names are non-empty lowercase words, as many as asked for;
* the page sent what its fields said: the same seed asked of the API directly (httpx)
  gives the same images and names;
* the page loads nothing from outside the service (the kit runs offline).

The page after both answers is saved as ``build/screenshots/serve_page.png``. Without a
browser the tests are skipped locally and fail under ``CI=true``, like the other browser tests.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from gankit.serve.process import start_server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
STARTUP_S = 60.0  # a cold start on a busy 2-core machine; it usually takes a few seconds
DATA_URL = "data:image/png;base64,"


@pytest.fixture(scope="module")
def service(browser, tmp_path_factory) -> str:
    """``gankit serve`` with the default models on a free loopback port (as the lesson starts
    it: :func:`gankit.serve.process.start_server`), without micro-batching so that a seed
    replays an answer; stopped at the end, also after a failure. Asks for ``browser`` first,
    so that a missing Chromium skips before a server is started for nothing."""
    with start_server(folder=tmp_path_factory.mktemp("serve-page"), startup_s=STARTUP_S) as server:
        yield server.url


class PageWatch:
    """What a page did besides drawing: JavaScript errors, and requests that left the service."""

    def __init__(self, page, origin: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", self._request)
        self.origin = origin

    def _request(self, request) -> None:
        if not request.url.startswith((self.origin + "/", "data:")):
            self.outside.append(request.url)


@pytest.fixture
def page(browser, service):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.watch = PageWatch(page, service)
    try:
        yield page
    finally:
        context.close()


def decode_png(data_url: str) -> Image.Image:
    assert data_url.startswith(DATA_URL), f"not a PNG data URL: {data_url[:40]!r}"
    data = base64.b64decode(data_url[len(DATA_URL):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "the data URL does not hold a PNG file"
    return Image.open(io.BytesIO(data))


@pytest.mark.browser
def test_the_page_draws_a_seven_and_writes_names(page, service):
    page.goto(f"{service}/")

    # a 7, two of them, seed 0: typed into the digits form and sent with its button
    digits = page.get_by_role("form", name="ask for digits")
    digits.get_by_label("digits", exact=True).fill("7")
    digits.get_by_label("of each").fill("2")
    digits.get_by_label("seed").fill("0")
    digits.get_by_role("button", name="Draw digits").click()
    shown = page.get_by_role("group", name="digits drawn").get_by_role("img")
    shown.nth(1).wait_for()  # the second image: both have arrived

    assert shown.count() == 2
    sources = []
    for i in range(2):
        image = shown.nth(i)
        assert image.get_attribute("alt") == "a drawn 7"
        png = decode_png(image.get_attribute("src"))
        assert png.format == "PNG" and png.size == (28, 28) and png.mode == "L"
        # the browser decoded it too, at 28×28, and shows it scaled up, square (84 px in page.html's CSS)
        assert image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [True, 28, 28]
        width, height = image.evaluate("img => [img.clientWidth, img.clientHeight]")
        assert width == height >= 2 * 28, (width, height)
        sources.append(image.get_attribute("src"))

    # six names, seed 0, through the names form
    names_form = page.get_by_role("form", name="ask for names")
    names_form.get_by_label("how many").fill("6")
    names_form.get_by_label("seed").fill("0")
    names_form.get_by_role("button", name="Write names").click()
    items = page.get_by_role("list", name="names written").get_by_role("listitem")
    items.nth(5).wait_for()
    names = items.all_inner_texts()
    assert len(names) == 6
    assert all(isinstance(name, str) and re.fullmatch(r"[a-z]+", name) for name in names), names

    assert page.locator("#digits-error").inner_text() == "" and page.locator("#names-error").inner_text() == ""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "serve_page.png"), full_page=True)

    # the page sent what its fields said: the API, asked the same directly, answers the same
    with httpx.Client(base_url=service, timeout=30) as api:
        direct_digits = api.post("/v1/digits", json={"digits": [7], "n": 2, "seed": 0}).json()
        direct_names = api.post("/v1/names", json={"n": 6, "seed": 0, "temperature": 1.0}).json()
    assert sources == [DATA_URL + image["png"] for image in direct_digits["images"]]
    assert names == direct_names["names"]
    assert page.watch.errors == [] and page.watch.outside == []


@pytest.mark.browser
def test_a_bad_value_shows_the_services_message_and_the_page_keeps_working(page, service):
    page.goto(f"{service}/")
    names_form = page.get_by_role("form", name="ask for names")
    names_form.get_by_label("temperature").fill("-1")
    names_form.get_by_role("button", name="Write names").click()
    error = page.locator("#names-error")
    error.filter(has_text="422").wait_for()
    assert "temperature" in error.inner_text() and "greater than 0" in error.inner_text()
    assert page.get_by_role("list", name="names written").get_by_role("listitem").count() == 0

    names_form.get_by_label("temperature").fill("0.8")
    names_form.get_by_role("button", name="Write names").click()
    page.get_by_role("list", name="names written").get_by_role("listitem").first.wait_for()
    assert error.inner_text() == ""
    assert page.watch.errors == [] and page.watch.outside == []


@pytest.mark.browser
def test_the_api_docs_render_offline(page, service):
    """/docs is Swagger UI: it renders an entry for every operation of the API, with its
    script and style sheet from the service (no CDN: this machine has no internet, and the
    test would see a blank page if the page still asked one)."""
    page.goto(f"{service}/docs")
    operations = page.locator(".opblock")
    operations.filter(has_text="/v1/digits").first.wait_for()
    shown = " ".join(operations.all_inner_texts())
    for path in ("/v1/names", "/v1/digits", "/v1/models", "/v1/monitor", "/healthz", "/metrics"):
        assert path in shown, f"{path} is not among the operations /docs shows: {shown[:500]}"
    assert "Draw digits" in shown and "Write names" in shown  # the summaries app.py gives them
    assert page.watch.errors == [] and page.watch.outside == []


@pytest.mark.browser
def test_the_page_offers_the_served_digit_models_and_asks_the_one_chosen(page, service):
    page.goto(f"{service}/")
    digits = page.get_by_role("form", name="ask for digits")
    choice = digits.get_by_label("model")
    choice.locator("option[value='diffusion_digits']").wait_for(state="attached")  # filled in from /v1/models
    assert choice.locator("option").evaluate_all("options => options.map(o => o.value)") == [
        "", "cvae_digits", "diffusion_digits"]
    choice.select_option("diffusion_digits")
    digits.get_by_label("digits", exact=True).fill("7")
    digits.get_by_label("of each").fill("1")
    digits.get_by_label("seed").fill("3")
    digits.get_by_role("button", name="Draw digits").click()
    image = page.get_by_role("group", name="digits drawn").get_by_role("img").first
    image.wait_for()
    assert image.get_attribute("title") == "7, drawn by diffusion_digits"
    with httpx.Client(base_url=service, timeout=30) as api:
        direct = api.post("/v1/digits", json={"digits": [7], "n": 1, "seed": 3, "model": "diffusion_digits"}).json()
    assert image.get_attribute("src") == DATA_URL + direct["images"][0]["png"]
    assert page.watch.errors == [] and page.watch.outside == []
