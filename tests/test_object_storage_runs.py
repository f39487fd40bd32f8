"""`kedro run --env s3`: every dataset of the catalog in a bucket of a real
S3-compatible server (SeaweedFS on loopback), nothing under ``data/``; a stage
runs alone from the bucket, an older version re-evaluates, a corrupt object
fails as a corrupt file does."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_project import (
    EXPERIMENT,
    copy_project,
    free_port,
    run_kedro,
    start_kedro,
    stop_process_group,
    wait_for_log,
)
from mlflow import MlflowClient
from object_storage import seaweedfs_ports, seaweedfs_s3

from mnist_kedro.datasets import IdxDataset
from mnist_kedro.serving.model import load_served_model

pytestmark = [pytest.mark.slow, pytest.mark.object_storage]

QUICK_RUN = (
    "preprocessing.train_limit=2000,training.presets.fast.epochs=2,"
    "training.presets.fast.warmup_epochs=1,export.check_images=100"
)
CORRUPT_IDX = b"PK\x03\x04 this is a zip archive, not an IDX file"


def run_on_s3(project: Path, s3_server, data_root: str, *args: str):
    return run_kedro(
        project,
        "--env",
        "s3",
        *args,
        **s3_server.aws_environment(),
        MNIST_KEDRO_DATA_ROOT=data_root,
    )


def metric_versions(s3_server, data_root: str) -> list[str]:
    fs = s3_server.filesystem()
    return sorted(fs.ls(f"{data_root}/08_reporting/metrics.json"))


def metrics_of(s3_server, version_folder: str) -> dict:
    return json.loads(s3_server.filesystem().cat(f"{version_folder}/metrics.json"))


@pytest.fixture(scope="module")
def s3_project(tmp_path_factory, project_root, small_mnist_idx_dir, s3_server):
    """A copy of the project after one quick whole run with ``--env s3``, its
    data in a bucket of its own; with the run's output and data root."""
    project = copy_project(project_root, tmp_path_factory.mktemp("s3_project"))
    data_root = f"s3://{s3_server.new_bucket()}/mnist-kedro"
    run = run_on_s3(
        project,
        s3_server,
        data_root,
        "--params",
        f"ingestion.idx_dir={small_mnist_idx_dir},{QUICK_RUN}",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return project, data_root


@pytest.fixture
def s3_environment(s3_project, s3_server, monkeypatch) -> None:
    """This process pointed at the bucket of ``s3_project``, as `--env s3` runs are."""
    for name, value in s3_server.aws_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MNIST_KEDRO_DATA_ROOT", s3_project[1])


@pytest.mark.usefixtures("s3_environment")
def test_a_whole_run_writes_every_dataset_into_the_bucket_and_nothing_under_data(
    s3_project, s3_server
):
    project, data_root = s3_project
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="s3") as session:
        catalog = session.load_context().catalog
    persisted = {
        name: catalog.config_resolver.resolve_pattern(name)["filepath"]
        for name in pipelines["__default__"].datasets()
        if "filepath" in catalog.config_resolver.resolve_pattern(name)
    }

    # 4 IDX files, 5 arrays, the model, its 3 exports, 10 reports and figures,
    # the predictions and the history
    assert len(persisted) == 23
    for name, filepath in persisted.items():
        assert filepath.startswith(f"{data_root}/"), name
        assert catalog.exists(name), f"{name} is not in the bucket"
    # Every object belongs to a dataset: no partial object, nothing else.
    for key in s3_server.filesystem().find(data_root):
        assert any(
            f"s3://{key}" == path or f"s3://{key}".startswith(f"{path}/")
            for path in persisted.values()
        ), key
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]


def test_the_runs_reports_come_from_the_bucket_into_mlflow(s3_project, mlflow_store):
    project, data_root = s3_project
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.project_path = '{project}'"
    )

    logged = client.download_artifacts(run.info.run_id, "reports/metrics.json")

    assert json.loads(Path(logged).read_text())["n_train"] == 1800


