"""Nodes of the training pipeline: build, compile and fit the CNN."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mnist_kedro.parameters import ClassNames, TrainingParams

logger = logging.getLogger(__name__)


def build_model(
    input_shape: tuple[int, ...], num_classes: int, training: TrainingParams
) -> keras.Model:
    """The seed's CNN: two convolution and pooling blocks, dropout, softmax."""
    first_filters, second_filters = training.filters
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(first_filters, kernel_size=3, activation="relu"),
            keras.layers.MaxPooling2D(pool_size=2),
            keras.layers.Conv2D(second_filters, kernel_size=3, activation="relu"),
            keras.layers.MaxPooling2D(pool_size=2),
            keras.layers.Flatten(),
            keras.layers.Dropout(training.dropout),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="mnist_cnn",
    )


def train_model(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_names: ClassNames,
    training: TrainingParams,
) -> tuple[keras.Model, pd.DataFrame]:
    """Trains the CNN with Adam and early stopping on validation loss; returns the
    model with the best validation loss and the per-epoch history."""
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        # Process-wide and irreversible; costs little on CPU (see README).
        tf.config.experimental.enable_op_determinism()
    model = build_model(x_train.shape[1:], len(class_names), training)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=training.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=training.batch_size,
        epochs=training.epochs,
        validation_data=(x_val, y_val),
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=training.patience,
                restore_best_weights=True,
            ),
            keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch),
        ],
        verbose=0,
    )
    history_table = pd.DataFrame(history.history)
    history_table.insert(0, "epoch", np.arange(1, len(history_table) + 1))
    return model, history_table


def _log_epoch(epoch: int, logs: dict[str, float]) -> None:
    logger.info(
        "Epoch %d: loss %.4f, accuracy %.4f, val_loss %.4f, val_accuracy %.4f",
        epoch + 1,
        logs["loss"],
        logs["accuracy"],
        logs["val_loss"],
        logs["val_accuracy"],
    )
