"""``kedro run --cache`` on a slice of the real MNIST: what each change runs
again, and what it reuses."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from kedro_project import (
    EXPERIMENT,
    clone_project,
    copy_project,
    fingerprints,
    latest_version,
    run_benchmark,
    run_kedro,
    start_kedro,
    stop_process_group,
)
from mlflow import MlflowClient

from mnist_kedro.datasets import IdxDataset

pytestmark = pytest.mark.slow

QUICK = (
    "preprocessing.train_limit=600,training.presets.fast.epochs=1,"
    "training.presets.fast.warmup_epochs=0,export.check_images=100"
)
NODES = 19  # of the default pipeline


def cached_run(project, *args: str, params: str = "", **env: str):
    run = run_kedro(
        project, "--cache", "--params", ",".join(filter(None, [QUICK, params])),
        *args, **env,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    return output


def ran(output: str) -> set[str]:
    return set(re.findall(r"cli: (\S+): runs \(", output))


def reused(output: str) -> set[str]:
    return set(re.findall(r"cli: (\S+): reused from run ", output))


@pytest.fixture(scope="module")
def cached_project(tmp_path_factory, project_root, small_mnist_idx_dir):
    """A copy of the project after a first ``kedro run --cache`` (which ran
    every node); its raw data in a folder of its own."""
    project = copy_project(project_root, tmp_path_factory.mktemp("cached"))
    shutil.copytree(small_mnist_idx_dir, project / "data/01_raw/mnist")
    output = cached_run(project)
    assert len(ran(output)) == NODES and not reused(output)
    return project


def test_an_unchanged_rerun_runs_no_node_and_changes_nothing(cached_project):
    before = fingerprints(cached_project / "data")

    output = cached_run(cached_project)

    assert len(reused(output)) == NODES and not ran(output)
    assert f"Cache: {NODES} of {NODES} nodes reused, 0 to run (planned in " in output
    assert fingerprints(cached_project / "data") == before
    # A node alone uses what the nodes before it saved, as their records have it.
    alone = cached_run(cached_project, "--nodes", "compute_metrics")
    assert reused(alone) == {"compute_metrics"}
    after = cached_run(cached_project, "--from-nodes", "predict_test_set")
    assert "predict_test_set" in reused(after) and not ran(after)


def test_an_evaluation_parameter_reruns_the_nodes_that_read_it_and_says_what_it_reused(
    cached_project, tmp_path, mlflow_store
):
    project = clone_project(cached_project, tmp_path / "project")

    output = cached_run(project, params="evaluation.grid_size=3")

    assert ran(output) == {"plot_correct_predictions", "plot_misclassified_predictions"}
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id],
        f"tags.project_path = '{project}'",
    )
    model_version = latest_version(project / "data/06_models/mnist_cnn.keras").parent
    assert run.data.tags["reused.train_model"] == model_version.name
    assert run.data.tags["mnist_cnn_version"] == model_version.name
    assert "reused.plot_correct_predictions" not in run.data.tags


def test_a_training_parameter_reruns_training_and_after_never_the_data_stages(
    cached_project, tmp_path
):
    project = clone_project(cached_project, tmp_path / "project")
    changed = "training.presets.fast.dropout=0.3"

    first = cached_run(project, "--runner", "ParallelRunner", params=changed)
    again = cached_run(project, "--runner", "ParallelRunner", params=changed)

    data_stages = {"ingest_raw_data", "split_train_validation", "scale_test_images"}
    assert reused(first) == data_stages
    assert "train_model" in ran(first) and len(ran(first)) == NODES - 3
    # recorded by ParallelRunner's workers
    assert len(reused(again)) == NODES


def test_a_changed_deleted_or_unreadable_output_or_record_reruns_its_node(
    cached_project, tmp_path
):
    project = clone_project(cached_project, tmp_path / "project")
    data = project / "data"
    latest_version(data / "08_reporting/confusion_matrix.png").unlink()
    latest_version(data / "08_reporting/classification_report.csv").write_text("x\n")
    (record,) = (data / "09_cache/plot_training_curves").iterdir()
    record.write_text("{not json")

    output = cached_run(project)

    assert ran(output) == {
        "plot_confusion_matrix",
        "classification_report_table",
        "plot_training_curves",
    }
    assert "plot_training_curves: its cache record cannot be read" in output
    assert "classification_report is no longer as run" in output
    assert json.loads(
        next((data / "09_cache/plot_training_curves").iterdir()).read_text()
    )


def test_a_corrupt_record_of_the_first_node_warns_and_runs_everything_after_it(
    cached_project, tmp_path
):
    project = clone_project(cached_project, tmp_path / "project")
    (record,) = (project / "data/09_cache/ingest_raw_data").iterdir()
    record.write_bytes(b"\x00\xff" * 100)

    output = cached_run(project, "--pipelines", "ingestion,preprocessing")

    assert ran(output) == {
        "ingest_raw_data",
        "split_train_validation",
        "scale_test_images",
    }
    # One warning, with what was wrong, for the one record.
    assert output.count("its cache record cannot be read (") == 1
    assert "ingest_raw_data: its cache record cannot be read (" in output
    assert "split_train_validation: runs (ingest_raw_data runs before it)" in output


def test_other_raw_data_rerun_the_data_stages_and_everything_after(
    cached_project, tmp_path
):
    project = clone_project(cached_project, tmp_path / "project")
    labels = IdxDataset(
        filepath=str(project / "data/01_raw/mnist/t10k-labels-idx1-ubyte.gz")
    )
    labels.save(labels.load()[::-1].copy())

    output = cached_run(project, "--pipelines", "ingestion,preprocessing")

    assert ran(output) == {
        "ingest_raw_data",
        "split_train_validation",
        "scale_test_images",
    }


def test_an_edited_node_function_reruns_it_and_what_follows(
    cached_project, project_root, tmp_path
):
    """In a copy of the project whose package is imported from its own src/."""
    project = clone_project(cached_project, tmp_path / "project")
    package = project / "src/mnist_kedro"
    shutil.copytree(project_root / "src/mnist_kedro", package)
    nodes = package / "pipelines/evaluation/nodes.py"
    source = nodes.read_text()
    edited = source.replace(
        "    return pd.DataFrame(\n        counts,",
        "    counts = counts.copy()  # an edit\n    return pd.DataFrame(\n        counts,",
    ).replace("# ", "#  ")  # and comments, which do not count
    assert edited.count("counts.copy()") == 1
    nodes.write_text(edited)

    output = cached_run(project, PYTHONPATH=str(project / "src"))

    assert ran(output) == {"confusion_matrix_table", "plot_confusion_matrix"}


def test_two_cached_runs_at_once_each_record_their_work(cached_project, tmp_path):
    project = clone_project(cached_project, tmp_path / "project")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    runs = [
        start_kedro(
            project, log, "--cache", "--params", f"{QUICK},evaluation.grid_size={size}"
        )
        for log, size in zip(logs, (3, 4))
    ]
    try:
        for run in runs:
            run.wait(timeout=600)
    finally:
        for run in runs:
            stop_process_group(run)
    for run, log in zip(runs, logs):
        assert run.returncode == 0, log.read_text()[-3000:]
        assert ran(log.read_text()) == {
            "plot_correct_predictions",
            "plot_misclassified_predictions",
        }

    output = cached_run(project, params="evaluation.grid_size=4")

    assert len(reused(output)) == NODES


def test_cache_and_only_missing_outputs_do_not_combine(cached_project):
    run = run_kedro(cached_project, "--cache", "--only-missing-outputs")

    assert run.returncode != 0
    assert "drop --only-missing-outputs" in run.stderr


def test_the_cache_benchmark_measures_a_rerun_and_an_evaluation_change(
    cached_project, tmp_path
):
    project = clone_project(cached_project, tmp_path / "project")
    figures_file = tmp_path / "cache.json"

    result = run_benchmark(
        "cache.py",
        "--idx-dir", str(project / "data/01_raw/mnist"),
        "--project", str(project),
        "--params", QUICK,
        "--json", str(figures_file),
        timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = json.loads(figures_file.read_text())["cached_runs"]
    assert runs["unchanged"]["nodes_run"] == 0
    assert runs["evaluation.grid_size=3"]["nodes_run"] == 2
    for run in runs.values():
        assert 0 < run["planning_seconds"] < run["seconds"]
    assert "kedro run --cache" in result.stdout
