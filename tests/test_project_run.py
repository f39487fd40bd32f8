"""End to end: the Kedro project on a subset of the real MNIST, through
``KedroSession`` and the ``kedro`` command."""

import json
import os
import subprocess
import sys
import time

import pytest
from kedro_project import (
    dataset_of,
    fingerprints,
    latest_version,
    quick_run_params,
    run_kedro,
    run_session,
)

from mnist_kedro.hooks import AWS_ENVIRONMENT, MLFLOW_ENVIRONMENT

pytestmark = pytest.mark.slow

# All versioned: each is a folder of versions.
REPORTS = [
    "08_reporting/metrics.json",
    "08_reporting/training_history.csv",
    "08_reporting/confusion_matrix.csv",
    "08_reporting/confusion_matrix.png",
    "08_reporting/classification_report.csv",
    "08_reporting/training_curves.png",
    "08_reporting/correct_predictions.png",
    "08_reporting/misclassified_predictions.png",
    "07_model_output/test_predictions.csv",
    "06_models/mnist_cnn.keras",
]
MODEL = "06_models/mnist_cnn.keras"
SET_AS_A_RUN_STARTS = ("TF_ENABLE_ONEDNN_OPTS", *MLFLOW_ENVIRONMENT, *AWS_ENVIRONMENT)


def test_full_run_trains_a_useful_model_and_writes_every_report(trained_project):
    for report in REPORTS:
        path = latest_version(trained_project / "data" / report)
        assert path.is_file() and path.stat().st_size > 0, report
    metrics = json.loads(
        latest_version(trained_project / "data/08_reporting/metrics.json").read_text()
    )
    assert metrics["test_accuracy"] > 0.9  # chance is 0.1
    assert metrics["n_train"] == 5400
    assert metrics["n_val"] == 600
    assert metrics["n_test"] == 1000  # every test image of the slice
    assert 1 <= metrics["epochs_trained"] <= 3


def test_evaluation_alone_in_a_new_process_does_not_retrain(
    trained_project, small_mnist_idx_dir
):
    models = trained_project / "data" / MODEL
    models_before = fingerprints(models)
    metrics = trained_project / "data/08_reporting/metrics.json"
    metrics_before = json.loads(latest_version(metrics).read_text())
    versions_before = set(metrics.iterdir())

    result = run_kedro(trained_project, "--pipelines", "evaluation")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_model" not in result.stdout + result.stderr
    assert fingerprints(models) == models_before
    assert set(metrics.iterdir()) > versions_before  # a new version, the old kept
    assert json.loads(latest_version(metrics).read_text()) == pytest.approx(
        metrics_before
    )


@pytest.mark.parametrize(
    ("stage", "written"),
    [
        (
            "ingestion",
            {
                "02_intermediate/train-images-idx3-ubyte",
                "02_intermediate/train-labels-idx1-ubyte",
                "02_intermediate/t10k-images-idx3-ubyte",
                "02_intermediate/t10k-labels-idx1-ubyte",
            },
        ),
        (
            "preprocessing",
            {
                f"05_model_input/{name}.npy"
                for name in ("x_train", "y_train", "x_val", "y_val", "x_test")
            },
        ),
        ("training", {MODEL, "08_reporting/training_history.csv"}),
    ],
)
def test_each_stage_runs_alone_and_writes_only_its_outputs(
    trained_project, small_mnist_idx_dir, stage, written
):
    before = fingerprints(trained_project / "data")

    run_session(
        trained_project, quick_run_params(small_mnist_idx_dir), pipeline_names=[stage]
    )

    after = fingerprints(trained_project / "data")
    assert before.keys() <= after.keys()  # earlier versions are kept
    changed = {name for name in after if after[name] != before.get(name)}
    assert {dataset_of(name) for name in changed} == written


def test_a_node_that_needs_no_tensorflow_runs_without_importing_it(trained_project):
    code = """
import json, os, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
with KedroSession.create() as session:
    session.run(node_names=["compute_metrics"])
print(json.dumps({
    "imported": [name for name in ("tensorflow", "keras", "sklearn") if name in sys.modules],
    "environment": {name: os.environ.get(name) for name in sys.argv[1:]},
}))
"""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in SET_AS_A_RUN_STARTS
    }

    result = subprocess.run(
        [sys.executable, "-c", code, *SET_AS_A_RUN_STARTS],
        cwd=trained_project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**environment, "KEDRO_DISABLE_TELEMETRY": "1"},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["imported"] == []
    # Set by the project's hook as the session started, for the nodes after it.
    assert found["environment"] == {
        "TF_ENABLE_ONEDNN_OPTS": "1",
        **MLFLOW_ENVIRONMENT,
        **AWS_ENVIRONMENT,
    }


def test_tfds_without_network_fails_fast_with_instructions(trained_project, tmp_path):
    started = time.monotonic()
    result = run_kedro(
        trained_project,
        "--pipelines",
        "ingestion",
        "--params",
        f"ingestion.idx_dir={tmp_path / 'empty'}",
        # No network, wherever the test runs: nothing listens on this proxy address.
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
    )
    elapsed = time.monotonic() - started

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Cannot download mnist from TensorFlow Datasets" in output
    assert "ingestion.idx_dir" in output
    # Start-up included, on a loaded machine; TFDS on its own retries for ~200 s.
    assert elapsed < 60
