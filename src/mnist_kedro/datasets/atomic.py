"""kedro-datasets' datasets, saving atomically, and logging what they save in
MLflow if asked.

Each writes its file under a hidden temporary name beside the target and then
renames it into place, so a run killed while saving never leaves a half-written
file where the catalog would load it: readers see the previous version or the
complete new one. Use them in the catalog like the originals, e.g.
``type: mnist_kedro.datasets.atomic.CSVDataset``.

With ``mlflow_artifact_path: reports``, each saved file is also an artifact of
the active MLflow run, in that folder of its artifacts. (kedro-mlflow's
``MlflowArtifactDataset`` does this for unversioned datasets only: a versioned
one inside it takes a save version of its own, which Kedro 1.7's catalog
refuses.)
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.tensorflow import TensorFlowModelDataset as _TensorFlowModelDataset

from .partial_files import log_artifact, move_into_place, partial_name


def _atomic(dataset_class: type) -> type:
    # The original save without Kedro's wrapper: this class's save is wrapped once.
    write = getattr(dataset_class.save, "__wrapped__", dataset_class.save)

    class AtomicDataset(dataset_class):
        _partial_name: str | None = None  # while the original save writes

        def __init__(self, *, mlflow_artifact_path: str | None = None, **kwargs):
            super().__init__(**kwargs)
            self._mlflow_artifact_path = mlflow_artifact_path

        def _get_save_path(self) -> PurePosixPath:
            path = super()._get_save_path()
            return path.with_name(self._partial_name) if self._partial_name else path

        def save(self, data: Any) -> None:
            target = self._get_save_path()
            self._partial_name = partial_name(target.name)
            partial = get_filepath_str(self._get_save_path(), self._protocol)
            try:
                write(self, data)
            except BaseException:
                if self._fs.exists(partial):
                    self._fs.rm(partial)
                raise
            finally:
                self._partial_name = None
            saved = get_filepath_str(target, self._protocol)
            move_into_place(self._fs, partial, saved)
            if self._mlflow_artifact_path is not None:
                log_artifact(self._fs, saved, self._mlflow_artifact_path)

    AtomicDataset.__name__ = AtomicDataset.__qualname__ = dataset_class.__name__
    AtomicDataset.__doc__ = (
        f"``{dataset_class.__name__}`` of kedro-datasets, saving atomically.\n\n"
        + (dataset_class.__doc__ or "")
    )
    return AtomicDataset


CSVDataset = _atomic(_CSVDataset)
JSONDataset = _atomic(_JSONDataset)
MatplotlibDataset = _atomic(_MatplotlibDataset)
TensorFlowModelDataset = _atomic(_TensorFlowModelDataset)
