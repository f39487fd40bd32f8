"""The model to serve, loaded through the project's Data Catalog (or from
MLflow's model registry), behind one prediction call: images in, class
probabilities out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kedro.config import MissingConfigException
from kedro.framework.project import settings
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError

# What each runtime serves: the Keras model, or one of its exported formats
# (the export pipeline). The exported formats run without TensorFlow.
DATASET_OF_RUNTIME = {
    "tensorflow": "mnist_cnn",
    "onnx": "onnx_model",
    "litert": "litert_model",
}


class NoTrainedModelError(RuntimeError):
    """The catalog holds no trained model (or not the version asked for)."""


@dataclass(frozen=True)
class ServedModel:
    predict: Callable[[np.ndarray], np.ndarray]
    class_names: list[str]
    version: str
    runtime: str


def load_served_model(
    project_path: Path,
    version: str | None = None,
    runtime: str = "tensorflow",
    model_uri: str | None = None,
    env: str | None = None,
) -> ServedModel:
    """The latest trained model of the project (or ``version``) on ``runtime``,
    or the MLflow model ``model_uri`` (e.g. ``models:/mnist-cnn/3``, on
    TensorFlow), with the project's class names; from the configuration
    environment ``env`` (e.g. ``s3``), by default Kedro's."""
    bootstrap_project(project_path)
    if model_uri:
        # A session, so that kedro-mlflow's hook sets up the tracking store of
        # the project's mlflow.yml.
        with KedroSession.create(project_path=project_path, env=env) as session:
            class_names = list(session.load_context().params["class_names"])
            predict = _keras_predictor(_mlflow_model(model_uri))
        return ServedModel(predict, class_names, model_uri, "tensorflow")
    # The catalog as configured, built without a session, whose hooks would
    # import MLflow and set up tracking, which serving does not use. Paths in
    # the configuration are taken from the project folder.
    with contextlib.chdir(project_path):
        config = settings.CONFIG_LOADER_CLASS(
            conf_source=settings.CONF_SOURCE, env=env, **settings.CONFIG_LOADER_ARGS
        )
        try:
            credentials = config["credentials"]
        except MissingConfigException:  # none configured, as Kedro allows
            credentials = {}
        catalog = settings.DATA_CATALOG_CLASS.from_config(
            config["catalog"], credentials
        )
        name = DATASET_OF_RUNTIME[runtime]
        try:
            loaded = catalog.load(name, version=version)
        except DatasetError as error:
            raise NoTrainedModelError(
                f"No {name}{f' of version {version}' if version else ''} in "
                f"{project_path / 'data/06_models'}: run `kedro run` first "
                f"(or pick an existing version).\n{error}"
            ) from None
        return ServedModel(
            _keras_predictor(loaded) if runtime == "tensorflow" else loaded,
            list(config["parameters"]["class_names"]),
            version or catalog.get(name).resolve_load_version(),
            runtime,
        )


def _mlflow_model(model_uri: str):
    from mnist_kedro.datasets import MlflowKerasModelDataset  # noqa: PLC0415

    try:
        return MlflowKerasModelDataset(model_uri=model_uri).load()
    except DatasetError as error:
        raise NoTrainedModelError(
            f"No MLflow model {model_uri} in the tracking store of "
            f"conf/*/mlflow.yml or MLFLOW_TRACKING_URI.\n{error}"
        ) from None


def _keras_predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    # Only this runtime imports TensorFlow.
    from mnist_kedro.model.prediction import Predictor  # noqa: PLC0415

    return Predictor(model)
