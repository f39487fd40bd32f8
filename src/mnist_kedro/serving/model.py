"""The trained model, loaded through the project's Data Catalog, behind a
compiled prediction call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError

MODEL_DATASET = "mnist_cnn"


class NoTrainedModelError(RuntimeError):
    """The catalog holds no trained model (or not the version asked for)."""


@dataclass(frozen=True)
class ServedModel:
    model: keras.Model
    class_names: list[str]
    version: str


def load_served_model(project_path: Path, version: str | None = None) -> ServedModel:
    """The latest trained model of the project (or ``version``), its class names
    and its version, read through the project's Data Catalog."""
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path) as session:
        context = session.load_context()
        # The public catalog always loads the latest version; the session uses
        # this same call for `kedro run --load-versions`.
        catalog = context._get_catalog(  # noqa: SLF001
            load_versions={MODEL_DATASET: version} if version else None
        )
        dataset = catalog.get(MODEL_DATASET)
        try:
            model = catalog.load(MODEL_DATASET)
        except DatasetError as error:
            raise NoTrainedModelError(
                f"No trained model{f' of version {version}' if version else ''} in "
                f"{project_path / 'data/06_models'}: run `kedro run` first "
                f"(or pick an existing version).\n{error}"
            ) from None
        return ServedModel(
            model=model,
            class_names=list(context.params["class_names"]),
            version=dataset.resolve_load_version() or "unversioned",
        )
