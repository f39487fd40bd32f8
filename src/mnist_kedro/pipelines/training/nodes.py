"""Nodes of the training pipeline: build, compile and fit the CNN."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mnist_kedro.parameters import ClassNames, TrainingParams

logger = logging.getLogger(__name__)


def build_model(
    input_shape: tuple[int, ...], num_classes: int, training: TrainingParams
) -> keras.Model:
    """The CNN of preset ``training.model``; the only one so far, ``seed``, is the
    original notebook's: two convolution and pooling blocks, dropout, softmax."""
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
    model with the best validation loss and the per-epoch history.

    A run that was killed resumes after its last completed epoch: the model,
    optimiser and history of each epoch are backed up in ``training.backup_dir``,
    which is removed once training has finished.
    """
    highest_label = max(y_train.max(), y_val.max())
    if highest_label >= len(class_names):
        raise ValueError(
            f"The training labels go up to {highest_label} but only "
            f"{len(class_names)} class names are configured; run the whole "
            "pipeline again after changing class_names."
        )
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        # Process-wide and irreversible; costs little on CPU (see README).
        tf.config.experimental.enable_op_determinism()
    backup_dir = Path(training.backup_dir)
    _discard_backup_of_other_runs(backup_dir, training, x_train.shape)
    history_log = backup_dir / "history.csv"
    model = build_model(x_train.shape[1:], len(class_names), training)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=training.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        x_train,
        y_train,
        batch_size=training.batch_size,
        epochs=training.epochs,
        validation_data=(x_val, y_val),
        callbacks=[
            # Before the backup: a kill between the two repeats an epoch in the
            # log (dropped below) rather than losing one.
            keras.callbacks.CSVLogger(str(history_log), append=True),
            keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False),
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=training.patience,
                restore_best_weights=True,
            ),
            keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch),
        ],
        verbose=0,
    )
    history = pd.read_csv(history_log).drop_duplicates("epoch", keep="last")
    history["epoch"] += 1
    shutil.rmtree(backup_dir)
    return model, history.reset_index(drop=True)


def _discard_backup_of_other_runs(
    backup_dir: Path, training: TrainingParams, data_shape: tuple[int, ...]
) -> None:
    """Keeps a backup only if it was made by a run of the same parameters on
    data of the same shape, so that a resumed run is the run that was killed."""
    fingerprint = json.dumps(
        {"training": training.model_dump(mode="json"), "data_shape": data_shape}
    )
    fingerprint_file = backup_dir / "run.json"
    if backup_dir.exists():
        if fingerprint_file.is_file() and fingerprint_file.read_text() == fingerprint:
            logger.info(
                "Resuming the interrupted training backed up in %s.", backup_dir
            )
            return
        logger.warning(
            "Discarding the backup of another training run in %s.", backup_dir
        )
        shutil.rmtree(backup_dir)
    backup_dir.mkdir(parents=True)
    fingerprint_file.write_text(fingerprint)


def _log_epoch(epoch: int, logs: dict[str, float]) -> None:
    logger.info(
        "Epoch %d: loss %.4f, accuracy %.4f, val_loss %.4f, val_accuracy %.4f",
        epoch + 1,
        logs["loss"],
        logs["accuracy"],
        logs["val_loss"],
        logs["val_accuracy"],
    )
