"""The evaluation pipeline: predictions into ``data/07_model_output``, metrics,
tables and figures into ``data/08_reporting``."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    classification_report_table,
    compute_metrics,
    confusion_matrix_table,
    plot_confusion_matrix,
    plot_correct_predictions,
    plot_misclassified_predictions,
    plot_training_curves,
    predict_test_set,
    test_metrics,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=predict_test_set,
                inputs=["mnist_cnn", "x_test", "test_labels", "params:class_names"],
                outputs="test_predictions",
                name="predict_test_set",
            ),
            Node(
                func=compute_metrics,
                inputs=[
                    "test_predictions",
                    "training_history",
                    "y_train",
                    "y_val",
                    "params:class_names",
                ],
                outputs="metrics",
                name="compute_metrics",
            ),
            Node(
                func=test_metrics,
                inputs="metrics",
                outputs="test_metrics",
                name="log_test_metrics",
            ),
            Node(
                func=confusion_matrix_table,
                inputs=["test_predictions", "params:class_names"],
                outputs="confusion_matrix",
                name="confusion_matrix_table",
            ),
            Node(
                func=plot_confusion_matrix,
                inputs="confusion_matrix",
                outputs="confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            Node(
                func=classification_report_table,
                inputs=["test_predictions", "params:class_names"],
                outputs="classification_report",
                name="classification_report_table",
            ),
            Node(
                func=plot_training_curves,
                inputs="training_history",
                outputs="training_curves_plot",
                name="plot_training_curves",
            ),
            Node(
                func=plot_correct_predictions,
                inputs=[
                    "x_test",
                    "test_predictions",
                    "params:class_names",
                    "params:evaluation",
                ],
                outputs="correct_predictions_plot",
                name="plot_correct_predictions",
            ),
            Node(
                func=plot_misclassified_predictions,
                inputs=[
                    "x_test",
                    "test_predictions",
                    "params:class_names",
                    "params:evaluation",
                ],
                outputs="misclassified_predictions_plot",
                name="plot_misclassified_predictions",
            ),
        ],
        tags="evaluation",
    )
