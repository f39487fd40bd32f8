"""kedro-datasets' datasets, saving atomically.

Each writes its file under a hidden temporary name beside the target and then
renames it into place, so a run killed while saving never leaves a half-written
file where the catalog would load it: readers see the previous version or the
complete new one. Use them in the catalog like the originals, e.g.
``type: mnist_kedro.datasets.atomic.CSVDataset``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.tensorflow import TensorFlowModelDataset as _TensorFlowModelDataset

from .partial_files import partial_name


def _atomic(dataset_class: type) -> type:
    # The original save without Kedro's wrapper: this class's save is wrapped once.
    write = getattr(dataset_class.save, "__wrapped__", dataset_class.save)

    class AtomicDataset(dataset_class):
        _partial_name: str | None = None  # while the original save writes

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
            self._fs.mv(partial, get_filepath_str(target, self._protocol))

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
