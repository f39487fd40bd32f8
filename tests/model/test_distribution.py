"""``training.distribution: mirrored`` trains one replica per device, here on
two logical CPU devices in a fresh process (TensorFlow fixes its devices when
it starts), and matches single-device training."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# Trains the seed preset for 4 epochs on the same 6,000 real images on one
# device, with a batch of 128, and mirrored on two, with 64 per replica (the
# same global batch); prints each one's validation accuracy and losses as JSON.
TRAIN_BOTH = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
from mnist_kedro.datasets import IdxDataset
from mnist_kedro.parameters import TrainingParams, PreprocessingParams
from mnist_kedro.pipelines.preprocessing.nodes import split_train_validation
from mnist_kedro.pipelines.training.nodes import train_model

idx_dir, training, preprocessing, out = sys.argv[1:]
x_train, y_train, x_val, y_val = split_train_validation(
    IdxDataset(filepath=f"{idx_dir}/train-images-idx3-ubyte.gz").load(),
    IdxDataset(filepath=f"{idx_dir}/train-labels-idx1-ubyte.gz").load(),
    PreprocessingParams.model_validate_json(preprocessing),
)
training = TrainingParams.model_validate_json(training)
figures = {}
for name, changes, batch_size in (
    ("single", {}, 128),
    (
        "mirrored",
        {"distribution": "mirrored", "devices": ["/cpu:0", "/cpu:1"], "steps_per_execution": 1},
        64,
    ),
):
    run = training.model_copy(
        update={**changes, "backup_dir": f"{out}/backup-{name}"}
    ).with_preset(batch_size=batch_size)
    [(model, history)] = train_model(x_train, y_train, x_val, y_val, list("0123456789"), run)
    model.save(f"{out}/{name}.keras")
    figures[name] = {
        "val_accuracy": float((model.predict(x_val, verbose=0).argmax(1) == y_val).mean()),
        "loss": history["loss"].tolist(),
    }
figures["replicas"] = len(tf.config.list_logical_devices("CPU"))
print(json.dumps(figures))
"""


def test_mirrored_training_on_two_devices_matches_one_device(
    mnist_idx_dir, base_parameters, tmp_path
):
    training = base_parameters.training.model_copy(update={"model": "seed"})
    training = training.with_preset(epochs=4, patience=4)
    preprocessing = base_parameters.preprocessing.model_copy(
        update={"train_limit": 6000}
    )

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            TRAIN_BOTH,
            str(mnist_idx_dir),
            training.model_dump_json(),
            preprocessing.model_dump_json(),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["replicas"] == 2
    for name in ("single", "mirrored"):
        assert all(np.isfinite(figures[name]["loss"]))
        assert figures[name]["val_accuracy"] > 0.8
    assert (
        abs(figures["mirrored"]["val_accuracy"] - figures["single"]["val_accuracy"])
        <= 0.01
    )
    # The saved model is a plain Keras model: it loads and predicts anywhere.
    import keras  # noqa: PLC0415 - TensorFlow only once the subprocess is done

    model = keras.models.load_model(tmp_path / "mirrored.keras")
    assert model.predict(np.zeros((3, 28, 28, 1), "float32"), verbose=0).shape == (
        3,
        10,
    )
