"""The drawing page in headless Chromium, used as a person would: digits drawn
with the mouse are recognised soon after the pen lifts, an uploaded photo is
read and what the model read is shown, Clear wins over a pending prediction, a
tap does nothing, and a phone screen holds it all."""

import contextlib

import numpy as np
import pytest
from canvas_latency import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DRAWINGS,
    STROKES,
    draw,
    pen_up_to_answer_ms,
)
from kedro_project import require_chromium
from photos import PAPER, photo
from PIL import Image

from mnist_kedro.datasets import IdxDataset

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1000, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def open_page(service_url):
    """Opens the page in a fresh Chromium of the given viewport; yields the
    page and the list of failed responses and console errors seen."""
    require_chromium()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        problems = []

        def page_of(viewport):
            page = browser.new_page(viewport=viewport)
            page.on(
                "response",
                lambda response: (
                    response.status >= 400
                    and problems.append(f"{response.status} {response.url}")
                ),
            )
            page.on(
                "console",
                lambda message: (
                    message.type == "error" and problems.append(message.text)
                ),
            )
            page.goto(service_url)
            page.wait_for_load_state("networkidle")
            return page

        try:
            yield page_of, problems
        finally:
            browser.close()


def test_digits_drawn_with_the_mouse_are_recognised_soon_after_the_pen_lifts(
    open_page, tmp_path, record_property
):
    page_of, problems = open_page
    page = page_of(DESKTOP)

    # Each drawing is checked to be read as the digit drawn, on the page.
    latencies = pen_up_to_answer_ms(page)

    record_property("pen_up_to_prediction_ms", latencies)
    print(f"pen-up to prediction: {latencies} ms")  # noqa: T201
    # The aim is 150 ms on loopback; waiting on toBlob took over a second.
    assert len(latencies) == len(DRAWINGS) and max(latencies) < 1000
    assert page.locator(".bar").count() == 10
    assert problems == []  # no missing favicon, no script error
    page.screenshot(path=str(tmp_path / "drawn.png"))


# The sum of the grey levels shown as what the model read.
SEEN_INK = """() => document.getElementById("seen").getContext("2d")
  .getImageData(0, 0, 28, 28).data.reduce((sum, value, index) =>
    index % 4 === 0 ? sum + value : sum, 0)"""


def test_an_uploaded_photo_is_read_and_what_the_model_read_is_shown(
    open_page, mnist_idx_dir, tmp_path
):
    from playwright.sync_api import expect  # noqa: PLC0415

    one = IdxDataset(filepath=str(mnist_idx_dir / "t10k-images-idx3-ubyte.gz")).load()[
        2
    ]
    picture = tmp_path / "photo.jpg"  # the third test digit, a 1, on paper
    Image.fromarray(photo(one, PAPER, np.random.default_rng(0))).save(picture)
    page_of, problems = open_page
    page = page_of(DESKTOP)

    page.set_input_files("#photo", picture)

    expect(page.get_by_test_id("prediction")).to_have_text("1", timeout=15_000)
    assert page.evaluate(SEEN_INK) > 20 * 255  # a stroke, bright on black
    assert problems == []


def test_clear_wins_over_a_pending_prediction(open_page):
    from playwright.sync_api import Error  # noqa: PLC0415

    page_of, _ = open_page
    page = page_of(DESKTOP)
    held = []

    def hold(route):  # Playwright needs a function of its own, not a bound method
        held.append(route)

    page.route("**/predict", hold)  # the requests wait until released below

    draw(page, STROKES["1"])
    page.wait_for_function("performance.getEntriesByName('pen-up').length > 0")
    while not held:
        page.wait_for_timeout(10)
    page.click("#clear")
    for route in held:
        with contextlib.suppress(Error):  # the page aborted it
            route.continue_()
    page.wait_for_timeout(1500)

    assert page.get_by_test_id("prediction").text_content() == "?"
    assert page.locator(".bar").count() == 0
    assert page.locator("#status").text_content() == ""


def test_a_tap_without_movement_does_nothing(open_page):
    page_of, problems = open_page
    page = page_of(DESKTOP)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    box = page.locator("#canvas").bounding_box()

    page.mouse.click(box["x"] + 140, box["y"] + 140)
    page.wait_for_timeout(500)

    assert not [url for url in requests if url.endswith("/predict")]
    assert page.locator("#status").text_content() == ""
    assert problems == []


def test_a_phone_screen_holds_the_canvas_and_the_bars(open_page, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    page_of, problems = open_page
    page = page_of(PHONE)

    draw(page, STROKES["1"])
    expect(page.get_by_test_id("prediction")).to_have_text("1", timeout=15_000)

    page.screenshot(path=str(tmp_path / "phone.png"))
    canvas = page.locator("#canvas").bounding_box()
    assert canvas["x"] >= 8 and canvas["x"] + canvas["width"] <= PHONE["width"] - 8
    last_bar = page.locator(".bar").last.bounding_box()
    assert last_bar["y"] + last_bar["height"] <= PHONE["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert problems == []
