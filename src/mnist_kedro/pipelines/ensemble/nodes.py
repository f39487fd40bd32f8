"""Nodes of the ensemble pipeline: the members' models and histories combined,
and each member's accuracy beside the ensemble's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnist_kedro.pipelines.node_types import KerasModel


def combine_members(*members: KerasModel) -> KerasModel:
    """One model averaging the members' class probabilities."""
    from mnist_kedro.model.network import ensemble

    return ensemble(list(members))


def average_histories(*histories: pd.DataFrame) -> pd.DataFrame:
    """The members' mean of every column at each epoch (loss, accuracies,
    learning rate, seconds), as the ensemble's training history."""
    return pd.concat(histories).groupby("epoch", as_index=False).mean()


def member_accuracies(
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    combined: KerasModel,
    *members: KerasModel,
) -> pd.DataFrame:
    """Validation and test accuracy of each member (``member_<n>``, in order)
    and of the ensemble."""
    models = {f"member_{number}": model for number, model in enumerate(members, 1)}
    models["ensemble"] = combined
    return pd.DataFrame(
        {
            "val_accuracy": [
                _accuracy(model, x_val, y_val) for model in models.values()
            ],
            "test_accuracy": [
                _accuracy(model, x_test, y_test) for model in models.values()
            ],
        },
        index=pd.Index(list(models), name="model"),
    )


def _accuracy(model: KerasModel, images: np.ndarray, labels: np.ndarray) -> float:
    from mnist_kedro.model.prediction import predict_in_batches

    return float(np.mean(predict_in_batches(model, images).argmax(axis=1) == labels))
