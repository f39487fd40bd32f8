"""The measurements of ``run.py`` that need TensorFlow, each run in a fresh
process by the driver:

    python benchmarks/workers.py TASK '{"argument": value, ...}'

prints the task's figures as JSON on its last line. TensorFlow's thread
settings and op determinism last as long as the process, and a child's peak
RSS starts from its parent's at fork time: hence the separate processes, and a
driver that never imports TensorFlow.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml
from run import configured_training, latest
from sklearn.metrics import log_loss

from mnist_kedro.datasets import IdxDataset
from mnist_kedro.model.inputs import batches
from mnist_kedro.model.network import build_model
from mnist_kedro.model.prediction import Predictor, predict_in_batches
from mnist_kedro.model.tensorflow_settings import limit_tensorflow_threads
from mnist_kedro.parameters import TrainingParams
from mnist_kedro.pipelines.ensemble.pipeline import MEMBERS
from mnist_kedro.pipelines.training.nodes import train_model

TEST_LABELS = "t10k-labels-idx1-ubyte"  # in data/02_intermediate


def throughput_worker(
    arrays: str,
    feed: str,
    epochs: int,
    preset: str,
    batch_size: int | None = None,
    jit_compile: bool | str = "auto",
    threads: int | None = None,
    deterministic: bool = True,
) -> dict:
    """Images per second over ``epochs`` of training ``preset``, with
    validation, through the node (``feed="node"``, augmentation included, op
    determinism as asked) or a plain ``model.fit`` fed by NumPy arrays or by
    the node's ``tf.data`` batches (both without augmentation)."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    x_train, y_train, x_val, y_val = load_arrays(Path(arrays))
    training = preset_training(preset, epochs, batch_size=batch_size)
    preset = training.preset
    started = time.perf_counter()
    if feed == "node":
        training = training.model_copy(update={"deterministic": deterministic})
        train_through_node(x_train, y_train, x_val, y_val, training)
    else:
        keras.utils.set_random_seed(training.seed)
        model = build_model(x_train.shape[1:], 10, preset)
        model.compile(
            optimizer=keras.optimizers.Adam(preset.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
        if feed == "numpy":
            model.fit(
                x_train,
                y_train,
                batch_size=preset.batch_size,
                epochs=epochs,
                validation_data=(x_val, y_val),
                verbose=0,
            )
        else:
            model.fit(
                batches(
                    x_train, y_train, preset.batch_size, shuffle_seed=training.seed
                ),
                epochs=epochs,
                validation_data=batches(x_val, y_val, preset.batch_size),
                verbose=0,
            )
    seconds = time.perf_counter() - started
    return {"images_per_second": round(epochs * len(x_train) / seconds)}


def load_arrays(arrays: Path, names=("x_train", "y_train", "x_val", "y_val")):
    return [np.load(arrays / f"{name}.npy") for name in names]


def preset_training(
    preset: str | None, epochs: int | None, training: dict | None = None, **changes
) -> TrainingParams:
    """The ``training`` parameters (default: the configured ones) of ``preset``
    (default: their model) for ``epochs`` (default: the preset's own) with
    early stopping off, and any other ``changes`` that are not ``None``."""
    training = TrainingParams.model_validate(training or configured_training())
    training = training.model_copy(update={"model": preset or training.model})
    epochs = epochs or training.preset.epochs
    changes = {key: value for key, value in changes.items() if value is not None}
    return training.with_preset(epochs=epochs, patience=epochs, **changes)


def train_through_node(x_train, y_train, x_val, y_val, training: TrainingParams):
    """The training node's model and history, with its per-epoch backup in a
    temporary folder."""
    with tempfile.TemporaryDirectory() as backup:
        [(model, history)] = train_model(
            x_train,
            y_train,
            x_val,
            y_val,
            [str(label) for label in range(10)],
            training.model_copy(update={"backup_dir": f"{backup}/backup"}),
        )
    return model, history


def accuracy_curve_worker(
    arrays: str, preset: str | None, epochs: int | None, training: dict | None = None
) -> list[dict]:
    """Trains ``preset`` of ``training`` (default: the configured model and
    training) through the node with the test set in place of the
    validation set, so that the history holds test accuracy after every epoch
    (with its evaluation in the epoch's time); early stopping is off."""
    x_train, y_train, x_test = load_arrays(
        Path(arrays), ("x_train", "y_train", "x_test")
    )
    y_test = IdxDataset(filepath=f"{arrays}/../02_intermediate/{TEST_LABELS}").load()
    training = preset_training(preset, epochs, training)
    _, history = train_through_node(x_train, y_train, x_test, y_test, training)
    minutes = history["seconds"].cumsum() / 60
    return [
        {
            "epoch": int(epoch),
            "minutes": round(float(at), 2),
            "test_accuracy": round(float(accuracy), 4),
        }
        for epoch, at, accuracy in zip(
            history["epoch"], minutes, history["val_accuracy"]
        )
    ]


def inference_worker(model_file: str, arrays: str, way: str, calls: int) -> dict:
    """Latency of one image (p50, p99 over ``calls``) and throughput on the
    whole test set in batches of 256, for the service's way or ``model.predict``."""
    if way == "service":
        limit_tensorflow_threads()
    model = keras.models.load_model(model_file)
    (x_test,) = load_arrays(Path(arrays), ("x_test",))
    if way == "service":
        predictor = Predictor(model)
        predict = predictor.__call__
    else:

        def predict(images):
            return model.predict(images, batch_size=256, verbose=0)

    predict(x_test[:1])  # warm-up
    latencies = []
    for index in range(calls):
        started = time.perf_counter()
        predict(x_test[index : index + 1])
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for start in range(0, len(x_test), 256):
        predict(x_test[start : start + 256])
    seconds = time.perf_counter() - started
    return {
        "one_image_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "one_image_ms_p99": round(float(np.percentile(latencies, 99)), 2),
        "batch_images_per_second": round(len(x_test) / seconds),
    }


def ensemble_members_worker(project: str) -> dict:
    """The latest ``best`` run of ``project``: each member's training seconds
    (from its history) and the test accuracy of the average of its first k
    members, k = 1 … all."""
    data = Path(project) / "data"
    (x_test,) = load_arrays(data / "05_model_input", ("x_test",))
    y_test = IdxDataset(filepath=str(data / "02_intermediate" / TEST_LABELS)).load()
    probabilities, seconds = [], []
    for member in MEMBERS:
        name = member.removeprefix("ensemble.")
        model = keras.models.load_model(
            latest(data / "06_models/ensemble" / name / "mnist_cnn.keras")
        )
        probabilities.append(predict_in_batches(model, x_test))
        history = pd.read_csv(
            latest(data / "08_reporting/ensemble" / name / "training_history.csv")
        )
        seconds.append(round(float(history["seconds"].sum()), 1))
    averages = np.cumsum(probabilities, axis=0)  # the k-th: sum of the first k
    return {
        "training_seconds": seconds,
        "ensemble_test_accuracy": [
            round(float(np.mean(average.argmax(axis=1) == y_test)), 4)
            for average in averages
        ],
    }


def ensemble_selection_worker(
    project: str, budget_seconds: float, parallel: int
) -> dict:
    """Every ensemble made of the first k members of each preset among the
    members of ``project``'s latest ``best`` run (any number, any presets), with
    its validation and test accuracy, validation log loss and training time
    (the members' from their histories, ``parallel`` at a time, longest
    first); the one chosen is the most accurate on validation (then the lowest
    validation loss) among those whose training fits ``budget_seconds``."""
    data = Path(project) / "data"
    x_val, y_val, x_test = load_arrays(
        data / "05_model_input", ("x_val", "y_val", "x_test")
    )
    y_test = IdxDataset(filepath=str(data / "02_intermediate" / TEST_LABELS)).load()
    ensemble = yaml.safe_load(
        (Path(project) / "conf/base/parameters_ensemble.yml").read_text()
    )["ensemble"]
    by_preset: dict[str, list[dict]] = {}
    for name, section in ensemble.items():
        model = keras.models.load_model(
            latest(data / "06_models/ensemble" / name / "mnist_cnn.keras")
        )
        history = pd.read_csv(
            latest(data / "08_reporting/ensemble" / name / "training_history.csv")
        )
        by_preset.setdefault(section["changes"]["model"], []).append(
            {
                "val": predict_in_batches(model, x_val),
                "test": predict_in_batches(model, x_test),
                "seconds": float(history["seconds"].sum()),
            }
        )
    rows = []
    for counts in itertools.product(*(range(len(m) + 1) for m in by_preset.values())):
        chosen = [
            member
            for members, count in zip(by_preset.values(), counts)
            for member in members[:count]
        ]
        if not chosen:
            continue
        val = np.mean([member["val"] for member in chosen], axis=0)
        test = np.mean([member["test"] for member in chosen], axis=0)
        seconds = _wall_seconds([member["seconds"] for member in chosen], parallel)
        rows.append(
            {
                "members": dict(zip(by_preset, counts)),
                "val_accuracy": round(float(np.mean(val.argmax(1) == y_val)), 4),
                "val_log_loss": round(float(log_loss(y_val, val, labels=range(10))), 5),
                "test_accuracy": round(float(np.mean(test.argmax(1) == y_test)), 4),
                "training_minutes": round(seconds / 60, 1),
                "within_budget": seconds <= budget_seconds,
            }
        )
    rows.sort(key=lambda row: (-row["val_accuracy"], row["val_log_loss"]))
    top = rows[0]["val_accuracy"]
    return {
        "budget_minutes": round(budget_seconds / 60, 1),
        # What the validation set can tell apart: one binomial standard error
        # of the top accuracy (differences below it are noise).
        "val_accuracy_standard_error": round(
            float(np.sqrt(top * (1 - top) / len(y_val))), 5
        ),
        "chosen": next((row for row in rows if row["within_budget"]), None),
        "compositions": rows,
    }


def _wall_seconds(seconds: list[float], parallel: int) -> float:
    """The training's wall time with ``parallel`` members at a time, each
    worker taking the longest member left when it is free."""
    workers = [0.0] * parallel
    for member in sorted(seconds, reverse=True):
        workers[workers.index(min(workers))] += member
    return max(workers)


WORKERS = {
    "ensemble_members": ensemble_members_worker,
    "ensemble_selection": ensemble_selection_worker,
    "throughput": throughput_worker,
    "accuracy_curve": accuracy_curve_worker,
    "inference": inference_worker,
}


if __name__ == "__main__":
    task, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(WORKERS[task](**arguments)))  # noqa: T201
