"""``MlflowKerasModelDataset``: a Keras model logged in MLflow and registered."""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

if TYPE_CHECKING:
    import keras

# MLflow (a few seconds to import) and Keras (TensorFlow) are imported on save
# or load only: every dataset class of this package is imported with it.

logger = logging.getLogger(__name__)

LOGGED_MODEL_NAME = "model"
# What the model needs to run, as installed: MLflow would otherwise infer it by
# loading the model in a subprocess, which took 20 s of each run.
REQUIREMENTS = ("tensorflow", "keras", "numpy")


class MlflowKerasModelDataset(AbstractDataset):
    """Logs a Keras model in the active MLflow run as a Logged Model of MLflow
    3 (``mlflow.keras.log_model``; kedro-mlflow's ``MlflowModelTrackingDataset``
    takes no signature made from the model): with the signature of its input
    and output tensors, the versions of TensorFlow, Keras and NumPy it runs
    with, and, given ``registered_model_name``, a new version of that model in
    MLflow's registry. No input example: ``log_model`` fails with one
    (mlflow#16183, open). Without an active run (tracking is off for the
    pipeline), nothing is logged. Loads ``model_uri`` (e.g.
    ``models:/mnist-cnn/3`` or ``models:/<model id>``), else the model saved
    last.

    Example YAML::

        mlflow_model:
          type: mnist_kedro.datasets.MlflowKerasModelDataset
          registered_model_name: mnist-cnn
    """

    def __init__(
        self,
        *,
        registered_model_name: str | None = None,
        model_uri: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._registered_model_name = registered_model_name
        self._model_uri = model_uri
        self.metadata = metadata

    def save(self, data: keras.Model) -> None:
        import mlflow  # noqa: PLC0415
        from mlflow import keras as mlflow_keras  # noqa: PLC0415
        from mlflow.models import ModelSignature  # noqa: PLC0415
        from mlflow.types import Schema, TensorSpec  # noqa: PLC0415

        if mlflow.active_run() is None:
            logger.info("No active MLflow run: the model is not logged in MLflow.")
            return
        image_shape = tuple(data.input_shape[1:])
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *image_shape))]),
            outputs=Schema(
                [TensorSpec(np.dtype(np.float32), (-1, data.output_shape[-1]))]
            ),
        )
        logged = mlflow_keras.log_model(
            data,
            name=LOGGED_MODEL_NAME,
            signature=signature,
            pip_requirements=[f"{name}=={version(name)}" for name in REQUIREMENTS],
            registered_model_name=self._registered_model_name,
        )
        self._model_uri = (
            f"models:/{self._registered_model_name}/{logged.registered_model_version}"
            if self._registered_model_name
            else logged.model_uri
        )

    def load(self) -> keras.Model:
        if self._model_uri is None:
            raise DatasetError(
                "No MLflow model to load: give model_uri (e.g. models:/mnist-cnn/3)."
            )
        from mlflow import keras as mlflow_keras  # noqa: PLC0415

        return mlflow_keras.load_model(self._model_uri)

    def _describe(self) -> dict[str, Any]:
        return {
            "registered_model_name": self._registered_model_name,
            "model_uri": self._model_uri,
        }
