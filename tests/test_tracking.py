"""Every run that trains or evaluates is an MLflow run (kedro-mlflow): its
parameters, each epoch's metrics, the test metrics, the reports and the model,
registered; checked through ``MlflowClient`` in the tests' own store, and
against a real ``mlflow server``."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from kedro_project import (
    BIN,
    EXPERIMENT,
    clone_project,
    fingerprints,
    free_port,
    latest_version,
    run_kedro,
    running_server,
    start_kedro,
    stop_process_group,
    wait_for_log,
)
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.models import Model

from mnist_kedro.serving.model import load_served_model

pytestmark = pytest.mark.slow


def runs_of(client: MlflowClient, project: Path, **tags: str) -> list[Run]:
    """The MLflow runs of ``project`` carrying ``tags``, newest first."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    filters = [f"tags.project_path = '{project}'"] + [
        f"tags.{name} = '{value}'" for name, value in tags.items()
    ]
    return client.search_runs(
        [experiment.experiment_id],
        " and ".join(filters),
        order_by=["attributes.start_time DESC"],
    )


def saved(project: Path, file: str, version: str) -> Path:
    """The version ``version`` of a versioned file of ``data/``."""
    return project / "data" / file / version / Path(file).name


@pytest.fixture(scope="module")
def client(mlflow_store) -> MlflowClient:
    return MlflowClient(mlflow_store)


@pytest.fixture(scope="module")
def training_run(client, trained_project) -> Run:
    """The MLflow run of ``trained_project``'s whole ``kedro run``, its first:
    other tests run more pipelines in that project."""
    return [
        run
        for run in runs_of(client, trained_project)
        if run.info.run_name == "default · fast"
    ][-1]


@pytest.fixture(scope="module")
def version(training_run) -> str:
    """The version of every file that the training run saved."""
    return training_run.data.tags["run_id"]


def test_a_run_logs_every_parameter_flattened_and_its_tags(
    training_run, version, trained_project, small_mnist_idx_dir
):
    params, tags = training_run.data.params, training_run.data.tags

    assert training_run.info.status == "FINISHED"
    assert params["training.presets.fast.epochs"] == "3"
    assert params["training.presets.deep.block"] == "strided"  # defaults too
    assert params["preprocessing.train_limit"] == "6000"
    assert params["ingestion.idx_dir"] == str(small_mnist_idx_dir)
    assert not any(name.startswith("ensemble.") for name in params)  # not trained
    assert tags["preset"] == "fast"
    assert str(small_mnist_idx_dir) in tags["data_source"]
    assert tags["mnist_cnn_version"] == version
    assert saved(trained_project, "06_models/mnist_cnn.keras", version).exists()
    assert "kedro run" in tags["kedro_command"]


def test_a_run_logs_each_epoch_and_the_test_metrics(
    client, training_run, version, trained_project
):
    history = pd.read_csv(
        saved(trained_project, "08_reporting/training_history.csv", version)
    )
    metrics = json.loads(
        saved(trained_project, "08_reporting/metrics.json", version).read_text()
    )

    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        logged = client.get_metric_history(training_run.info.run_id, name)
        assert [metric.step for metric in logged] == [1, 2, 3]
        assert [metric.value for metric in logged] == pytest.approx(
            history[name].tolist()
        )
    assert training_run.data.metrics["test_accuracy"] == pytest.approx(
        metrics["test_accuracy"]
    )
    assert training_run.data.metrics["test_loss"] == pytest.approx(metrics["test_loss"])


def test_a_run_logs_its_reports_and_figures(client, training_run):
    def artifacts(folder: str) -> set[str]:
        return {
            artifact.path
            for artifact in client.list_artifacts(training_run.info.run_id, folder)
        }

    assert artifacts("reports") == {
        "reports/metrics.json",
        "reports/training_history.csv",
        "reports/confusion_matrix.csv",
        "reports/classification_report.csv",
        "reports/export_check.csv",
    }
    assert artifacts("figures") == {
        f"figures/{name}.png"
        for name in (
            "confusion_matrix",
            "training_curves",
            "correct_predictions",
            "misclassified_predictions",
        )
    }
    metrics = client.download_artifacts(
        training_run.info.run_id, "reports/metrics.json"
    )
    assert json.loads(Path(metrics).read_text())["n_train"] == 5400


