"""The ingestion pipeline: raw train and test sets into ``data/02_intermediate``."""

from kedro.pipeline import Node, Pipeline

from .nodes import ingest_raw_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=ingest_raw_data,
                inputs=["mnist_source", "params:class_names"],
                outputs=["train_images", "train_labels", "test_images", "test_labels"],
                name="ingest_raw_data",
            ),
        ],
        tags="ingestion",
    )
