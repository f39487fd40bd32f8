"""The CNN of a preset, readable top to bottom as one ``keras.Sequential``;
its batch normalisation re-estimated after training; several trained CNNs
averaged into one model."""

from __future__ import annotations

import keras
import numpy as np
from keras.layers import Average, BatchNormalization, Conv2D, Dense, Dropout

from mnist_kedro.parameters import ModelPreset


def build_model(
    input_shape: tuple[int, ...],
    num_classes: int,
    preset: ModelPreset,
    dtype: str = "float32",
) -> keras.Model:
    """The CNN of ``preset``, its layers computing in the Keras dtype policy
    ``dtype`` (e.g. "mixed_bfloat16"), its probabilities in float32."""
    layers = [keras.Input(shape=input_shape)]
    for filters in preset.filters:
        if preset.block == "pooled":
            layers += _relu_layer(
                Conv2D,
                filters,
                preset.batch_norm,
                dtype,
                kernel_size=preset.kernel_size,
            )
            layers.append(keras.layers.MaxPooling2D(pool_size=2, dtype=dtype))
        else:  # "strided": a learnt downsampling in place of max pooling
            for _ in range(2):
                layers += _relu_layer(
                    Conv2D,
                    filters,
                    preset.batch_norm,
                    dtype,
                    kernel_size=preset.kernel_size,
                )
            layers += _relu_layer(
                Conv2D,
                filters,
                preset.batch_norm,
                dtype,
                kernel_size=5,
                strides=2,
                padding="same",
            )
        if preset.block_dropout:
            layers.append(keras.layers.Dropout(preset.block_dropout, dtype=dtype))
    layers.append(keras.layers.Flatten(dtype=dtype))
    if preset.dense_units:
        layers += _relu_layer(Dense, preset.dense_units, preset.batch_norm, dtype)
    layers += [
        keras.layers.Dropout(preset.dropout, dtype=dtype),
        Dense(num_classes, activation="softmax", dtype="float32"),
    ]
    try:
        return keras.Sequential(layers, name="mnist_cnn")
    except ValueError as error:
        raise ValueError(
            f"Images of shape {input_shape} are too small for "
            f"{len(preset.filters)} {preset.block} blocks of {preset.kernel_size}×"
            f"{preset.kernel_size} convolutions: use fewer filters or a smaller "
            f"kernel_size ({error})"
        ) from None


def _relu_layer(
    layer_type: type[keras.layers.Layer],
    units: int,
    batch_norm: bool,
    dtype: str,
    **options,
) -> list[keras.layers.Layer]:
    """A convolution or dense layer with ReLU, batch-normalised when asked."""
    if batch_norm:  # the normalisation's offset replaces the bias
        return [
            layer_type(units, use_bias=False, dtype=dtype, **options),
            # Keras' default momentum of 0.99 needs hundreds of steps before
            # its inference statistics are usable; quick runs have fewer.
            BatchNormalization(momentum=0.9, dtype=dtype),
            keras.layers.ReLU(dtype=dtype),
        ]
    return [layer_type(units, activation="relu", dtype=dtype, **options)]


def recalibrate_batch_norm(
    model: keras.Model, images: np.ndarray, batch_size: int
) -> None:
    """Sets every batch normalisation's inference statistics to the mean and
    variance of its inputs over ``images``, under the final weights.

    The running averages kept during training lag behind weights that change
    fast: after a short run they describe none of the weights the model ends
    with, and the model predicts near chance. Averaging over batches with the
    weights fixed (momentum ``n / (n + 1)`` at the ``n``-th batch, dropout off)
    gives the statistics the inference will meet.
    """
    norms = [layer for layer in model.layers if isinstance(layer, BatchNormalization)]
    if not norms:
        return
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in dropouts]
    for dropout in dropouts:
        dropout.rate = 0.0
    try:
        for step, start in enumerate(range(0, len(images), batch_size)):
            for norm in norms:
                norm.momentum = step / (step + 1)
            model(images[start : start + batch_size], training=True)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        for dropout, rate in zip(dropouts, rates):
            dropout.rate = rate


def ensemble(members: list[keras.Model]) -> keras.Model:
    """One model whose class probabilities are the average of ``members``'
    (each renamed ``member_<n>``, as the models are nested in one file); it
    saves, loads and predicts like any of them."""
    if (
        len({member.input_shape[1:] for member in members}) != 1
        or len({member.output_shape[1:] for member in members}) != 1
    ):
        raise ValueError(
            "The members of an ensemble must take images of one shape and give "
            "probabilities of the same classes; train them on the same data."
        )
    images = keras.Input(shape=members[0].input_shape[1:])
    for number, member in enumerate(members, start=1):
        member.name = f"member_{number}"
    probabilities = [member(images) for member in members]
    average = probabilities[0] if len(members) == 1 else Average()(probabilities)
    return keras.Model(images, average, name="mnist_cnn_ensemble")