def test_the_logged_model_is_registered_and_predicts_as_the_catalogs(
    client, training_run, version, trained_project
):
    (registered,) = [
        version
        for version in client.search_model_versions("name = 'mnist-cnn'")
        if version.run_id == training_run.info.run_id
    ]
    uri = f"models:/mnist-cnn/{registered.version}"
    x_test = np.load(trained_project / "data/05_model_input/x_test.npy")[:500]
    catalog_model = keras.models.load_model(
        saved(trained_project, "06_models/mnist_cnn.keras", version)
    )

    logged = Model.load(uri)
    served = load_served_model(trained_project, model_uri=uri)

    ((images,), (probabilities,)) = (
        logged.signature.inputs.inputs,
        logged.signature.outputs.inputs,
    )
    assert (images.type, images.shape) == (np.dtype("float32"), (-1, 28, 28, 1))
    assert probabilities.shape == (-1, 10)
    # A Logged Model of MLflow 3 (its "Logged models" tab), the registered one
    (logged_model,) = [
        model
        for model in client.search_logged_models([training_run.info.experiment_id])
        if model.source_run_id == training_run.info.run_id
    ]
    assert registered.source == logged_model.model_uri
    assert logged_model.name == "model"
    assert served.version == uri
    np.testing.assert_array_equal(
        served.predict(x_test).argmax(axis=1),
        catalog_model.predict(x_test, verbose=0).argmax(axis=1),
    )


