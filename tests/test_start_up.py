"""``benchmarks/start_up.py`` measures what a run costs before its node works,
here on the shared trained project (the figures: docs/results.md)."""

import json

import pytest
from kedro_project import run_benchmark

pytestmark = pytest.mark.slow


def test_start_up_script_measures_a_node_the_offline_failure_and_the_ui(
    trained_project, tmp_path
):
    figures_file = tmp_path / "start_up.json"

    result = run_benchmark(
        "start_up.py",
        "--project",
        str(trained_project),
        "--repeats",
        "1",
        "--no-ui-baseline",
        "--json",
        str(figures_file),
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    start_up = figures["start_up"]
    node = start_up["kedro run --nodes compute_metrics"]
    bare = start_up["import tensorflow"]
    assert node["median_seconds"] > 0 and bare["median_seconds"] > 0
    assert start_up["node / import tensorflow"] > 0
    # The node's whole process holds less than TensorFlow alone: it never imports it.
    assert node["median_peak_rss_mb"] < bare["median_peak_rss_mb"]
    offline = figures["offline_failure"]
    assert offline["kedro run --pipelines ingestion"]["says_it_cannot_download"]
    assert offline["the dataset alone"]["seconds"] > 0
    # kedro, `mlflow ui` and its one worker: no job runner (MLflow's defaults: 16)
    assert figures["mlflow_ui"]["the project's"]["processes"] <= 3
    for section in ("A node without TensorFlow", "No IDX files", "kedro mlflow ui"):
        assert section in result.stdout
