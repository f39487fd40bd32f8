"""The project's hooks on their own: what a report's MLflow artifact needs."""

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.io.core import Version

from mnist_kedro.datasets.atomic import CSVDataset
from mnist_kedro.hooks import DescribeMlflowRun


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
    hook.before_node_run(catalog)
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
