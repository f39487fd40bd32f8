"""Nodes of the export pipeline: the model prepared for serving, and every
exported format checked against it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnist_kedro.parameters import ExportParams
from mnist_kedro.pipelines.node_types import KerasModel


def serving_model(model: KerasModel) -> KerasModel:
    """The model with its input named ``images`` and its output
    ``probabilities``, the names that the exported formats show to their
    runtimes; called once, as exporting needs a model that has run."""
    import keras

    images = keras.Input(shape=model.input_shape[1:], name="images")
    probabilities = keras.layers.Identity(name="probabilities")(model(images))
    served = keras.Model(images, probabilities, name="mnist_cnn_serving")
    served(np.zeros((1, *model.input_shape[1:]), np.float32))
    return served


def check_exports(
    model: KerasModel,
    x_test: np.ndarray,
    export: ExportParams,
    **exported,
) -> pd.DataFrame:
    """Each exported format's predictions on the first ``export.check_images``
    test images against Keras': one row per format with the images whose
    predicted class agrees and the largest difference of a probability.
    Raises if a class differs or a probability differs by more than
    ``export.tolerance``, naming the format."""
    from mnist_kedro.model.prediction import predict_in_batches

    images = x_test[: export.check_images]
    expected = predict_in_batches(model, images)
    rows = {}
    for name, predictor in exported.items():
        probabilities = np.concatenate(
            [
                predictor(images[start : start + 256])
                for start in range(0, len(images), 256)
            ]
        )
        rows[name] = {
            "images": len(images),
            "same_class": int(
                np.sum(probabilities.argmax(axis=1) == expected.argmax(axis=1))
            ),
            "max_probability_difference": float(np.abs(probabilities - expected).max()),
        }
    check = pd.DataFrame.from_dict(rows, orient="index").rename_axis("format")
    wrong = check[
        (check["same_class"] < check["images"])
        | (check["max_probability_difference"] > export.tolerance)
    ]
    if not wrong.empty:
        raise ValueError(
            f"The exported {', '.join(wrong.index)} model(s) predict otherwise than "
            f"Keras on {len(images)} test images (tolerance {export.tolerance}):\n"
            f"{wrong.to_string()}\nDo not deploy them; report the versions of "
            "TensorFlow, Keras and the converter."
        )
    return check
