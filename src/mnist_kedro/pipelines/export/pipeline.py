"""The export pipeline: the trained model for other runtimes, in
``data/06_models/exported`` (a TF SavedModel for TF Serving, a LiteRT file, an
ONNX file), each checked against Keras on real test images; and the model in
MLflow's registry."""

from kedro.pipeline import Node, Pipeline

from .nodes import check_exports, serving_model

# Each dataset of conf/base/catalog.yml saves the serving model in its format.
EXPORTS = {
    "saved_model": "export_saved_model",
    "litert_model": "export_litert",
    "onnx_model": "export_onnx",
    "mlflow_model": "log_mlflow_model",
}
CHECKED = ["saved_model", "litert_model", "onnx_model"]


def create_pipeline(**kwargs) -> Pipeline:
    exports = [
        Node(func=serving_model, inputs="mnist_cnn", outputs=dataset, name=name)
        for dataset, name in EXPORTS.items()
    ]
    check = Node(
        func=check_exports,
        inputs={
            "model": "mnist_cnn",
            "x_test": "x_test",
            "export": "params:export",
            **{dataset: dataset for dataset in CHECKED},
        },
        outputs="export_check",
        name="check_exports",
    )
    return Pipeline([*exports, check], tags="export")
