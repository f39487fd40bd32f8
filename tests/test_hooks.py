"""The project's hooks on their own: what a report's MLflow artifact needs,
and which parameters a node's run logs."""

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.io.core import Version
from kedro.pipeline import Node
from mlflow.exceptions import MlflowException

from mnist_kedro.datasets.atomic import CSVDataset
from mnist_kedro.hooks import DescribeMlflowRun, log_parameters, parameter_sections


def test_a_saved_report_becomes_an_artifact_and_one_without_a_file_is_refused(
    mlflow_store, tmp_path
):
    report = CSVDataset(
        filepath=str(tmp_path / "report.csv"),
        version=Version(None, "2026-01-01T00.00.00.000Z"),
        metadata={"mlflow_artifact_path": "reports"},
    )
    catalog = DataCatalog(
        {
            "report": report,
            "in_memory": MemoryDataset(metadata={"mlflow_artifact_path": "reports"}),
        }
    )
    hook = DescribeMlflowRun()
    hook.before_node_run(Node(print, None, "report", name="report"), catalog)
    client = mlflow.MlflowClient(mlflow_store)

    with mlflow.start_run() as run:
        report.save(pd.DataFrame({"accuracy": [0.99]}))
        hook.after_dataset_saved("report")
        with pytest.raises(DatasetError, match="in_memory: mlflow_artifact_path needs"):
            hook.after_dataset_saved("in_memory")

    (logged,) = client.list_artifacts(run.info.run_id, "reports")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    assert logged.path == "reports/report.csv"
    assert pd.read_csv(
        client.download_artifacts(run.info.run_id, logged.path, str(downloads))
    )["accuracy"].tolist() == [0.99]


def test_a_node_logs_the_parameters_that_it_reads_and_the_raw_data_its_ingestion(
    mlflow_store, base_parameters
):
    ingest = Node(print, ["mnist_source", "params:class_names"], "raw", name="ingest")
    plot = Node(print, ["predictions", "params:evaluation"], "figure", name="plot")
    client = mlflow.MlflowClient(mlflow_store)

    assert parameter_sections([ingest, plot]) == [
        "class_names",
        "evaluation",
        "ingestion",
    ]
    with mlflow.start_run() as run:
        log_parameters(run.info.run_id, base_parameters, parameter_sections([plot]))
        # Again, as a second node that reads the section does: nothing changes.
        log_parameters(run.info.run_id, base_parameters, ["evaluation"])
        evaluation = base_parameters.evaluation
        changed = base_parameters.model_copy(
            update={
                "evaluation": evaluation.model_copy(
                    update={"grid_size": evaluation.grid_size + 1}
                )
            }
        )
        with pytest.raises(MlflowException, match="Changing param values"):
            log_parameters(run.info.run_id, changed, ["evaluation"])

    logged = client.get_run(run.info.run_id).data.params
    assert logged["evaluation.grid_size"] == str(base_parameters.evaluation.grid_size)
    assert all(name.startswith("evaluation.") for name in logged)
