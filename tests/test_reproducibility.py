"""Versioned outputs and reproducible runs, on a subset of the real MNIST."""

import json

import keras
import numpy as np
import pytest
from kedro_project import (
    copy_project,
    latest_version,
    quick_run_params,
    run_kedro,
    run_session,
)

pytestmark = pytest.mark.slow

MODEL = "data/06_models/mnist_cnn.keras"
METRICS = "data/08_reporting/metrics.json"
PREDICTIONS = "data/07_model_output/test_predictions.csv"


@pytest.fixture(scope="module")
def project(tmp_path_factory, project_root):
    return copy_project(project_root, tmp_path_factory.mktemp("versions"))


def latest_results(project):
    return (
        latest_version(project / MODEL).parent.name,
        json.loads(latest_version(project / METRICS).read_text()),
        latest_version(project / PREDICTIONS).read_bytes(),
    )


def weights(project, version):
    model = keras.models.load_model(project / MODEL / version / "mnist_cnn.keras")
    return model.get_weights()


def test_runs_are_reproducible_and_every_version_is_kept(project, mnist_idx_dir):
    params = quick_run_params(mnist_idx_dir)
    retrain = ["training", "evaluation"]

    run_session(project, params)
    first_version, first_metrics, first_predictions = latest_results(project)
    run_session(project, params, pipeline_names=retrain)
    second_version, second_metrics, second_predictions = latest_results(project)
    params["training"]["seed"] = 7
    run_session(project, params, pipeline_names=retrain)
    third_version, third_metrics, _ = latest_results(project)

    # The same configuration and seed: the same metrics and predictions, exactly.
    assert second_metrics == first_metrics
    assert second_predictions == first_predictions
    # Another seed: other weights and other metrics.
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(
            weights(project, first_version), weights(project, third_version)
        )
    )
    assert third_metrics != first_metrics
    # Each training run kept its own model, none overwritten.
    versions = sorted(path.name for path in (project / MODEL).iterdir())
    assert versions == sorted({first_version, second_version, third_version})
    assert len(versions) == 3


def test_an_older_model_is_evaluated_again_with_its_own_metrics(project):
    first_version, *_ = sorted(path.name for path in (project / MODEL).iterdir())
    first_metrics = json.loads(
        (project / METRICS / first_version / "metrics.json").read_text()
    )

    result = run_kedro(
        project,
        "--pipelines",
        "evaluation",
        "--load-versions",
        f"mnist_cnn:{first_version},training_history:{first_version}",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    _, metrics, _ = latest_results(project)
    assert metrics == first_metrics
