"""``benchmarks/photos.py`` on the model of a real (short) run: photos of MNIST
test digits, under every condition, are read nearly as well as the digits
themselves (the figures on the full model are in docs/results.md)."""

import json

import pytest
from kedro_project import run_benchmark
from photos import CONDITIONS

pytestmark = pytest.mark.slow


def test_photos_of_test_digits_are_read_nearly_as_well_as_the_digits(
    trained_project, mnist_idx_dir, tmp_path
):
    figures_file = tmp_path / "photos.json"

    result = run_benchmark(
        "photos.py",
        "--idx-dir",
        str(mnist_idx_dir),
        "--project-path",
        str(trained_project),
        "--runtime",
        "onnx",
        "--digits",
        "100",
        "--json",
        str(figures_file),
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert list(figures) == ["clean", "canvas", *CONDITIONS]
    clean = figures["clean"]["accuracy"]
    for condition in ["canvas", *CONDITIONS]:
        assert figures[condition]["accuracy"] >= clean - 0.05, figures
        assert figures[condition]["preparation_ms"] > 0
    assert "Accuracy on 100 test digits" in result.stdout
