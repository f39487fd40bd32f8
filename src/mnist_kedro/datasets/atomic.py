"""kedro-datasets' file datasets, saving atomically (``save_atomically``).

Use them in the catalog like the originals, e.g.
``type: mnist_kedro.datasets.atomic.CSVDataset``: they load, describe and
preview as kedro-datasets does; a save writes through a copy of the original
dataset that points at the hidden temporary file, then renames that file into
place.
"""

from __future__ import annotations

import importlib
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import get_protocol_and_path

from .file_dataset import AtomicSaves

# Where each original is; a class is made on first use, so that a run imports
# only the libraries of the datasets that it uses (kedro-datasets' Matplotlib
# dataset imports pyplot, which an evaluation task on Airflow may not need).
ORIGINAL_MODULES = {
    "CSVDataset": "kedro_datasets.pandas",
    "JSONDataset": "kedro_datasets.json",
    "MatplotlibDataset": "kedro_datasets.matplotlib",
}


def _atomic(dataset_class: type) -> type:
    class AtomicDataset(AtomicSaves, dataset_class):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._arguments = kwargs
            _, path = get_protocol_and_path(str(kwargs["filepath"]))
            self._target = PurePosixPath(path)

        def save(self, data: Any) -> None:
            def write(partial: str) -> None:
                # get_filepath_str leaves the protocol out, but for HTTP.
                url = (
                    partial
                    if self._protocol == "file"
                    else f"{self._protocol}://{partial}"
                )
                writer = dataset_class(
                    **{**self._arguments, "filepath": url, "version": None}
                )
                writer.save(data)

            self._save_atomically(write)

    AtomicDataset.__name__ = AtomicDataset.__qualname__ = dataset_class.__name__
    AtomicDataset.__doc__ = (
        f"``{dataset_class.__name__}`` of kedro-datasets, saving atomically.\n\n"
        + (dataset_class.__doc__ or "")
    )
    return AtomicDataset


def __getattr__(name: str) -> type:
    if name not in ORIGINAL_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    original = getattr(importlib.import_module(ORIGINAL_MODULES[name]), name)
    globals()[name] = atomic_class = _atomic(original)
    return atomic_class
