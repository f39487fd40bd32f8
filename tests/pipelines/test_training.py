import logging
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from mnist_kedro.model.network import build_model
from mnist_kedro.model.resume import own_backup_folder, run_fingerprint
from mnist_kedro.model.tensorflow_settings import training_precision
from mnist_kedro.pipelines.preprocessing.nodes import scale_images
from mnist_kedro.pipelines.training.nodes import train_model


@pytest.fixture
def training_params(base_parameters, tmp_path):
    """The seed preset, briefly: the quickest to learn the synthetic digits."""
    return base_parameters.training.model_copy(
        update={"model": "seed", "backup_dir": str(tmp_path / "backup")}
    ).with_preset(epochs=3, batch_size=32)


def test_seed_preset_is_the_original_cnn(training_params):
    preset = training_params.preset.model_copy(
        update={"filters": [8, 16], "dropout": 0.25}
    )

    model = build_model((28, 28, 1), 10, preset)

    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dropout",
        "Dense",
    ]
    assert model.layers[0].filters == 8
    assert model.layers[0].activation is keras.activations.relu
    assert model.layers[2].filters == 16
    assert model.layers[5].rate == 0.25
    assert model.output_shape == (None, 10)
    assert model.layers[-1].activation is keras.activations.softmax


def test_too_many_blocks_for_the_image_size_are_refused(training_params):
    preset = training_params.preset.model_copy(update={"filters": [8, 8, 8, 8]})

    with pytest.raises(
        ValueError, match=r"too small for 4 pooled blocks of 3×3.*fewer filters"
    ):
        build_model((28, 28, 1), 10, preset)


