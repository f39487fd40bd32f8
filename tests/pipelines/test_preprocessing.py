import numpy as np
import pytest

from mnist_kedro.parameters import PreprocessingParams
from mnist_kedro.pipelines.preprocessing.nodes import (
    scale_images,
    split_train_validation,
)


def params(validation_fraction=0.2, train_limit=None, seed=42):
    return PreprocessingParams(
        validation_fraction=validation_fraction, train_limit=train_limit, seed=seed
    )


def test_scale_images_gives_float32_channels_last_in_unit_range():
    images = np.array([[[0, 128], [255, 51]]], dtype=np.uint8)

    scaled = scale_images(images)

    assert scaled.shape == (1, 2, 2, 1)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0, :, :, 0], [[0.0, 128 / 255], [1.0, 0.2]])


def test_split_sizes_shapes_and_value_range(make_digits):
    images, labels = make_digits(500)

    x_train, y_train, x_val, y_val = split_train_validation(images, labels, params())

    assert x_train.shape == (400, 28, 28, 1)
    assert x_val.shape == (100, 28, 28, 1)
    assert y_train.shape == (400,) and y_val.shape == (100,)
    assert x_train.dtype == x_val.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0


def test_split_is_stratified():
    rng = np.random.default_rng(3)
    labels = rng.choice(10, size=2000, p=[0.3] + [0.7 / 9] * 9).astype(np.uint8)
    images = np.zeros((2000, 28, 28), np.uint8)

    _, y_train, _, y_val = split_train_validation(images, labels, params(0.1))

    share_train = np.bincount(y_train, minlength=10) / len(y_train)
    share_val = np.bincount(y_val, minlength=10) / len(y_val)
    np.testing.assert_allclose(share_train, share_val, atol=0.01)


def test_split_keeps_images_with_their_labels(make_digits):
    images, labels = make_digits(200)

    x_train, y_train, _, _ = split_train_validation(images, labels, params())

    bright_rows = x_train[:, :, 14, 0].argmax(axis=1)
    np.testing.assert_array_equal(bright_rows, 3 + 2 * y_train.astype(int))


def test_split_is_seeded(make_digits):
    images, labels = make_digits(300)

    first = split_train_validation(images, labels, params(seed=1))
    again = split_train_validation(images, labels, params(seed=1))
    other = split_train_validation(images, labels, params(seed=2))

    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize(
    ("limit", "expected_total"), [(100, 100), (None, 500), (10_000, 500)]
)
def test_train_limit_caps_training_plus_validation(limit, expected_total, make_digits):
    images, labels = make_digits(500)

    _, y_train, _, y_val = split_train_validation(images, labels, params(0.2, limit))

    assert len(y_train) + len(y_val) == expected_total
    assert set(y_train) == set(range(10))  # the limited set is stratified too
