"""The training pipeline: the model into ``data/06_models`` and its history."""

from kedro.pipeline import Node, Pipeline

from .nodes import epoch_metrics, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=[
                    "x_train",
                    "y_train",
                    "x_val",
                    "y_val",
                    "params:class_names",
                    "params:training",
                ],
                outputs=["mnist_cnn", "training_history"],
                name="train_model",
            ),
            Node(
                func=epoch_metrics,
                inputs="training_history",
                outputs="training_metrics",
                name="log_epoch_metrics",
            ),
        ],
        tags="training",
    )
