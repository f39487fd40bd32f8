"""Versioned outputs and reproducible runs, on a subset of the real MNIST."""

import json

import keras
import numpy as np
import pytest
from kedro_project import (
    clone_project,
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
def project(tmp_path_factory, trained_project):
    """A clone of the trained project: its first version of everything is the
    full run's."""
    return clone_project(trained_project, tmp_path_factory.mktemp("versions") / "p")


def model_versions(project):
    return sorted(path.name for path in (project / MODEL).iterdir())


def results_of(project, version):
    """The metrics and predictions that the run of ``version`` wrote (one run
    saves every dataset under one version)."""
    return (
        json.loads((project / METRICS / version / "metrics.json").read_text()),
        (project / PREDICTIONS / version / "test_predictions.csv").read_bytes(),
    )


def latest_results(project):
    return (
        latest_version(project / MODEL).parent.name,
        json.loads(latest_version(project / METRICS).read_text()),
        latest_version(project / PREDICTIONS).read_bytes(),
    )


def weights(project, version):
    model = keras.models.load_model(project / MODEL / version / "mnist_cnn.keras")
    return model.get_weights()


def test_runs_are_reproducible_and_every_version_is_kept(project, small_mnist_idx_dir):
    params = quick_run_params(small_mnist_idx_dir)
    retrain = ["training", "evaluation"]
    earlier_versions = model_versions(project)
    first_version = earlier_versions[0]
    first_metrics, first_predictions = results_of(project, first_version)

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
    assert model_versions(project) == sorted(
        {*earlier_versions, second_version, third_version}
    )
    assert len(model_versions(project)) == len(earlier_versions) + 2


def test_an_older_model_is_evaluated_again_with_its_own_metrics(project):
    first_version = model_versions(project)[0]
    first_metrics, _ = results_of(project, first_version)

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
