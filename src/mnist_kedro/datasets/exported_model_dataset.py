"""``ExportedModelDataset``: a Keras model exported for another runtime."""

from __future__ import annotations

import tempfile
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from mnist_kedro.model.runtimes import PREDICTOR_OF_FORMAT

from .partial_files import move_into_place, partial_name

if TYPE_CHECKING:  # the dataset loads without TensorFlow (ONNX, LiteRT)
    import keras


class ExportedModelDataset(AbstractVersionedDataset):
    """Saves a Keras model with ``model.export`` in one ``format``:
    ``tf_saved_model`` (a folder for TF Serving, signature ``serve``),
    ``litert`` (a ``.tflite`` file) or ``onnx``; loads a predictor that runs
    the exported file with its own runtime (``mnist_kedro.model.runtimes``):
    images in, class probabilities out.

    The export is written under a hidden temporary name and renamed into
    place, so a format that cannot be produced leaves nothing behind.

    Example YAML::

        onnx_model:
          type: mnist_kedro.datasets.ExportedModelDataset
          filepath: data/06_models/exported/mnist_cnn.onnx
          format: onnx
          versioned: true
          load_args:
            threads: 1   # the runtime's threads; default: its own choice
    """

    def __init__(
        self,
        *,
        filepath: str,
        format: str,  # noqa: A002 (Keras' own name for it)
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if format not in PREDICTOR_OF_FORMAT:
            raise DatasetError(
                f"Unknown export format {format!r} for {filepath}: use one of "
                f"{', '.join(PREDICTOR_OF_FORMAT)}."
            )
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._format = format
        self._load_args = dict(load_args or {})
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def load(self) -> Any:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._protocol == "file":
            return self._predictor(path)
        with tempfile.TemporaryDirectory() as local:
            local_path = str(Path(local) / PurePosixPath(path).name)
            self._fs.get(path, local_path, recursive=True)
            return self._predictor(local_path)

    def save(self, data: keras.Model) -> None:
        target = self._get_save_path()
        partial = get_filepath_str(
            target.with_name(partial_name(target.name)), self._protocol
        )
        with tempfile.TemporaryDirectory() as local:
            exported = str(Path(local) / target.name)
            try:
                data.export(exported, format=self._format, verbose=False)
            except (ImportError, ValueError, RuntimeError) as error:
                raise DatasetError(
                    f"The model cannot be exported as {self._format} to "
                    f"{target}: {error}. Nothing was written. For onnx and "
                    'litert, install the export extra: pip install -e ".[export]".'
                ) from error
            self._fs.mkdirs(str(PurePosixPath(partial).parent), exist_ok=True)
            try:
                self._fs.put(exported, partial, recursive=True)
                move_into_place(
                    self._fs, partial, get_filepath_str(target, self._protocol)
                )
            except BaseException:
                if self._fs.exists(partial):
                    self._fs.rm(partial, recursive=True)
                raise

    def _predictor(self, path: str) -> Any:
        try:
            return PREDICTOR_OF_FORMAT[self._format](path, **self._load_args)
        except RuntimeError as error:
            raise DatasetError(f"{self._filepath}: {error}") from None

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "format": self._format,
            "load_args": deepcopy(self._load_args),
            "version": self._version,
        }

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)