def test_training_learns_and_reports_every_epoch(training_params, caplog, make_digits):
    images, labels = make_digits(400)
    x, y = scale_images(images), labels

    with caplog.at_level(logging.INFO, logger="mnist_kedro"):
        [(model, history)] = train_model(
            x[:300], y[:300], x[300:], y[300:], list("0123456789"), training_params
        )

    assert set(history.columns) == {
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "learning_rate",
    }
    assert (history["seconds"] > 0).all()
    assert history["epoch"].tolist() == list(range(1, len(history) + 1))
    assert 1 <= len(history) <= 3
    assert history["val_accuracy"].max() > 0.5  # chance is 0.1
    assert history["learning_rate"].tolist() == pytest.approx(
        [training_params.preset.learning_rate] * len(history)
    )
    assert "Epoch 1: loss" in caplog.text
    predictions = model.predict(x[300:], verbose=0)
    assert predictions.shape == (100, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_bfloat16_and_several_steps_per_call_train_a_float32_model(
    training_params, make_digits
):
    images, labels = make_digits(400)
    x, y = scale_images(images), labels
    params = training_params.model_copy(
        update={"precision": "bfloat16", "steps_per_execution": 4}
    )

    [(model, history)] = train_model(
        x[:300], y[:300], x[300:], y[300:], list("0123456789"), params
    )

    assert len(history) == 3 and history["val_accuracy"].max() > 0.5
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    predictions = model.predict(x[300:], verbose=0)
    assert predictions.dtype == np.float32
    assert np.mean(predictions.argmax(axis=1) == y[300:]) > 0.5


def test_label_smoothing_trains_a_less_confident_model_on_the_same_metrics(
    training_params, make_digits, tmp_path
):
    images, labels = make_digits(400)
    x, y = scale_images(images), labels
    models = {}
    for smoothing in (0.0, 0.3):
        params = training_params.model_copy(
            update={"backup_dir": str(tmp_path / f"{smoothing}")}
        ).with_preset(epochs=4, label_smoothing=smoothing)
        [(models[smoothing], history)] = train_model(
            x[:300], y[:300], x[300:], y[300:], list("0123456789"), params
        )
        assert {"accuracy", "val_accuracy"} <= set(history.columns)
        assert history["val_accuracy"].max() > 0.5

    assert models[0.3].loss.get_config()["label_smoothing"] == pytest.approx(0.3)

    def confidence(model: keras.Model) -> float:
        return float(model.predict(x[:300], verbose=0).max(axis=1).mean())

    assert confidence(models[0.3]) < confidence(models[0.0]) - 0.05


def test_several_steps_per_call_train_the_same_model_to_the_last_digit(
    training_params, make_digits, tmp_path
):
    images, labels = make_digits(200)
    x, y = scale_images(images), labels
    weights = []
    for steps in (1, 4):
        params = training_params.model_copy(
            update={
                "steps_per_execution": steps,
                "backup_dir": str(tmp_path / f"{steps}"),
            }
        )
        [(model, _)] = train_model(
            x[:150], y[:150], x[150:], y[150:], list("0123456789"), params
        )
        weights.append(model.get_weights())

    for one_step, four_steps in zip(*weights, strict=True):
        np.testing.assert_array_equal(one_step, four_steps)


@pytest.mark.parametrize(
    ("asked", "flags", "policy"),
    [
        ("auto", {"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        ("auto", {"avx2", "amx_tile", "amx_bf16"}, "mixed_bfloat16"),
        ("auto", {"avx2", "fma", "avx512f"}, "float32"),  # would be emulated
        ("bfloat16", {"avx2"}, "mixed_bfloat16"),  # asked for: as asked
        ("float32", {"avx512_bf16"}, "float32"),
    ],
)
def test_bfloat16_is_chosen_automatically_only_where_the_cpu_computes_it(
    asked, flags, policy
):
    assert training_precision(asked, flags) == policy


def test_early_stopping_restores_the_best_weights(training_params, make_digits):
    images, labels = make_digits(200)
    x, y = scale_images(images), labels
    # A learning rate this high makes validation loss worsen after the first epochs.
    params = training_params.with_preset(epochs=6, patience=1, learning_rate=0.5)

    [(model, history)] = train_model(
        x[:150], y[:150], x[150:], y[150:], list("0123456789"), params
    )

    best = history["val_loss"].min()
    restored_loss = (
        keras.losses.sparse_categorical_crossentropy(
            y[150:], model.predict(x[150:], verbose=0)
        )
        .numpy()
        .mean()
    )
    assert restored_loss == pytest.approx(best, rel=1e-4)


def test_averaging_gives_the_mean_weights_of_the_epochs_up_to_the_best(
    training_params, make_digits, caplog
):
    images, labels = make_digits(400)
    x, y = scale_images(images), labels
    params = training_params.with_preset(epochs=4, patience=4, average_last_epochs=2)

    with caplog.at_level(logging.INFO, logger="mnist_kedro"):
        training = train_model(
            x[:300], y[:300], x[300:], y[300:], list("0123456789"), params
        )
        model, history = next(training)
        averaged = model.get_weights()
        [folder] = backup_folders(params)  # kept until the outputs are saved
        saved = sorted((folder / "epoch_weights").iterdir())
        epochs = [list(np.load(path).values()) for path in saved]
        assert next(training, None) is None  # the outputs saved: the backup goes

    assert [path.name for path in saved] == [f"000{n}.npz" for n in range(1, 5)]
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    assert (
        f"The weights of epochs {max(1, best - 1)} to {best} averaged (epoch {best}: "
        "the lowest validation loss)." in caplog.text
    )
    window = epochs[max(0, best - 2) : best]
    for variable, *in_window in zip(averaged, *window, strict=True):
        np.testing.assert_allclose(variable, np.mean(in_window, axis=0), rtol=1e-6)
    assert not np.allclose(averaged[0], epochs[best - 1][0])  # not the best alone
    assert backup_folders(params) == []


def backup_folders(training_params) -> list[Path]:
    return [
        path for path in Path(training_params.backup_dir).iterdir() if path.is_dir()
    ]


def test_the_backup_is_removed_after_training(training_params, make_digits):
    images, labels = make_digits(100)
    x = scale_images(images)

    [_] = train_model(
        x[:80], labels[:80], x[80:], labels[80:], list("0123456789"), training_params
    )

    assert backup_folders(training_params) == []


def test_a_training_whose_outputs_were_not_saved_is_saved_by_the_next_run_untrained(
    training_params, make_digits, caplog
):
    images, labels = make_digits(100)
    x = scale_images(images)
    data = (x[:80], labels[:80], x[80:], labels[80:], list("0123456789"))
    unsaved = train_model(*data, training_params)
    model, history = next(unsaved)
    unsaved.close()  # what Kedro does when saving an output fails: no resume
    [folder] = backup_folders(training_params)
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="mnist_kedro"):
        [(again, history_again)] = train_model(*data, training_params)

    assert (
        f"The training backed up in {folder} completed, but its outputs were not "
        "saved: saving its model, without training again." in caplog.text
    )
    assert "Epoch 1:" not in caplog.text
    pd.testing.assert_frame_equal(history_again, history)
    for kept, trained in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, trained)
    assert backup_folders(training_params) == []


def test_the_backup_of_other_parameters_is_neither_resumed_nor_touched(
    training_params, make_digits, caplog
):
    images, labels = make_digits(100)
    x = scale_images(images)
    other = training_params.with_preset(learning_rate=0.5)
    other_run = run_fingerprint(
        other.model_dump(mode="json", exclude={"backup_dir"}),
        x[:80],
        labels[:80],
        x[80:],
        labels[80:],
    )
    with pytest.raises(KeyboardInterrupt):  # a run killed after an epoch
        with own_backup_folder(Path(other.backup_dir), other_run) as folder:
            (folder / "history.csv").write_text("epoch,loss\n0,9.9\n")
            raise KeyboardInterrupt

    with caplog.at_level(logging.INFO, logger="mnist_kedro"):
        [(_, history)] = train_model(
            x[:80],
            labels[:80],
            x[80:],
            labels[80:],
            list("0123456789"),
            training_params,
        )

    assert "Resuming" not in caplog.text
    assert history["epoch"].tolist()[0] == 1
    assert history["loss"].max() < 9.9
    assert backup_folders(training_params) == [folder]
    assert (folder / "history.csv").read_text() == "epoch,loss\n0,9.9\n"


def test_labels_beyond_the_class_names_are_refused(training_params, make_digits):
    images, labels = make_digits(40)
    x = scale_images(images)

    with pytest.raises(ValueError, match="labels go up to 9 but only 5 class names"):
        next(
            train_model(
                x[:30], labels[:30], x[30:], labels[30:], list("abcde"), training_params
            )
        )
