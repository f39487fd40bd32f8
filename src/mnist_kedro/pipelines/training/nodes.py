"""Nodes of the training pipeline: build, compile and fit the CNN of a preset."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mnist_kedro.parameters import (
    AugmentationParams,
    ClassNames,
    ModelPreset,
    TrainingParams,
)

from .backup import own_backup_folder, run_fingerprint
from .progress import EpochProgress

logger = logging.getLogger(__name__)


def build_model(
    input_shape: tuple[int, ...], num_classes: int, preset: ModelPreset
) -> keras.Model:
    """The CNN of ``preset``."""
    layers = [keras.Input(shape=input_shape)]
    for filters in preset.filters:
        layers += _relu_layer(
            keras.layers.Conv2D,
            filters,
            preset.batch_norm,
            kernel_size=preset.kernel_size,
        )
        layers.append(keras.layers.MaxPooling2D(pool_size=2))
        if preset.block_dropout:
            layers.append(keras.layers.Dropout(preset.block_dropout))
    layers.append(keras.layers.Flatten())
    if preset.dense_units:
        layers += _relu_layer(keras.layers.Dense, preset.dense_units, preset.batch_norm)
    layers += [
        keras.layers.Dropout(preset.dropout),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
    try:
        return keras.Sequential(layers, name="mnist_cnn")
    except ValueError as error:
        raise ValueError(
            f"Images of shape {input_shape} are too small for "
            f"{len(preset.filters)} blocks of {preset.kernel_size}×"
            f"{preset.kernel_size} convolutions: use fewer filters or a smaller "
            f"kernel_size ({error})"
        ) from None


def _relu_layer(
    layer_type: type[keras.layers.Layer], units: int, batch_norm: bool, **options
) -> list[keras.layers.Layer]:
    """A convolution or dense layer with ReLU, batch-normalised when asked."""
    if batch_norm:  # the normalisation's offset replaces the bias
        return [
            layer_type(units, use_bias=False, **options),
            # Keras' default momentum of 0.99 needs hundreds of steps before
            # its inference statistics are usable; quick runs have fewer.
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
        ]
    return [layer_type(units, activation="relu", **options)]


def train_model(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_names: ClassNames,
    training: TrainingParams,
) -> tuple[keras.Model, pd.DataFrame]:
    """Trains the preset ``training.model`` with Adam and early stopping on
    validation loss; returns the model with the best validation loss and the
    per-epoch history (with each epoch's wall time and learning rate).

    A run that was killed resumes after its last completed epoch: the model,
    optimiser and history of each epoch are backed up in a folder of this run's
    own under ``training.backup_dir`` (see ``backup.py``), removed once
    training has finished.
    """
    highest_label = max(y_train.max(), y_val.max())
    if highest_label >= len(class_names):
        raise ValueError(
            f"The training labels go up to {highest_label} but only "
            f"{len(class_names)} class names are configured; run the whole "
            "pipeline again after changing class_names."
        )
    preset = training.preset
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        # Process-wide and irreversible; costs little on CPU (see README).
        tf.config.experimental.enable_op_determinism()
    fingerprint = run_fingerprint(
        training.model_dump(mode="json", exclude={"backup_dir"}),
        x_train,
        y_train,
        x_val,
        y_val,
    )
    with (
        own_backup_folder(Path(training.backup_dir), fingerprint) as backup_dir,
        EpochProgress() as progress,
    ):
        history_log = backup_dir / "history.csv"
        train_batches = batches(
            x_train,
            y_train,
            preset.batch_size,
            shuffle_seed=training.seed,
            augmentation=preset.augmentation,
        )
        model = build_model(x_train.shape[1:], len(class_names), preset)
        model.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate=learning_rate(preset, len(train_batches))
            ),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(
            train_batches,
            epochs=preset.epochs,
            validation_data=batches(x_val, y_val, preset.batch_size),
            shuffle=False,  # the batches shuffle themselves
            callbacks=[
                EpochStatistics(),
                progress,
                # Before the backup: a kill between the two repeats an epoch in
                # the log (dropped below) rather than losing one.
                keras.callbacks.CSVLogger(str(history_log), append=True),
                keras.callbacks.BackupAndRestore(
                    str(backup_dir), delete_checkpoint=False
                ),
                keras.callbacks.EarlyStopping(
                    monitor="val_loss",
                    patience=preset.patience,
                    restore_best_weights=True,
                ),
                keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch),
            ],
            verbose=0,
        )
        history = pd.read_csv(history_log).drop_duplicates("epoch", keep="last")
    history["epoch"] += 1
    return model, history.reset_index(drop=True)


def batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
    augmentation: AugmentationParams | None = None,
) -> tf.data.Dataset:
    """Batches of (images, labels), reshuffled and freshly augmented every epoch
    if ``shuffle_seed`` is given, prepared while the previous batch trains."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(images), seed=shuffle_seed)
    dataset = dataset.batch(batch_size)
    if augmentation is not None:
        batch_seeds = tf.data.Dataset.random(
            seed=shuffle_seed, rerandomize_each_iteration=True
        ).batch(2)
        dataset = tf.data.Dataset.zip(dataset, batch_seeds).map(
            lambda batch, seed: (augment(batch[0], augmentation, seed), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def augment(
    images: tf.Tensor, params: AugmentationParams, seed: tf.Tensor
) -> tf.Tensor:
    """Each image of a batch rotated, shifted and zoomed at random about its
    centre, in one resampling: Keras' RandomRotation, RandomTranslation and
    RandomZoom in a row would blur the strokes three times. ``seed`` is a
    stateless seed of two integers."""
    count = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    angle_seed, zoom_seed, x_seed, y_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )

    def uniform(seed: tf.Tensor, limit: float) -> tf.Tensor:
        return tf.random.stateless_uniform([count], seed, minval=-limit, maxval=limit)

    angle = uniform(angle_seed, params.rotation_degrees * math.pi / 180)
    scale = 1 + uniform(zoom_seed, params.zoom)
    shift_x = uniform(x_seed, params.shift * width)
    shift_y = uniform(y_seed, params.shift * height)
    # Output pixel (x, y) samples the input at the inverse transform of (x, y).
    a0, a1 = tf.cos(angle) / scale, tf.sin(angle) / scale
    b0, b1 = -a1, a0
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    a2 = centre_x - a0 * (centre_x + shift_x) - a1 * (centre_y + shift_y)
    b2 = centre_y - b0 * (centre_x + shift_x) - b1 * (centre_y + shift_y)
    no_perspective = tf.zeros([count])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, no_perspective, no_perspective], 1)
    return keras.ops.image.affine_transform(
        images, transforms, fill_mode="constant", fill_value=0.0
    )


def learning_rate(
    preset: ModelPreset, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Adam's learning rate: constant, or a linear warm-up from a tenth of
    ``preset.learning_rate`` to it, then a cosine decay to zero at the last epoch."""
    if preset.schedule == "constant":
        return preset.learning_rate
    warmup_steps = preset.warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=preset.learning_rate / 10
        if warmup_steps
        else preset.learning_rate,
        decay_steps=preset.epochs * steps_per_epoch - warmup_steps,
        warmup_target=preset.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


class EpochStatistics(keras.callbacks.Callback):
    """Adds each epoch's wall time and final learning rate to its logs, so that
    the history records them."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["seconds"] = time.perf_counter() - self._started
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
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
