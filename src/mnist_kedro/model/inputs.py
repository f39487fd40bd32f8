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
    centre, and distorted elastically if asked, in one resampling: Keras'
    RandomRotation, RandomTranslation, RandomZoom and RandomElasticTransform in
    a row would blur the strokes at each. ``seed`` is a stateless seed of two
    integers."""
    count = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    angle_seed, zoom_seed, x_seed, y_seed, elastic_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 5)
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
    if not params.elastic_alpha:
        no_perspective = tf.zeros([count])
        transforms = tf.stack(
            [a0, a1, a2, b0, b1, b2, no_perspective, no_perspective], 1
        )
        return keras.ops.image.affine_transform(
            images, transforms, fill_mode="constant", fill_value=0.0
        )
    # Output pixel (x, y) first moves by the field, then transforms as above.
    dx, dy = tf.unstack(
        elastic_field(count, height, width, params, elastic_seed), axis=-1
    )
    rows, columns = tf.meshgrid(
        tf.range(height, dtype=tf.float32),
        tf.range(width, dtype=tf.float32),
        indexing="ij",
    )
    x, y = columns + dx, rows + dy

    def per_image(coefficient: tf.Tensor) -> tf.Tensor:
        return coefficient[:, None, None]

    source_x = per_image(a0) * x + per_image(a1) * y + per_image(a2)
    source_y = per_image(b0) * x + per_image(b1) * y + per_image(b2)
    return bilinear_sample(images[..., 0], source_y, source_x)[..., None]


def bilinear_sample(images: tf.Tensor, y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """``images`` (count, height, width) read at the fractional pixel positions
    ``y`` and ``x`` (each count × height × width), bilinearly, 0 outside.
    Keras' ``map_coordinates`` needs the batch's size when tracing, which a
    ``tf.data`` map does not know, and took 5× longer here."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    flat = tf.reshape(images, [-1])
    first_pixel = (tf.range(shape[0]) * height * width)[:, None, None]
    y0, x0 = tf.floor(y), tf.floor(x)
    result = tf.zeros_like(y)
    for row_step, column_step in ((0, 0), (0, 1), (1, 0), (1, 1)):
        row, column = y0 + row_step, x0 + column_step
        weight = (1 - tf.abs(y - row)) * (1 - tf.abs(x - column))
        row, column = tf.cast(row, tf.int32), tf.cast(column, tf.int32)
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        index = first_pixel + tf.clip_by_value(row, 0, height - 1) * width
        index += tf.clip_by_value(column, 0, width - 1)
        result += tf.where(inside, weight * tf.gather(flat, index), 0.0)
    return result


def elastic_field(
    count: tf.Tensor,
    height: int,
    width: int,
    params: AugmentationParams,
    seed: tf.Tensor,
) -> tf.Tensor:
    """Per image, a displacement (dx, dy) for each pixel: uniform noise in
    [-1, 1] smoothed by a Gaussian of ``params.elastic_sigma`` pixels, times
    ``params.elastic_alpha``; shape (count, height, width, 2)."""
    noise = tf.random.stateless_uniform(
        tf.stack([count, height, width, 2]), seed, minval=-1, maxval=1
    )
    # Two standard deviations either side, at most the image's size; one
    # direction at a time (the Gaussian is separable): 16× less work at σ = 4.
    size = min(2 * math.ceil(2 * params.elastic_sigma) + 1, 2 * min(height, width) - 1)
    sigma = params.elastic_sigma
    smooth = keras.ops.image.gaussian_blur(noise, (size, 1), (sigma, sigma))
    smooth = keras.ops.image.gaussian_blur(smooth, (1, size), (sigma, sigma))
    return params.elastic_alpha * smooth
