"""The drawing page in headless Chromium: a "1" and a "0" drawn with the mouse
are recognised while drawing."""

import math

import pytest
from kedro_project import CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = pytest.mark.e2e

STROKES = {
    "1": [[(140, 40 + 10 * step) for step in range(21)]],
    "0": [
        [
            (140 + 55 * math.sin(angle), 140 - 85 * math.cos(angle))
            for angle in (2 * math.pi * step / 48 for step in range(49))
        ]
    ],
}


@pytest.mark.parametrize("digit", STROKES)
def test_a_digit_drawn_with_the_mouse_is_recognised(service_url, tmp_path, digit):
    require_chromium()
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(service_url)
            box = page.locator("canvas").bounding_box()
            for stroke in STROKES[digit]:
                page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
                page.mouse.down()
                for x, y in stroke[1:]:
                    page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
                page.mouse.up()

            expect(page.get_by_test_id("prediction")).to_have_text(
                digit, timeout=15_000
            )
            assert page.locator(".bar").count() == 10
            page.screenshot(path=str(tmp_path / f"drawn-{digit}.png"))
        finally:
            browser.close()
