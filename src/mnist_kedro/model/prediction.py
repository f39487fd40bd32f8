"""Predictions outside ``model.fit``: many images at once, for the pipelines;
one at a time through a compiled call, for serving and the benchmarks."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def predict_in_batches(
    model: keras.Model, images: np.ndarray, batch_size: int = 1024
) -> np.ndarray:
    """Class probabilities of many images, the model called eagerly on each
    batch. ``model.predict`` would trace a function for every model (TensorFlow
    warns from the fifth, as when an ensemble's members are evaluated) and, with
    op determinism on, TensorFlow 2.21 logs a spurious error from its input
    pipeline."""
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(
                model(images[start : start + batch_size], training=False)
            )
            for start in range(0, len(images), batch_size)
        ]
    )


class Predictor:
    """Class probabilities for a batch of MNIST-like images, through one traced
    ``tf.function`` instead of ``model.predict`` (about 100× less overhead for
    one image)."""

    def __init__(self, model: keras.Model) -> None:
        self._call = tf.function(
            lambda images: model(images, training=False),
            input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)],
        )
        self._call(np.zeros((1, *model.input_shape[1:]), np.float32))  # trace now

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._call(images.astype(np.float32)).numpy()
