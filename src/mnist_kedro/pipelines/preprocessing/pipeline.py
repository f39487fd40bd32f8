"""The preprocessing pipeline: model inputs into ``data/05_model_input``."""

from kedro.pipeline import Node, Pipeline

from .nodes import scale_images, split_train_validation


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_train_validation,
                inputs=["train_images", "train_labels", "params:preprocessing"],
                outputs=["x_train", "y_train", "x_val", "y_val"],
                name="split_train_validation",
            ),
            Node(
                func=scale_images,
                inputs="test_images",
                outputs="x_test",
                name="scale_test_images",
            ),
        ],
        tags="preprocessing",
    )
