"""Batch normalisation's statistics are re-estimated after training, so that
quick runs of the batch-normalised presets predict well."""

import keras
import numpy as np
import pytest

from mnist_kedro.datasets import IdxDataset
from mnist_kedro.model.network import recalibrate_batch_norm
from mnist_kedro.pipelines.preprocessing.nodes import (
    scale_images,
    split_train_validation,
)
from mnist_kedro.pipelines.training.nodes import train_model


def test_recalibration_sets_the_statistics_of_the_inputs_and_restores_the_layers():
    images = np.random.default_rng(0).normal(3.0, 2.0, size=(600, 4)).astype("float32")
    norm = keras.layers.BatchNormalization(momentum=0.9)
    dropout = keras.layers.Dropout(0.5)
    model = keras.Sequential([keras.Input((4,)), dropout, norm])
    norm.moving_mean.assign(np.full(4, 100.0))  # far off, as after a short run

    recalibrate_batch_norm(model, images, batch_size=100)

    batch_variances = images.reshape(6, 100, 4).var(axis=1).mean(axis=0)
    np.testing.assert_allclose(norm.moving_mean, images.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance, batch_variances, rtol=1e-4)
    assert norm.momentum == 0.9 and dropout.rate == 0.5


@pytest.mark.slow
def test_quick_runs_of_the_batch_normalised_presets_beat_the_seed_preset(
    mnist_idx_dir, base_parameters, tmp_path
):
    """2,000 real images for 2 epochs, about 30 steps: without recalibration
    ``fast`` predicted near chance (13 %), ``seed`` 75 %."""
    images = IdxDataset(filepath=str(mnist_idx_dir / "train-images-idx3-ubyte.gz"))
    labels = IdxDataset(filepath=str(mnist_idx_dir / "train-labels-idx1-ubyte.gz"))
    x_train, y_train, x_val, y_val = split_train_validation(
        images.load(),
        labels.load(),
        base_parameters.preprocessing.model_copy(update={"train_limit": 2000}),
    )
    test_images = IdxDataset(filepath=str(mnist_idx_dir / "t10k-images-idx3-ubyte.gz"))
    test_labels = IdxDataset(filepath=str(mnist_idx_dir / "t10k-labels-idx1-ubyte.gz"))
    x_test, y_test = scale_images(test_images.load()[:2000]), test_labels.load()[:2000]

    accuracy = {}
    for preset in ("seed", "fast", "deep"):
        training = base_parameters.training.model_copy(
            update={"model": preset, "backup_dir": str(tmp_path / preset)}
        ).with_preset(epochs=2, patience=2, warmup_epochs=0)
        [(model, _)] = train_model(
            x_train, y_train, x_val, y_val, list("0123456789"), training
        )
        predicted = model.predict(x_test, verbose=0).argmax(axis=1)
        accuracy[preset] = (predicted == y_test).mean()

    assert accuracy["seed"] > 0.5, accuracy
    assert accuracy["fast"] >= accuracy["seed"], accuracy
    assert accuracy["deep"] >= accuracy["seed"], accuracy
