"""The pipelines as registered, and the whole DAG run with an in-memory catalog."""

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import configure_project, pipelines
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from mnist_kedro.datasets import MnistSourceDataset
from mnist_kedro.parameters import EvaluationParams

STAGES = ["ingestion", "preprocessing", "training", "evaluation"]


@pytest.fixture(scope="module")
def registered():
    configure_project("mnist_kedro")
    return pipelines


def test_each_stage_is_registered_and_the_default_is_the_whole_dag(registered):
    assert set(registered) == {*STAGES, "export", "ensemble", "__default__", "best"}
    all_nodes = {
        node.name for stage in (*STAGES, "export") for node in registered[stage].nodes
    }
    assert {node.name for node in registered["__default__"].nodes} == all_nodes


def test_best_is_the_whole_dag_with_the_ensemble_in_place_of_the_training(
    registered,
):
    shared = {"ingestion", "preprocessing", "evaluation", "export"}
    expected = {
        node.name for stage in (*shared, "ensemble") for node in registered[stage].nodes
    }
    members = [f"ensemble.member_{number}" for number in range(1, 5)]

    assert {node.name for node in registered["best"].nodes} == expected
    assert {node.name for node in registered["ensemble"].nodes} == {
        *(f"{member}.train_model" for member in members),
        *(f"{member}.log_epoch_metrics" for member in members),
        "ensemble.combine_members",
        "ensemble.average_histories",
        "ensemble.member_accuracies",
    }
    assert registered["ensemble"].inputs() >= {
        *(f"params:{member}.training" for member in members),
        "x_train",
        "params:class_names",
    }
    assert {"mnist_cnn", "training_history"} <= registered["ensemble"].all_outputs()


def test_nodes_carry_their_stage_as_tag_and_stable_names(registered):
    for stage in (*STAGES, "export"):
        for node in registered[stage].nodes:
            assert stage in node.tags
    assert [node.name for node in registered["training"].nodes] == [
        "train_model",
        "log_epoch_metrics",
    ]
    assert "ingest_raw_data" in {node.name for node in registered["ingestion"].nodes}


def test_stages_connect_through_persisted_datasets(registered, project_root):
    config = OmegaConfigLoader(
        str(project_root / "conf"), base_env="base", default_run_env="local"
    )
    catalog = DataCatalog.from_config(config["catalog"], config["credentials"])
    for stage, following in zip(STAGES, STAGES[1:]):
        shared = registered[stage].outputs() & registered[following].inputs()
        assert shared, f"{stage} hands nothing to {following}"
    assert catalog.get("mnist_source").metadata == {"kedro-viz": {"layer": "raw"}}
    for name in registered["__default__"].datasets() | registered["best"].datasets():
        if name.startswith("params:"):
            continue
        dataset = catalog.get(name)
        assert dataset is not None and not isinstance(dataset, MemoryDataset), name


def test_whole_dag_on_synthetic_data(
    registered, synthetic_idx_dir, base_parameters, tmp_path
):
    parameters = base_parameters.model_copy(
        update={
            # The seed preset learns from 270 images in two epochs; the
            # batch-normalised ones need more steps than that.
            "training": base_parameters.training.model_copy(
                update={"model": "seed", "backup_dir": str(tmp_path / "backup")}
            ).with_preset(epochs=2, batch_size=32),
            "evaluation": EvaluationParams(grid_size=3),
        }
    )
    catalog = DataCatalog(
        {
            f"params:{name}": MemoryDataset(getattr(parameters, name))
            for name in type(parameters).model_fields
        }
        | {
            "mnist_source": MnistSourceDataset(path=str(synthetic_idx_dir)),
            # Kept: the test metrics for MLflow read it, so no run output.
            "metrics": JSONDataset(filepath=str(tmp_path / "metrics.json")),
        }
    )

    # The runner frees intermediate datasets, so only the final outputs are left.
    outputs = SequentialRunner().run(registered["__default__"], catalog)

    assert set(outputs) == {
        "test_metrics",
        "training_metrics",
        "export_check",
        "mlflow_model",
        "classification_report",
        "confusion_matrix_plot",
        "training_curves_plot",
        "correct_predictions_plot",
        "misclassified_predictions_plot",
    }
    metrics = catalog.load("metrics")
    assert (
        metrics["n_train"] == 270
        and metrics["n_val"] == 30
        and metrics["n_test"] == 100
    )
    assert metrics["test_accuracy"] > 0.3  # chance is 0.1
    assert outputs["classification_report"].load().loc["macro avg", "support"] == 100
    assert len(outputs["correct_predictions_plot"].load().axes) == 9
