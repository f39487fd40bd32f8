"""Nodes of the training pipeline: build, compile and fit the CNN of a preset."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mnist_kedro.parameters import ClassNames, ModelPreset, TrainingParams
from mnist_kedro.pipelines.node_types import KerasModel

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from mnist_kedro.model.resume import TrainingBackup

logger = logging.getLogger(__name__)

# Enough for batch normalisation's statistics to settle (about 80 batches),
# in about two seconds here.
RECALIBRATION_IMAGES = 10_000
# In the run's backup folder, so that a resumed run averages the epochs that
# ran before it was killed too.
EPOCH_WEIGHTS = "epoch_weights"


def train_model(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_names: ClassNames,
    training: TrainingParams,
) -> Iterator[tuple[KerasModel, pd.DataFrame]]:
    """Trains the preset ``training.model`` (``fit_model``); yields, once, the
    model with the best validation loss and the per-epoch history (with each
    epoch's wall time and learning rate).

    Each epoch is backed up (``mnist_kedro.model.resume``): a run that was
    killed resumes after its last completed epoch. The backup, with the trained
    model, is removed only when the generator is resumed after its yield, which
    Kedro does once it has saved both outputs: a run whose saves failed (object
    storage down) leaves the model there, and the next run of the same
    parameters and data saves it without training again. Call it as
    ``[(model, history)] = train_model(...)``.

    ``training.threads`` limits TensorFlow's threads, in a process where it has
    not run yet.
    """
    _check_labels(class_names, y_train, y_val)  # at once, before TensorFlow
    from mnist_kedro.model import tensorflow_settings
    from mnist_kedro.model.resume import resumable_training, run_fingerprint

    if training.threads:
        tensorflow_settings.limit_tensorflow_threads(training.threads)
    tensorflow_settings.make_reproducible(
        training.seed, deterministic_ops=training.deterministic
    )
    fingerprint = run_fingerprint(
        training.model_dump(mode="json", exclude={"backup_dir"}),
        x_train,
        y_train,
        x_val,
        y_val,
    )
    with resumable_training(Path(training.backup_dir), fingerprint) as backup:
        model = backup.trained_model()
        if model is None:
            model = fit_model(
                x_train, y_train, x_val, y_val, len(class_names), training, backup
            )
            backup.keep_trained_model(model)
        history = backup.history()
        history["epoch"] += 1
        yield model, history


def fit_model(  # noqa: PLR0913 - the data, and how to train on it
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    training: TrainingParams,
    backup: TrainingBackup,
) -> keras.Model:
    """Builds the preset ``training.model``, fits it with Adam and early
    stopping on validation loss, backing up each epoch in ``backup``, and
    returns it with the weights of the best validation loss.

    Batch normalisation's statistics are then re-estimated under the final
    weights (``recalibrate_batch_norm``), so that short runs predict well too.
    With ``preset.average_last_epochs`` n, the model has the mean of the
    weights of the best epoch and the n - 1 before it.
    With ``training.distribution`` "mirrored", each device trains on
    ``batch_size`` images of every batch. A training in bfloat16
    (``training.precision``) returns the same weights in a float32 model.
    """
    import keras

    from mnist_kedro.model.callbacks import (
        EpochProgress,
        EpochStatistics,
        EpochWeights,
    )
    from mnist_kedro.model.inputs import batches
    from mnist_kedro.model.network import build_model, recalibrate_batch_norm
    from mnist_kedro.model.tensorflow_settings import cpu_flags, training_precision

    preset = training.preset
    strategy = distribution_strategy(training)
    batch_size = preset.batch_size * strategy.num_replicas_in_sync
    # Keras smooths one-hot labels only: its sparse loss has no label_smoothing.
    one_hot_classes = n_classes if preset.label_smoothing else None
    train_batches = batches(
        x_train,
        y_train,
        batch_size,
        shuffle_seed=training.seed,
        augmentation=preset.augmentation,
        one_hot_classes=one_hot_classes,
    )
    dtype = training_precision(training.precision, cpu_flags())
    epoch_weights = EpochWeights(backup.folder / EPOCH_WEIGHTS)
    with strategy.scope():
        model = build_model(x_train.shape[1:], n_classes, preset, dtype)
        model.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate=learning_rate(preset, len(train_batches))
            ),
            loss=keras.losses.CategoricalCrossentropy(
                label_smoothing=preset.label_smoothing
            )
            if one_hot_classes
            else "sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=training.steps_per_execution,
        )
    with EpochProgress() as progress:
        model.fit(
            train_batches,
            epochs=preset.epochs,
            validation_data=batches(
                x_val, y_val, batch_size, one_hot_classes=one_hot_classes
            ),
            shuffle=False,  # the batches shuffle themselves
            callbacks=[
                EpochStatistics(),
                progress,
                # Before the backup, as its log: a kill between the two repeats
                # an epoch's weights rather than losing them.
                *([epoch_weights] if preset.average_last_epochs else []),
                *backup.callbacks,
                keras.callbacks.EarlyStopping(
                    monitor="val_loss",
                    patience=preset.patience,
                    restore_best_weights=True,
                ),
                keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch),
            ],
            verbose=0,
        )
    if preset.average_last_epochs:
        model.set_weights(
            epoch_weights.mean(
                epochs_up_to_the_best(backup.history(), preset.average_last_epochs)
            )
        )
    if dtype != "float32":  # served and exported where bfloat16 may be emulated
        trained, model = model, build_model(x_train.shape[1:], n_classes, preset)
        model.set_weights(trained.get_weights())
    recalibrate_batch_norm(model, x_train[:RECALIBRATION_IMAGES], batch_size)
    return model


def epochs_up_to_the_best(history: pd.DataFrame, count: int) -> range:
    """The epoch with the lowest validation loss in ``history`` (epochs from 0,
    as Keras logs them) and the ``count - 1`` before it that ran, from 1."""
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"]) + 1
    epochs = range(max(1, best - count + 1), best + 1)
    logger.info(
        "The weights of epochs %d to %d averaged (epoch %d: the lowest "
        "validation loss).",
        epochs[0],
        best,
        best,
    )
    return epochs


def _check_labels(class_names: ClassNames, *labels: np.ndarray) -> None:
    highest_label = max(array.max() for array in labels)
    if highest_label >= len(class_names):
        raise ValueError(
            f"The training labels go up to {highest_label} but only "
            f"{len(class_names)} class names are configured; run the whole "
            "pipeline again after changing class_names."
        )


def distribution_strategy(training: TrainingParams) -> tf.distribute.Strategy:
    """TensorFlow's default strategy (one device), or ``MirroredStrategy`` over
    ``training.devices`` (by default every local GPU, else the CPU)."""
    import tensorflow as tf

    if training.distribution == "mirrored":
        return tf.distribute.MirroredStrategy(training.devices)
    return tf.distribute.get_strategy()


def learning_rate(
    preset: ModelPreset, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Adam's learning rate: constant, or a linear warm-up from a tenth of
    ``preset.learning_rate`` to it, then a cosine decay to zero at the last epoch."""
    if preset.schedule == "constant":
        return preset.learning_rate
    import keras

    warmup_steps = preset.warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=preset.learning_rate / 10
        if warmup_steps
        else preset.learning_rate,
        decay_steps=preset.epochs * steps_per_epoch - warmup_steps,
        warmup_target=preset.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def _log_epoch(epoch: int, logs: dict[str, float]) -> None:
    logger.info(
        "Epoch %d: loss %.4f, accuracy %.4f, val_loss %.4f, val_accuracy %.4f",
        epoch + 1,
        logs["loss"],
        logs["accuracy"],
        logs["val_loss"],
        logs["val_accuracy"],
    )


def epoch_metrics(history: pd.DataFrame) -> dict[str, list[dict[str, float]]]:
    """Each column of the training history (loss, accuracy, val_loss, …) as a
    metric history, one value per epoch, for kedro-mlflow's
    ``MlflowMetricsHistoryDataset``."""
    return {
        column: [
            {"value": float(value), "step": int(epoch)}
            for epoch, value in zip(history["epoch"], history[column])
        ]
        for column in history.columns.drop("epoch")
    }
