"""A whole run through the project's own catalog, hooks and MLflow tracking, on
tiny synthetic data: the fast tier's check that the pieces still fit (the same
run on real MNIST is in test_project_run.py and test_tracking.py)."""

import shutil

from kedro_project import EXPERIMENT, copy_project, latest_version, run_session
from mlflow import MlflowClient

PERSISTED = [
    "02_intermediate/train-images-idx3-ubyte",
    "05_model_input/x_train.npy",
    "06_models/mnist_cnn.keras",
    "06_models/exported/mnist_cnn.onnx",
    "06_models/exported/mnist_cnn.tflite",
    "07_model_output/test_predictions.csv",
    "08_reporting/metrics.json",
    "08_reporting/export_check.csv",
    "08_reporting/misclassified_predictions.png",
]


def test_a_whole_run_saves_tracks_and_exports_through_the_catalog(
    tmp_path, project_root, synthetic_idx_dir, mlflow_store
):
    project = copy_project(project_root, tmp_path / "project")
    shutil.copytree(synthetic_idx_dir, project / "data/01_raw/mnist")

    run_session(
        project,
        {
            "training": {"model": "seed", "presets": {"seed": {"epochs": 1}}},
            "evaluation": {"grid_size": 2},
            "export": {"check_images": 20},
        },
    )

    for dataset in PERSISTED:
        saved = project / "data" / dataset
        if saved.is_dir():  # versioned: a folder of versions
            saved = latest_version(saved)
        assert saved.is_file() and saved.stat().st_size > 0, dataset
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.project_path = '{project}'"
    )
    assert run.info.status == "FINISHED"
    assert {"test_accuracy", "val_accuracy"} <= set(run.data.metrics)
    assert run.data.params["training.presets.seed.epochs"] == "1"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"reports", "figures", "model"} <= artifacts