def test_the_evaluation_runs_alone_from_the_bucket_with_credentials_in_conf_local(
    s3_project, s3_server, monkeypatch
):
    """The other way to give the bucket and its credentials: the default
    configuration environment with conf/local/globals.yml and
    conf/local/credentials.yml, and no AWS variable at all."""
    project, data_root = s3_project
    before = metric_versions(s3_server, data_root)
    (project / "conf" / "local" / "globals.yml").write_text(
        yaml.safe_dump({"data_root": data_root})
    )
    (project / "conf" / "local" / "credentials.yml").write_text(
        yaml.safe_dump({"object_storage": s3_server.credentials()})
    )

    for name in os.environ:
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    try:
        evaluation = run_kedro(project, "--pipelines", "evaluation")
    finally:
        for name in ("globals.yml", "credentials.yml"):
            (project / "conf" / "local" / name).unlink()

    assert evaluation.returncode == 0, evaluation.stderr[-5000:]
    after = metric_versions(s3_server, data_root)
    assert after[:-1] == before and len(after) == len(before) + 1
    assert metrics_of(s3_server, after[-1]) == metrics_of(s3_server, before[0])
    assert not (project / "data").exists() or not any(
        path.is_file() for path in (project / "data").rglob("*")
    )


def test_an_older_model_version_re_evaluates_from_the_bucket(s3_project, s3_server):
    project, data_root = s3_project
    models = f"{data_root}/06_models/mnist_cnn.keras"
    (first_model,) = s3_server.filesystem().ls(models)
    first_metrics = metrics_of(s3_server, metric_versions(s3_server, data_root)[0])
    # A newer version that cannot load: the run must take the one it names.
    newer = f"{models}/2099-01-01T00.00.00.000Z/mnist_cnn.keras"
    s3_server.filesystem().pipe(newer, b"not a Keras model")
    try:
        older = run_on_s3(
            project,
            s3_server,
            data_root,
            "--pipelines",
            "evaluation",
            "--load-versions",
            f"mnist_cnn:{Path(first_model).name}",
        )
    finally:
        s3_server.filesystem().rm(newer)

    assert older.returncode == 0, older.stderr[-5000:]
    newest = metrics_of(s3_server, metric_versions(s3_server, data_root)[-1])
    assert newest["test_accuracy"] == first_metrics["test_accuracy"]


def test_a_corrupt_object_fails_as_a_corrupt_file_and_destroys_nothing(
    s3_project, s3_server, tmp_path
):
    project, data_root = s3_project
    fs = s3_server.filesystem()
    labels = f"{data_root.removeprefix('s3://')}/02_intermediate/t10k-labels-idx1-ubyte"
    genuine = fs.cat(labels)
    before = sorted(fs.find(data_root))
    fs.pipe(labels, CORRUPT_IDX)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(CORRUPT_IDX)
    with pytest.raises(Exception, match="bad magic number") as on_disk:
        IdxDataset(filepath=str(tmp_path / "t10k-labels-idx1-ubyte")).load()

    try:
        evaluation = run_on_s3(
            project, s3_server, data_root, "--pipelines", "evaluation"
        )
        after = sorted(s3_server.filesystem().find(data_root))
    finally:
        fs.pipe(labels, genuine)

    assert evaluation.returncode != 0
    problem = str(on_disk.value).split("t10k-labels-idx1-ubyte: ", 1)[1]
    assert f"{labels}: {problem}" in re.sub(r"\s+", " ", evaluation.stderr)
    # Nothing removed, no partial object, no evaluation of the corrupt labels
    # (the training curves, which do not need them, may have a new version).
    assert set(before) <= set(after)
    assert not [key for key in after if ".partial" in key]
    assert [key for key in after if "/metrics.json/" in key] == [
        key for key in before if "/metrics.json/" in key
    ]


@pytest.mark.usefixtures("s3_environment")
def test_the_service_serves_the_model_from_the_bucket(s3_project, s3_server):
    project, data_root = s3_project
    latest = max(
        s3_server.filesystem().ls(f"{data_root}/06_models/exported/mnist_cnn.onnx")
    )

    served = load_served_model(project, runtime="onnx", env="s3")

    assert served.version == Path(latest).name
    images = np.zeros((2, 28, 28, 1), np.float32)
    probabilities = served.predict(images)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_cached_runs_keep_their_records_in_the_bucket(
    s3_project, s3_server, small_mnist_idx_dir
):
    project, data_root = s3_project
    cached = [
        "--cache", "--pipelines", "ingestion,preprocessing",
        "--params", f"ingestion.idx_dir={data_root}/01_raw/mnist,{QUICK_RUN}",
    ]  # fmt: skip
    fs = s3_server.filesystem()
    fs.put(
        [str(path) for path in sorted(small_mnist_idx_dir.iterdir())],
        f"{data_root}/01_raw/mnist/",
    )

    first = run_on_s3(project, s3_server, data_root, *cached)
    second = run_on_s3(project, s3_server, data_root, *cached)

    for run in (first, second):
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (
        "Cache: 0 of 3 nodes reused, 3 to run (planned in "
        in first.stdout + first.stderr
    )
    assert (
        "Cache: 3 of 3 nodes reused, 0 to run (planned in "
        in second.stdout + second.stderr
    )
    records = fs.find(f"{data_root}/09_cache")
    assert len(records) == 3 and all(key.endswith(".json") for key in records)
    assert not (project / "data/09_cache").exists()


