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
    accuracy = {name: figures[name]["accuracy"] for name in figures}
    # A short run's model, less sure of itself than the full one (97.6-99.2 %
    # a condition, docs/results.md); before photos were prepared as photos,
    # 13-16 %.
    assert accuracy["canvas"] >= accuracy["clean"] - 0.02, accuracy
    assert min(accuracy[name] for name in CONDITIONS) >= 0.85, accuracy
    photos = sum(accuracy[name] for name in CONDITIONS) / len(CONDITIONS)
    assert photos >= 0.9, accuracy  # 94 % here
    assert all(figures[name]["preparation_ms"] > 0 for name in figures)
    assert "Accuracy on 100 test digits" in result.stdout
