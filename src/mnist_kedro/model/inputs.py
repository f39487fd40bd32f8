"""The training input: ``tf.data`` batches, shuffled and augmented afresh every
epoch; validation, test and served images are never augmented."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from mnist_kedro.parameters import AugmentationParams


def batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
    augmentation: AugmentationParams | None = None,
    one_hot_classes: int | None = None,
) -> tf.data.Dataset:
    """Batches of (images, labels), reshuffled and freshly augmented every epoch
    if ``shuffle_seed`` is given, prepared while the previous batch trains;
    each label a one-hot vector of ``one_hot_classes`` if given (the form
    Keras' label smoothing needs)."""
    if one_hot_classes is not None:
        labels = keras.utils.to_categorical(labels, one_hot_classes)
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
