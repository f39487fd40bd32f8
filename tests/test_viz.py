"""kedro-viz on this project: its REST API, the page in a real headless Chromium
with the network closed, and the static site of ``kedro viz build``."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.request
from itertools import pairwise
from pathlib import Path

import pytest
from canvas_latency import CHROMIUM, CHROMIUM_ARGS
from kedro.framework.project import configure_project, pipelines
from kedro_project import BIN, free_port, running_server

pytestmark = pytest.mark.slow

STAGES = ["ingestion", "preprocessing", "training", "evaluation"]
LAYERS = ["raw", "intermediate", "model_input", "models", "model_output", "reporting"]
# Each stage's first node reads what the previous stage wrote to the catalog.
DATA_FLOW = [
    "mnist_source",
    "ingest_raw_data",
    "train_images",
    "split_train_validation",
    "x_train",
    "train_model",
    "mnist_cnn",
    "predict_test_set",
    "test_predictions",
    "compute_metrics",
    "metrics",
]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "kedro-viz.png"


def node_names(stage: str) -> set[str]:
    return {node.name for node in pipelines[stage].nodes}


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module", autouse=True)
def registered_pipelines():
    configure_project("mnist_kedro")


@pytest.fixture(scope="module")
def viz_url(trained_project, tmp_path_factory):
    """A ``kedro viz run`` serving the trained project on loopback (its server
    is a child process of ``kedro``: the whole process group is stopped)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "kedro"),
        "viz",
        "run",
        "--no-browser",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_path = tmp_path_factory.mktemp("viz") / "kedro-viz.log"
    with running_server(command, trained_project, f"{url}/api/main", log_path):
        yield url


def check_graph(graph: dict) -> None:
    """Asserts that a kedro-viz graph holds every node of the four stages, in
    layers, and connects the stages through their catalog datasets."""
    by_name = {node["name"]: node for node in graph["nodes"]}
    assert set().union(*(node_names(stage) for stage in STAGES)) <= by_name.keys()
    edges = {(edge["source"], edge["target"]) for edge in graph["edges"]}
    for source, target in pairwise(DATA_FLOW):
        assert (by_name[source]["id"], by_name[target]["id"]) in edges, (source, target)
    assert graph["layers"] == LAYERS
    assert by_name["mnist_source"]["layer"] == "raw"
    assert by_name["metrics"]["layer"] == "reporting"


def test_api_shows_the_whole_dag_in_layers(viz_url):
    main = get_json(f"{viz_url}/api/main")

    check_graph(main)
    assert {pipeline["id"] for pipeline in main["pipelines"]} == {
        *STAGES,
        "export",
        "ensemble",
        "__default__",
        "best",
    }
    assert {tag["id"] for tag in main["tags"]} == {*STAGES, "export", "ensemble"}
    by_name = {node["name"]: node for node in main["nodes"]}
    assert by_name["train_model"]["tags"] == ["training"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_is_selectable(viz_url, stage):
    graph = get_json(f"{viz_url}/api/pipelines/{stage}")

    tasks = {node["name"] for node in graph["nodes"] if node["type"] == "task"}
    assert tasks == node_names(stage)


def test_the_ensemble_is_one_collapsible_namespace_of_members(viz_url):
    graph = get_json(f"{viz_url}/api/pipelines/best")

    namespaces = graph["modular_pipelines"]
    members = [f"ensemble.member_{number}" for number in range(1, 5)]
    assert {"__root__", "ensemble", *members} == set(namespaces)
    assert {"id": "ensemble", "type": "modularPipeline"} in namespaces["__root__"][
        "children"
    ]
    ensemble_parts = namespaces["ensemble"]["children"]
    for member in members:
        assert {"id": member, "type": "modularPipeline"} in ensemble_parts
        parts = {child["id"] for child in namespaces[member]["children"]}
        tasks = [
            node["name"]
            for node in graph["nodes"]
            if node["id"] in parts and node["type"] == "task"
        ]
        # Shown by their names within the namespace.
        assert sorted(tasks) == ["log_epoch_metrics", "train_model"]


def test_reports_have_previews(viz_url):
    ids = {
        node["name"]: node["id"] for node in get_json(f"{viz_url}/api/main")["nodes"]
    }

    def details(name: str) -> dict:
        return get_json(f"{viz_url}/api/nodes/{ids[name]}")

    metrics = details("metrics")
    assert metrics["preview_type"] == "JSONPreview"
    assert "test_accuracy" in json.loads(metrics["preview"])
    for table in ("confusion_matrix", "classification_report"):
        assert details(table)["preview_type"] == "TablePreview"
    figure = details("confusion_matrix_plot")
    assert figure["preview_type"] == "ImagePreview"
    assert base64.b64decode(figure["preview"]).startswith(b"\x89PNG")


def test_page_draws_the_dag_in_chromium_without_network(viz_url, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(
                "Chromium is missing: .ci/run installs Debian's chromium package."
            )
        pytest.skip("needs Debian's chromium package (apt-get install chromium)")

    screenshot = tmp_path / "kedro-viz.png"
    outside_requests = take_screenshot(viz_url, screenshot)

    assert screenshot.stat().st_size > 10_000
    # kedro-viz asks only for Google's Inter font from outside; without it the
    # page falls back to a local font.
    assert all(url.startswith("https://fonts.") for url in outside_requests), (
        outside_requests
    )
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copy(screenshot, DOCS_SCREENSHOT)


def take_screenshot(viz_url: str, path: Path) -> list[str]:
    """Opens kedro-viz in headless Chromium with every request that leaves
    loopback refused, waits until the graph is drawn, asserts the DOM shows the
    node names, saves a screenshot; returns the refused URLs."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    refused = []

    def close_network(route):
        if route.request.url.startswith(viz_url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", close_network)
            page.goto(viz_url)
            page.wait_for_selector(".pipeline-node", timeout=60_000)
            page.wait_for_load_state("networkidle")
            drawn = {
                text.strip()
                for text in page.locator(".pipeline-node").all_text_contents()
            }
            shown = set().union(*(node_names(stage) for stage in STAGES))
            assert shown <= drawn, shown - drawn
            for button in ("Dismiss",):  # the banners of a first visit
                if page.get_by_text(button, exact=True).count():
                    page.get_by_text(button, exact=True).first.click()
            page.keyboard.press("Escape")
            page.screenshot(path=str(path))
        finally:
            browser.close()
    return refused


def test_kedro_viz_build_exports_the_same_dag(trained_project, tmp_path):
    site = trained_project / "build"
    shutil.rmtree(site, ignore_errors=True)

    subprocess.run(
        [str(BIN / "kedro"), "viz", "build", "--include-previews"],
        cwd=trained_project,
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )

    assert (site / "index.html").is_file()
    check_graph(json.loads((site / "api" / "main").read_text()))