def test_evaluating_an_older_model_logs_a_run_naming_its_version(
    client, version, trained_project
):
    run = run_kedro(
        trained_project,
        "--pipelines",
        "evaluation",
        "--load-versions",
        f"mnist_cnn:{version},training_history:{version}",
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    newest = runs_of(client, trained_project, mnist_cnn_version=version)[0]
    assert newest.info.run_name == "evaluation"
    assert newest.data.tags["run_id"] != version  # a run of its own
    assert "test_accuracy" in newest.data.metrics
    assert "evaluation.grid_size" in newest.data.params
    # It trained nothing, so it claims no training parameter.
    assert not any(name.startswith("training") for name in newest.data.params)


def test_only_missing_outputs_changes_no_file_and_logs_no_parameter_it_did_not_use(
    client, trained_project
):
    # Kedro skips every node whose files exist, whatever their parameters.
    data = trained_project / "data"
    before = fingerprints(data)
    model_version = latest_version(data / "06_models/mnist_cnn.keras").parent.name

    run = run_kedro(
        trained_project,
        "--only-missing-outputs",
        "--params",
        "training.presets.fast.epochs=2,evaluation.grid_size=3",
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert fingerprints(data) == before
    newest = runs_of(client, trained_project)[0]
    assert not {"training.presets.fast.epochs", "evaluation.grid_size"} & set(
        newest.data.params
    )
    assert "preset" not in newest.data.tags
    # The MLflow nodes ran (their outputs are never "there"), on the model saved.
    assert newest.data.tags["mnist_cnn_version"] == model_version


def tracking_server(folder: Path) -> tuple[str, list[str]]:
    """The URI and command of an ``mlflow server`` on a free loopback port,
    storing its runs and artifacts in ``folder`` (a restart finds them)."""
    uri = f"http://127.0.0.1:{free_port()}"
    return uri, [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        uri.rsplit(":", 1)[1],
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "server-artifacts"),
    ]


def test_a_tracking_server_receives_the_run_and_the_model(trained_project, tmp_path):
    uri, server = tracking_server(tmp_path)

    with running_server(server, tmp_path, f"{uri}/health", tmp_path / "server.log"):
        run = run_kedro(
            trained_project,
            "--pipelines",
            "evaluation,export",
            MLFLOW_TRACKING_URI=uri,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        client = MlflowClient(uri)
        (logged,) = runs_of(client, trained_project)
        artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
        (registered,) = client.search_model_versions("name = 'mnist-cnn'")
        (logged_model,) = client.search_logged_models([logged.info.experiment_id])

    assert "test_accuracy" in logged.data.metrics
    assert {"reports", "figures"} <= artifacts
    assert registered.run_id == logged_model.source_run_id == logged.info.run_id
    assert any((tmp_path / "server-artifacts").rglob("MLmodel"))  # on the server


def test_kedro_mlflow_ui_shows_the_runs(training_run, trained_project, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    ui = [str(BIN / "kedro"), "mlflow", "ui", "--port", url.rsplit(":", 1)[1]]

    # kedro mlflow ui starts `mlflow ui`, found on the PATH of the environment.
    with running_server(
        ui,
        trained_project,
        f"{url}/health",
        tmp_path / "ui.log",
        env={"PATH": f"{BIN}:{os.environ['PATH']}"},
    ):
        request = urllib.request.Request(
            f"{url}/api/2.0/mlflow/runs/search",
            data=json.dumps(
                {"experiment_ids": [training_run.info.experiment_id]}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            shown = json.load(response)["runs"]

    assert training_run.info.run_id in {run["info"]["run_id"] for run in shown}


def test_a_tracking_server_that_is_down_stops_the_run_in_one_line_before_any_work(
    trained_project, tmp_path
):
    project = clone_project(trained_project, tmp_path / "project")
    metrics = project / "data/08_reporting/metrics.json"
    versions = set(metrics.iterdir())
    refused = f"http://127.0.0.1:{free_port()}"
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hanging = f"http://127.0.0.1:{silent.getsockname()[1]}"
        runs = {
            uri: run_kedro(
                project, "--nodes", "compute_metrics", MLFLOW_TRACKING_URI=uri
            )
            for uri in (refused, hanging)
        }
    after_the_failures = set(metrics.iterdir())
    untracked = run_kedro(
        project,
        "--nodes",
        "compute_metrics",
        MLFLOW_TRACKING_URI=refused,
        MNIST_KEDRO_TRACKING="off",
    )

    for uri, run in runs.items():
        assert run.returncode == 1
        assert (
            run.stderr.strip()
            .splitlines()[-1]
            .startswith(f"Error: The MLflow tracking server at {uri} does not answer (")
        )
        assert "MNIST_KEDRO_TRACKING=off kedro run" in run.stderr
        assert "Traceback" not in run.stdout + run.stderr
    assert after_the_failures == versions  # no work done
    assert untracked.returncode == 0, untracked.stderr[-3000:]
    assert "MNIST_KEDRO_TRACKING=off: this run logs nothing in MLflow" in (
        untracked.stdout + untracked.stderr
    )
    assert len(set(metrics.iterdir()) - versions) == 1


def test_a_tracking_server_that_stops_mid_run_costs_no_output_and_the_rerun_no_training(
    trained_project, tmp_path
):
    project = clone_project(trained_project, tmp_path / "project")
    uri, server = tracking_server(tmp_path)
    models = project / "data/06_models/mnist_cnn.keras"
    models_before = set(models.iterdir())
    args = [
        "--cache",
        "--pipelines",
        "training",
        "--params",
        "training.presets.fast.epochs=1,training.presets.fast.warmup_epochs=0",
    ]
    # One retry a call: the behaviour, without the minute of MLflow's retries.
    env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
    log = tmp_path / "run.log"

    with running_server(server, tmp_path, f"{uri}/health", tmp_path / "server.log"):
        run = start_kedro(project, log, *args, **env)
        wait_for_log(run, log, "Running node: train_model")
    # The server is stopped now, while the model trains.
    try:
        run.wait(timeout=600)
    finally:
        stop_process_group(run)
    output = log.read_text()

    assert run.returncode != 0, output[-3000:]
    assert "MLflow: the tag mnist_cnn_version not logged (" in output
    (saved,) = set(models.iterdir()) - models_before  # the trained model, kept
    assert (saved / "mnist_cnn.keras").stat().st_size > 0
    with running_server(server, tmp_path, f"{uri}/health", tmp_path / "again.log"):
        rerun = run_kedro(project, *args, **env)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"train_model: reused from run {saved.name}" in rerun.stdout + rerun.stderr