def test_object_storage_that_is_down_or_a_missing_bucket_stops_the_run_in_one_line(
    s3_project, s3_server
):
    project, data_root = s3_project
    before = metric_versions(s3_server, data_root)
    down = run_kedro(
        project,
        "--env",
        "s3",
        "--pipelines",
        "evaluation",
        **{
            **s3_server.aws_environment(),
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}",
        },
        MNIST_KEDRO_DATA_ROOT=data_root,
    )
    missing = run_on_s3(
        project,
        s3_server,
        "s3://no-such-bucket/mnist-kedro",
        "--pipelines",
        "evaluation",
    )

    assert down.returncode == missing.returncode == 1
    assert (
        down.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"Error: The object storage of {data_root} does not answer "
            "(Could not connect"
        )
    )
    assert missing.stderr.strip().splitlines()[-1] == (
        "Error: The bucket of s3://no-such-bucket/mnist-kedro does not exist: "
        "create it, or set MNIST_KEDRO_DATA_ROOT to one that does."
    )
    assert "Traceback" not in down.stderr + missing.stderr
    assert metric_versions(s3_server, data_root) == before


def project_runs(mlflow_store: str, project: Path) -> dict:
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    found = client.search_runs(
        [experiment.experiment_id], f"tags.project_path = '{project}'"
    )
    return {run.info.run_id: run for run in found}


def test_object_storage_down_during_training_keeps_the_model_and_the_rerun_saves_it(
    s3_project, s3_server, mlflow_store, tmp_path
):
    """A server of its own, killed while the model trains and started again on
    the same folder and ports: the failed save leaves no object, no cache
    record and no model version in MLflow, and keeps the trained model; once
    the storage is back, the rerun saves it untrained."""
    project, shared_root = s3_project
    inputs, weed, ports = tmp_path / "model_input", tmp_path / "weed", seaweedfs_ports()
    s3_server.filesystem().get(
        f"{shared_root}/05_model_input/", f"{inputs}/", recursive=True
    )
    backups = tmp_path / "scratch" / "training_backup"
    training = ["--env", "s3", "--cache", "--pipelines", "training"]
    training += ["--params", QUICK_RUN]
    log = tmp_path / "run.log"
    runs_before = project_runs(mlflow_store, project)
    with seaweedfs_s3(weed, ports) as server:
        data_root = f"s3://{server.new_bucket()}/mnist-kedro"
        server.filesystem().put(
            f"{inputs}/", f"{data_root}/05_model_input/", recursive=True
        )
        env = {
            **server.aws_environment(),
            "MNIST_KEDRO_DATA_ROOT": data_root,
            "MNIST_KEDRO_SCRATCH_DIR": str(tmp_path / "scratch"),
        }
        run = start_kedro(project, log, *training, **env)
        wait_for_log(run, log, "Running node: train_model")
    # The server is stopped now, while the model trains.
    try:
        run.wait(timeout=300)
    finally:
        stop_process_group(run)
    output = log.read_text()
    kept = [path for path in backups.iterdir() if (path / "trained.keras").is_file()]
    [failed] = project_runs(mlflow_store, project).keys() - runs_before.keys()
    with seaweedfs_s3(weed, ports) as server:
        left = server.filesystem().find(f"{data_root}/06_models")
        left += server.filesystem().find(f"{data_root}/09_cache")
        rerun = run_kedro(project, *training, **env)
        saved = server.filesystem().find(f"{data_root}/06_models")

    assert run.returncode != 0, output[-3000:]
    assert "Failed while saving data to dataset" in output, output[-3000:]
    assert left == []  # no partial object, no record of the training
    failed_run = project_runs(mlflow_store, project)[failed]
    assert failed_run.info.status == "FAILED"
    assert "mnist_cnn_version" not in failed_run.data.tags
    [backup] = kept  # with the trained model
    rerun_output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, rerun_output[-3000:]
    assert (
        f"{backup} completed, but its outputs were not saved: saving its "
        "model, without training again." in " ".join(rerun_output.split())
    )
    assert "Epoch 1:" not in rerun_output
    assert len(saved) == 1 and saved[0].endswith("/mnist_cnn.keras")
    assert not backup.exists()
