"""The load test of ``benchmarks/`` runs, at a small size (the full figures are
in docs/results.md)."""

import json

import pytest
from kedro_project import run_benchmark

pytestmark = pytest.mark.slow


def test_load_test_runs_against_the_service_without_errors(
    trained_project, mnist_idx_dir, tmp_path
):
    figures_file = tmp_path / "load.json"

    result = run_benchmark(
        "load_test.py",
        "--idx-dir",
        str(mnist_idx_dir),
        "--project-path",
        str(trained_project),
        "--requests",
        "200",
        "--concurrency",
        "8",
        "--max-seconds",
        "20",
        "--burst",
        "4",
        "--json",
        str(figures_file),
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert figures["requests"] == 200
    assert figures["errors"] == 0
    assert figures["predictions_per_second"] > 0
    assert figures["server_time_ms_p50"] > 0
    burst = figures["burst"]
    assert burst["images"] == 4 and burst["errors"] == 0
    assert 0 < burst["health_ms_p50"] <= burst["health_ms_max"]
    assert burst["server_peak_rss_mb"] >= burst["server_peak_rss_mb_before"] > 0
    assert "Machine" in result.stdout


def test_runtimes_benchmark_compares_every_runtime_side_by_side(
    trained_project, mnist_idx_dir, tmp_path
):
    figures_file = tmp_path / "runtimes.json"

    result = run_benchmark(
        "runtimes.py",
        "--idx-dir",
        str(mnist_idx_dir),
        "--project-path",
        str(trained_project),
        "--repeats",
        "1",
        "--calls",
        "50",
        "--requests",
        "100",
        "--concurrency",
        "4",
        "--json",
        str(figures_file),
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert list(figures) == ["tensorflow", "onnx", "litert"]
    for runtime, measured in figures.items():
        assert measured["tensorflow_imported"] == (runtime == "tensorflow")
        assert 0 < measured["latency_ms_p50"] <= measured["latency_ms_p99"]
        assert measured["resident_mb"] > 0 and measured["startup_seconds"] > 0
        assert measured["load_errors"] == 0
        assert measured["load_predictions_per_second"] > 0
    assert "Serving runtimes" in result.stdout
