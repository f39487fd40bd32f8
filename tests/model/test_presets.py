"""The model presets of ``conf/base/parameters_training.yml``, their augmentation,
learning-rate schedule and input batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from pydantic import ValidationError

from mnist_kedro.datasets import KerasModelDataset
from mnist_kedro.model.inputs import augment, batches
from mnist_kedro.model.network import build_model
from mnist_kedro.parameters import AugmentationParams, TrainingParams
from mnist_kedro.pipelines.preprocessing.nodes import scale_images
from mnist_kedro.pipelines.training.nodes import learning_rate, train_model

PRESETS = ["seed", "fast", "deep"]


def layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_the_configured_presets_and_default(base_parameters):
    assert list(base_parameters.training.presets) == PRESETS
    assert base_parameters.training.model == "fast"


def test_best_is_the_ensembles_pipeline_not_a_preset(base_parameters):
    training = base_parameters.training.model_dump()

    with pytest.raises(
        ValidationError,
        match=r"training.model=best: the ensemble is a pipeline, not a preset: "
        r"run `kedro run --pipelines best`",
    ):
        TrainingParams.model_validate({**training, "model": "best"})
    with pytest.raises(ValidationError, match=r"'best' names the ensemble's pipeline"):
        TrainingParams.model_validate(
            {**training, "presets": {"best": training["presets"]["fast"]}}
        )


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_trains_and_survives_a_save_and_load(
    name, base_parameters, make_digits, tmp_path
):
    training = base_parameters.training.model_copy(
        update={"model": name, "backup_dir": str(tmp_path / "backup")}
    ).with_preset(epochs=3, batch_size=50)
    preset = training.preset
    images, labels = make_digits(300)
    x = scale_images(images)

    [(model, history)] = train_model(
        x[:200], labels[:200], x[200:], labels[200:], list("0123456789"), training
    )

    types = layer_types(model)
    convolutions_per_block = {"pooled": 1, "strided": 3}[preset.block]
    assert types.count("Conv2D") == convolutions_per_block * len(preset.filters)
    assert types.count("MaxPooling2D") == (preset.block == "pooled") * len(
        preset.filters
    )
    assert types.count("BatchNormalization") == preset.batch_norm * (
        types.count("Conv2D") + (preset.dense_units > 0)
    )
    assert len(history) == 3
    assert model.optimizer.iterations.numpy() == 3 * 4  # 200 images in batches of 50
    dataset = KerasModelDataset(filepath=str(tmp_path / "model.keras"))
    dataset.save(model)
    np.testing.assert_array_equal(
        dataset.load().predict(x[200:], verbose=0), model.predict(x[200:], verbose=0)
    )


AUGMENTATION = AugmentationParams(rotation_degrees=15, shift=0.15, zoom=0.15)
SEED = tf.constant([1, 2], tf.int64)


def test_augmentation_keeps_shapes_and_changes_every_image(make_digits):
    images = scale_images(make_digits(16)[0])

    augmented = augment(tf.constant(images), AUGMENTATION, SEED).numpy()

    assert augmented.shape == images.shape == (16, 28, 28, 1)
    assert augmented.dtype == np.float32
    assert augmented.min() >= 0 and augmented.max() <= 1 + 1e-6
    assert all(not np.allclose(a, b) for a, b in zip(augmented, images))
    np.testing.assert_array_equal(  # the same seed, the same changes
        augment(tf.constant(images), AUGMENTATION, SEED), augmented
    )


def test_augmentation_resamples_once():
    """With no change asked, the images come back exactly, not blurred."""
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    still = AugmentationParams(rotation_degrees=0, shift=0, zoom=0)

    np.testing.assert_array_equal(augment(tf.constant(images), still, SEED), images)


def test_augmentation_rotates_about_the_centre():
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 4:24, 13:15] = 1  # vertical
    quarter_turn = AugmentationParams(rotation_degrees=90, shift=0, zoom=0)

    turned = [
        augment(tf.constant(bar), quarter_turn, tf.constant([seed, 0], tf.int64))
        for seed in range(20)
    ]

    # Angles are drawn in [-90°, 90°]: some images end up nearly horizontal.
    widest = max(turned, key=lambda image: np.ptp(np.nonzero(image[0, :, :, 0])[1]))
    rows, columns = np.nonzero(widest[0, :, :, 0] > 0.5)
    assert np.ptp(columns) > 15 and np.ptp(rows) < 8
    assert abs(rows.mean() - 13.5) < 1.5 and abs(columns.mean() - 13.5) < 1.5


def test_training_batches_are_augmented_afresh_each_epoch_and_the_rest_never(
    make_digits,
):
    images = scale_images(make_digits(40)[0])
    labels = np.arange(40)

    training = batches(images, labels, 40, shuffle_seed=1, augmentation=AUGMENTATION)
    first, second = (next(iter(training)) for _ in range(2))
    validation = next(iter(batches(images, labels, 40)))

    for augmented, batch_labels in (first, second):
        originals = images[batch_labels.numpy()]
        assert not np.allclose(augmented.numpy(), originals)
    assert not np.allclose(
        first[0].numpy()[np.argsort(first[1])], second[0].numpy()[np.argsort(second[1])]
    )
    np.testing.assert_array_equal(validation[0], images)


def test_trained_model_has_no_augmentation_inside(base_parameters, make_digits):
    """Augmentation belongs to the training batches: the saved model predicts
    the same image the same way every time, in the pipeline and in serving."""
    model = build_model((28, 28, 1), 10, base_parameters.training.preset)
    images = scale_images(make_digits(8)[0])

    assert not [layer for layer in model.layers if "Random" in type(layer).__name__]
    np.testing.assert_array_equal(
        model(images, training=False), model.predict(images, verbose=0)
    )


def test_cosine_schedule_warms_up_then_decays_to_zero(base_parameters):
    preset = base_parameters.training.preset.model_copy(
        update={"learning_rate": 0.01, "warmup_epochs": 2, "epochs": 10}
    )

    schedule = learning_rate(preset, steps_per_epoch=100)

    def at(step: int) -> float:
        return float(schedule(step))

    assert at(0) == pytest.approx(0.001)
    assert at(100) == pytest.approx(0.0055)
    assert at(200) == pytest.approx(0.01)
    assert at(600) == pytest.approx(0.005)  # half-way through the decay
    assert at(1000) == pytest.approx(0.0, abs=1e-9)


def test_constant_schedule(base_parameters):
    preset = base_parameters.training.presets["seed"]

    assert learning_rate(preset, steps_per_epoch=100) == preset.learning_rate


def test_batches_shuffle_reproducibly_and_cover_every_image_once_per_epoch():
    images = np.arange(10, dtype=np.float32).reshape(10, 1)
    labels = np.arange(10)

    def epochs(dataset, count=2):
        return [
            np.concatenate([batch_labels.numpy() for _, batch_labels in dataset])
            for _ in range(count)
        ]

    first, second = epochs(batches(images, labels, 4, shuffle_seed=1))
    again = epochs(batches(images, labels, 4, shuffle_seed=1))
    in_order = epochs(batches(images, labels, 4), count=1)[0]

    assert sorted(first) == sorted(second) == list(range(10))
    assert first.tolist() != second.tolist()  # reshuffled every epoch
    assert [first.tolist(), second.tolist()] == [epoch.tolist() for epoch in again]
    assert in_order.tolist() == list(range(10))
    assert [len(batch) for batch, _ in batches(images, labels, 4)] == [4, 4, 2]


def test_batches_give_one_hot_labels_when_asked():
    images = np.zeros((3, 2, 2, 1), np.float32)

    [(_, labels)] = batches(images, np.array([2, 0, 1]), 3, one_hot_classes=4)

    np.testing.assert_array_equal(labels, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
