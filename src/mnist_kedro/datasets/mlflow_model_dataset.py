"""``MlflowKerasModelDataset``: a Keras model logged in MLflow and registered."""

from __future__ import annotations

import logging
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

if TYPE_CHECKING:
    import keras

# MLflow (a few seconds to import) and Keras (TensorFlow) are imported on save
# or load only: every dataset class of this package is imported with it.

logger = logging.getLogger(__name__)

ARTIFACT_PATH = "model"  # in the run's artifacts


class MlflowKerasModelDataset(AbstractDataset):
    """Logs a Keras model in the active MLflow run, in the ``mlflow.keras``
    flavour, under the run's artifacts ``model/`` (kedro-mlflow's
    ``MlflowModelTrackingDataset`` takes no signature made from the model): with
    the signature of its input and output tensors, an input example (one blank
    image) and, given ``registered_model_name``, a new version of that model in
    MLflow's registry. Without an active run (tracking is off for the
    pipeline), nothing is logged. Loads ``model_uri`` (e.g.
    ``models:/mnist-cnn/3`` or ``runs:/<run id>/model``), else the model saved
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
        # mlflow.keras.log_model fails with an input example (mlflow#16183, open):
        # it writes the example before it makes the model's folder. save_model
        # into a folder that exists does not, and the folder is then logged.
        with tempfile.TemporaryDirectory() as folder:
            mlflow_keras.save_model(
                data,
                folder,
                signature=signature,
                input_example=np.zeros((1, *image_shape), np.float32),
            )
            mlflow.log_artifacts(folder, ARTIFACT_PATH)
        self._model_uri = f"runs:/{mlflow.active_run().info.run_id}/{ARTIFACT_PATH}"
        if self._registered_model_name:
            version = mlflow.register_model(
                self._model_uri, self._registered_model_name
            ).version
            self._model_uri = f"models:/{self._registered_model_name}/{version}"

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
