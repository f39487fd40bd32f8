"""``benchmarks/run.py`` runs every benchmark, at a tiny size (the figures on the
full MNIST are in docs/results.md)."""

import json

import pytest
from kedro_project import run_benchmark

pytestmark = pytest.mark.slow


def test_benchmark_script_measures_every_figure(small_mnist_idx_dir, tmp_path):
    figures_file = tmp_path / "benchmarks.json"

    result = run_benchmark(
        "run.py",
        "--idx-dir",
        str(small_mnist_idx_dir),
        "--smoke",
        # The stages that start TensorFlow; the others go through the same code.
        "--stages",
        "training",
        "evaluation",
        # time_to_accuracy's code is the reference's curves'.
        "--sections",
        "reference",
        "kedro_runs",
        "best",
        "throughput",
        "inference",
        "--repeats",
        "1",
        "--whole-runs",
        "1",
        "--throughput-epochs",
        "1",
        "--json",
        str(figures_file),
        timeout=900,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    runs = figures["kedro_runs"]
    assert list(runs) == ["full run", "training", "evaluation"]
    for run in runs.values():
        assert run["seconds"] > 0
        assert run["peak_rss_mb"] > 50
    assert 0.5 < runs["full run"]["test_accuracy"] <= 1
    assert runs["training"]["peak_rss_mb"] > 300  # TensorFlow alone takes more
    for stage in ("training", "evaluation"):
        assert 0 < runs[stage]["no_op_seconds"] < runs[stage]["seconds"]
        assert 0 < runs[stage]["start_up_share"] < 1
    best = figures["best"]
    assert best["training"]["seconds"] > 0
    assert best["training"]["vs_default_training"] > 0
    assert best["training"]["reference_training_seconds"] > 0
    assert best["training"]["vs_reference_training"] == pytest.approx(
        best["training"]["seconds"] / best["training"]["reference_training_seconds"],
        abs=0.01,
    )
    assert list(best["test_accuracy"]) == [
        "member_1",
        "member_2",
        "member_3",
        "member_4",
        "ensemble",
        "evaluation",
    ]
    assert best["test_accuracy"]["ensemble"] == pytest.approx(
        best["test_accuracy"]["evaluation"], abs=1e-4
    )
    throughput = figures["training_throughput"]
    for way in ("node", "node, op determinism off", "plain model.fit"):
        assert throughput[way]["median"] > 0
    for ratio in ("node / plain", "node, op determinism off / plain"):
        assert throughput[ratio]["ratio"] > 0
    reference = figures["reference"]
    for configuration in ("reference", "default"):
        run = reference[configuration]
        assert run["wall_seconds"] > 0 and run["peak_rss_mb"] > 300
        assert run["wall_seconds_each"] == [run["wall_seconds"]]
        assert run["test_accuracy_each"] == [run["test_accuracy"]]
        assert 0.5 < run["test_accuracy"] <= 1
        assert [point["epoch"] for point in run["curve"]] == [1, 2]
        assert all(0 < point["test_accuracy"] <= 1 for point in run["curve"])
    ratios = reference["default / reference"]
    assert ratios["wall_time"] == pytest.approx(
        reference["default"]["wall_seconds"] / reference["reference"]["wall_seconds"],
        abs=1e-3,
    )
    assert "test_accuracy_points" in ratios and "time_to_99.5%" in ratios
    assert "time_to_accuracy" not in figures  # not asked for
    for way in figures["inference"].values():
        assert 0 < way["one_image_ms_p50"] <= way["one_image_ms_p99"]
        assert way["batch_images_per_second"] > 0
    for title in (
        "Today's default against the reference",
        "Kedro runs",
        "best: the ensemble",
        "Training throughput",
        "Inference",
    ):
        assert title in result.stdout


def test_ensemble_sizes_script_measures_each_size_and_draws_the_plot(
    small_mnist_idx_dir, tmp_path
):
    figures_file, plot = tmp_path / "ensemble_sizes.json", tmp_path / "plot.png"

    result = run_benchmark(
        "ensemble_sizes.py",
        "--idx-dir",
        str(small_mnist_idx_dir),
        "--presets",
        "seed",
        "--params",
        "preprocessing.train_limit=600,training.presets.seed.epochs=1",
        "--json",
        str(figures_file),
        "--plot",
        str(plot),
        timeout=900,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads(figures_file.read_text())["seed"]["rows"]
    assert [row["members"] for row in rows] == [1, 2, 3, 4]
    assert all(0.1 < row["test_accuracy"] <= 1 for row in rows)
    minutes = [row["training_minutes"] for row in rows]
    assert minutes == sorted(minutes) and minutes[0] > 0
    assert plot.read_bytes().startswith(b"\x89PNG")
