"""The DAG that `kedro airflow create` generates from templates/airflow_dag.j2,
on a real Airflow 3 with its data in a real S3-compatible server: it imports
cleanly and mirrors the Kedro pipeline; `airflow dags test` runs it; a real
scheduler (LocalExecutor, metadata in PostgreSQL) runs two DAG runs at once,
tasks side by side; a corrupt object fails its task, and clearing it after the
fix finishes the run without re-running what had succeeded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from airflow_services import (
    airflow,
    airflow_environment,
    airflow_json,
    create_database,
    postgresql,
    require_airflow,
    running_airflow,
)
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_project import BIN, EXPERIMENT, copy_project
from mlflow import MlflowClient

from mnist_kedro.airflow_task import FINISH_MLFLOW_RUN_TASK, START_MLFLOW_RUN_TASK

pytestmark = [pytest.mark.slow, pytest.mark.object_storage, pytest.mark.airflow]

DAG = "mnist-kedro-s3"
EVALUATION_DAG = "mnist-kedro-s3-evaluation"
# The evaluation's figures and tables: no one needs another's output.
INDEPENDENT_TASKS = (
    "confusion-matrix-table",
    "classification-report-table",
    "plot-training-curves",
    "plot-correct-predictions",
    "plot-misclassified-predictions",
)
CORRUPT_NPY = b"\x93NUMPY this header was cut short"


def quick_conf(mnist_idx_dir: Path) -> str:
    """A DAG run's conf: Kedro's runtime parameters, as `kedro run --params`."""
    return json.dumps(
        {
            "ingestion.idx_dir": str(mnist_idx_dir),
            "preprocessing.train_limit": 2000,
            "training.presets.fast.epochs": 2,
            "training.presets.fast.warmup_epochs": 1,
            "export.check_images": 100,
        }
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, project_root, s3_server):
    """A project copy whose DAGs (the whole pipeline and the evaluation alone,
    data in a bucket of their own) are in a temporary AIRFLOW_HOME; Airflow's
    metadata and the MLflow runs in a PostgreSQL server. Yields the Airflow
    environment, the project and the data root."""
    require_airflow()
    folder = tmp_path_factory.mktemp("airflow")
    project = copy_project(project_root, folder / "project")
    dags = folder / "dags"
    for pipeline in ("__default__", "evaluation"):
        created = subprocess.run(
            [str(BIN / "kedro"), "airflow", "create", "--env", "s3"]
            + ["--pipelines", pipeline, "--target-dir", str(dags)]
            + ["--jinja-file", str(project_root / "templates" / "airflow_dag.j2")]
            + ["--params", "retries=0"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert created.returncode == 0, created.stderr[-3000:]
    data_root = f"s3://{s3_server.new_bucket()}/mnist-kedro"
    with postgresql() as server:
        mlflow_uri = create_database(server, "mlflow")
        MlflowClient(mlflow_uri).create_experiment(
            EXPERIMENT, artifact_location=(folder / "mlruns").as_uri()
        )
        env = airflow_environment(
            folder / "home",
            dags,
            create_database(server, "airflow"),
            **s3_server.aws_environment(),
            MNIST_KEDRO_DATA_ROOT=data_root,
            MNIST_KEDRO_PROJECT_PATH=str(project),
            MLFLOW_TRACKING_URI=mlflow_uri,
        )
        (folder / "home").mkdir()
        airflow(env, "db", "migrate")
        yield env, project, data_root


def mlflow_runs(env: dict[str, str], name: str) -> list:
    """The MLflow runs named ``name`` (SQL LIKE: ``%`` for any text)."""
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs(
        [experiment.experiment_id], f"attributes.run_name LIKE '{name}'"
    )


def test_the_dags_import_cleanly_and_mirror_the_kedro_pipelines(deployment):
    env, project, _ = deployment
    airflow(env, "dags", "reserialize")
    assert airflow_json(env, "dags", "list-import-errors") == []
    structure = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            "import json; from airflow.dag_processing.dagbag import DagBag\n"
            "bag = DagBag()\n"
            "print(json.dumps({d: {t.task_id: sorted(t.upstream_task_ids)"
            " for t in dag.tasks} for d, dag in bag.dags.items()}))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    dags = json.loads(structure.stdout.strip().splitlines()[-1])
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="s3") as session:
        catalog = session.load_context().catalog

    for dag_id, pipeline_name in ((DAG, "__default__"), (EVALUATION_DAG, "evaluation")):
        pipeline = pipelines[pipeline_name]
        node_tasks = {
            task_id(node.name): sorted(
                [START_MLFLOW_RUN_TASK, *(task_id(parent.name) for parent in parents)]
            )
            for node, parents in pipeline.node_dependencies.items()
        }
        # The MLflow run's setup task before every node task, its teardown after.
        assert dags[dag_id] == {
            **node_tasks,
            START_MLFLOW_RUN_TASK: [],
            FINISH_MLFLOW_RUN_TASK: sorted([START_MLFLOW_RUN_TASK, *node_tasks]),
        }
        # Whatever one task hands another goes through the catalog.
        for node, parents in pipeline.node_dependencies.items():
            for parent in parents:
                for dataset in set(parent.outputs) & set(node.inputs):
                    assert "type" in catalog.config_resolver.resolve_pattern(dataset)
    assert len(dags[DAG]) == len(pipelines["__default__"].nodes) + 2 == 21


def task_id(node_name: str) -> str:
    return node_name.replace("_", "-").replace(".", "-")


def test_airflow_dags_test_runs_the_whole_dag_with_its_data_in_the_bucket(
    deployment, small_mnist_idx_dir, s3_server
):
    env, _, data_root = deployment

    tested = airflow(
        env, "dags", "test", DAG, "-c", quick_conf(small_mnist_idx_dir), timeout=900
    )

    assert "state=success" in tested.stdout + tested.stderr
    fs = s3_server.filesystem()
    for dataset in (
        "06_models/mnist_cnn.keras",
        "08_reporting/metrics.json",
        "08_reporting/confusion_matrix.png",
        "08_reporting/training_curves.png",
        "08_reporting/correct_predictions.png",
        "08_reporting/misclassified_predictions.png",
        "06_models/exported/mnist_cnn.onnx",
    ):
        assert len(fs.ls(f"{data_root}/{dataset}")) == 1, dataset
    (run,) = mlflow_runs(env, f"{DAG} manual__%")
    assert {"test_accuracy", "val_accuracy"} <= set(run.data.metrics)
    assert run.info.status == "FINISHED"


@pytest.fixture(scope="module")
def scheduler(deployment):
    env, _, _ = deployment
    with running_airflow(env) as api:
        yield api


def overlap(first: dict, second: dict) -> bool:
    return (
        first["start_date"] < second["end_date"]
        and second["start_date"] < first["end_date"]
    )


def test_a_scheduler_runs_two_dag_runs_side_by_side_that_a_corrupt_object_fails_and_clearing_finishes(
    deployment, scheduler, s3_server
):
    """Two runs of the evaluation DAG at once, on the model that `airflow dags
    test` trained (the whole DAG's runs take minutes more on two cores, for the
    same scheduling), while an object they read is corrupt: the task that reads
    it fails in each, nothing stored is lost, and once the object is fixed,
    clearing that task finishes both runs without re-running what succeeded."""
    api = scheduler
    env, _, data_root = deployment
    fs = s3_server.filesystem()
    y_val = f"{data_root}/05_model_input/y_val.npy"
    genuine = fs.cat(y_val)
    before = {
        key: info["size"] for key, info in fs.find(data_root, detail=True).items()
    }
    logical_dates = {
        "first": "2026-02-01T00:00:00+00:00",
        "second": "2026-02-02T00:00:00+00:00",
    }
    fs.pipe(y_val, CORRUPT_NPY)
    try:
        for run_id, logical_date in logical_dates.items():
            api.trigger(EVALUATION_DAG, run_id, logical_date)
        failed = api.wait_for_dag_runs(EVALUATION_DAG, list(logical_dates), 900)
    finally:
        fs.pipe(y_val, genuine)

    assert failed == {"first": "failed", "second": "failed"}
    tasks = {run_id: api.task_instances(EVALUATION_DAG, run_id) for run_id in failed}
    spans = {
        run_id: {
            "start_date": min(t["start_date"] for t in run.values() if t["end_date"]),
            "end_date": max(t["end_date"] for t in run.values() if t["end_date"]),
        }
        for run_id, run in tasks.items()
    }
    assert overlap(spans["first"], spans["second"])  # both active at once
    assert any(
        overlap(run[a], run[b])
        for run in tasks.values()
        for a in INDEPENDENT_TASKS
        for b in INDEPENDENT_TASKS
        if a < b
    )
    for run_id, run in tasks.items():
        assert run["predict-test-set"]["state"] == "success"
        assert run["compute-metrics"]["state"] == "failed"
        log = (
            Path(env["AIRFLOW_HOME"])
            / "logs"
            / f"dag_id={EVALUATION_DAG}"
            / f"run_id={run_id}"
            / "task_id=compute-metrics"
            / "attempt=1.log"
        ).read_text()
        assert "y_val.npy: not a NumPy .npy file, or a corrupt one" in log
        # The DAG run's MLflow run, ended by the teardown task
        (mlflow_run,) = mlflow_runs(env, f"{EVALUATION_DAG} {run_id}")
        assert mlflow_run.info.status == "FAILED"
    after = {key: info["size"] for key, info in fs.find(data_root, detail=True).items()}
    assert {key: after.get(key) for key in before} == before  # nothing lost
    assert not [key for key in after if ".partial" in key]

    # A newer version of the predictions, unreadable, as another DAG run could
    # save meanwhile: a retried task must load its own run's, not the latest.
    predictions = f"{data_root}/07_model_output/test_predictions.csv"
    fs.pipe(
        f"{predictions}/2099-01-01T00.00.00.000Z/test_predictions.csv",
        b"not,a\ntable,0\n",
    )
    for run_id in logical_dates:
        api.clear(EVALUATION_DAG, run_id, "compute-metrics")
    finished = api.wait_for_dag_runs(EVALUATION_DAG, list(logical_dates), 900)

    assert finished == {"first": "success", "second": "success"}
    for run_id, run in tasks.items():
        retried = api.task_instances(EVALUATION_DAG, run_id)
        assert retried["predict-test-set"] == run["predict-test-set"]  # not re-run
        assert retried["compute-metrics"]["state"] == "success"
        assert (
            retried["compute-metrics"]["start_date"]
            > run["compute-metrics"]["end_date"]
        )
        # Still one MLflow run per DAG run, finished with the retried task's
        # metrics: the setup task, cleared with it, found it again.
        (mlflow_run,) = mlflow_runs(env, f"{EVALUATION_DAG} {run_id}")
        assert mlflow_run.info.status == "FINISHED"
        assert "test_accuracy" in mlflow_run.data.metrics
