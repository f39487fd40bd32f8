"""Pen-up to answer on the drawing page, in headless Chromium on loopback.

Each repeat starts a fresh service (``python -m mnist_kedro.serving``) for the
project's latest model, opens the page and draws digits with the mouse, one
after the other: the first is the service's first prediction. The time is the
page's own, from the pen lifting to the answer being shown. With
``--baseline-src``, a service of another checkout's code (its ``src`` folder)
is measured the same way, alternating with this one's, so that both see the
same machine:

    git worktree add /tmp/before <commit>
    python benchmarks/canvas_latency.py --project-path . --runtime onnx \\
        --baseline-src /tmp/before/src

Prints the median of each drawing's time over the repeats, for each code.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Chromium's own background traffic would only be refused on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Mouse strokes on the page's 280×280 canvas.
STROKES = {
    "1": [[(140, 40 + 10 * step) for step in range(21)]],
    "0": [
        [
            (140 + 55 * math.sin(angle), 140 - 85 * math.cos(angle))
            for angle in (2 * math.pi * step / 48 for step in range(49))
        ]
    ],
}
# The time from the last pen-up to the prediction it asked for being shown,
# from the page's own performance marks.
PEN_UP_TO_PREDICTION_MS = """() => {
  const penUp = performance.getEntriesByName("pen-up").at(-1);
  const shown = performance.getEntriesByName("prediction-shown")
    .find(mark => penUp && mark.startTime > penUp.startTime);
  return shown ? shown.startTime - penUp.startTime : null;
}"""
DRAWINGS = ["1", "0", "1", "0", "1", "0"]


def draw(page, strokes) -> None:
    """Draws ``strokes`` on the page's canvas with the mouse."""
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=2)
        page.mouse.up()


def pen_up_to_answer_ms(page) -> list[float]:
    """The time of each of ``DRAWINGS``, drawn in turn on the open page, each
    checked to be read as the digit drawn."""
    from playwright.sync_api import expect  # noqa: PLC0415

    times = []
    for digit in DRAWINGS:
        page.get_by_role("button", name="Clear").click()
        draw(page, STROKES[digit])
        # Generous: a loaded CI machine may take seconds; the time is the page's.
        expect(page.get_by_test_id("prediction")).to_have_text(digit, timeout=15_000)
        times.append(page.wait_for_function(PEN_UP_TO_PREDICTION_MS).json_value())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    parser.add_argument("--runtime", default="onnx")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--baseline-src",
        type=Path,
        action="append",
        default=[],
        help="another checkout's src folder to measure alongside; repeatable",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    # Here, so that the tests can take the page's helpers above without these.
    from load_test import service  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415
    from run import machine, report  # noqa: PLC0415

    report("Machine", {"this run": machine()})
    sources = {"this checkout": None} | {str(src): src for src in args.baseline_src}
    times = {name: [] for name in sources}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        for _ in range(args.repeats):
            for name, source in sources.items():
                with service(args.project_path, args.runtime, source) as (url, _):
                    page = browser.new_page(viewport={"width": 1000, "height": 800})
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    times[name].append(pen_up_to_answer_ms(page))
                    page.close()
        browser.close()
    figures = {
        name: {
            f"drawing {n + 1} ms": round(statistics.median(run[n] for run in runs), 1)
            for n in range(len(DRAWINGS))
        }
        for name, runs in times.items()
    }
    report(
        f"Pen-up to answer, median of {args.repeats} fresh services ({args.runtime})",
        figures,
    )
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "times": times}, indent=2))


if __name__ == "__main__":
    main()
