"""``ExportedModelDataset``: a Keras model exported for another runtime."""

from __future__ import annotations

import tempfile
import warnings
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io.core import DatasetError, Version

from mnist_kedro.model.runtimes import EXTRA_HINT, PREDICTOR_OF_FORMAT

from .file_dataset import FileDataset

if TYPE_CHECKING:  # the dataset loads without TensorFlow (ONNX, LiteRT)
    import keras


class ExportedModelDataset(FileDataset[Any, Any]):
    """Saves a Keras model with ``model.export`` in one ``format``:
    ``tf_saved_model`` (a folder for TF Serving, signature ``serve``),
    ``litert`` (a ``.tflite`` file) or ``onnx``; loads a predictor that runs
    the exported file with its own runtime (``mnist_kedro.model.runtimes``):
    images in, class probabilities out. A format that cannot be produced
    leaves nothing behind.

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
        super().__init__(
            filepath=filepath,
            version=version,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )
        self._format = format
        self._load_args = dict(load_args or {})

    def load(self) -> Any:
        path = self._load_path()
        if self._protocol == "file":
            return self._predictor(path)
        with tempfile.TemporaryDirectory() as local:
            local_path = str(Path(local) / PurePosixPath(path).name)
            self._fs.get(path, local_path, recursive=True)
            return self._predictor(local_path)

    def save(self, data: keras.Model) -> None:
        with tempfile.TemporaryDirectory() as local:
            exported = str(Path(local) / self._filepath.name)
            try:
                with warnings.catch_warnings():
                    # Keras' ONNX export touches np.object, which NumPy 2 warns
                    # about; nothing here can act on it.
                    warnings.filterwarnings(
                        "ignore", message="In the future `np.object`"
                    )
                    data.export(exported, format=self._format, verbose=False)
            except (ImportError, ValueError, RuntimeError) as error:
                raise DatasetError(
                    f"The model cannot be exported as {self._format} to "
                    f"{self._filepath}: {error}. Nothing was written. For onnx "
                    f"and litert, {EXTRA_HINT}."
                ) from error
            self._save_atomically(
                lambda partial: self._fs.put(exported, partial, recursive=True)
            )

    def _predictor(self, path: str) -> Any:
        try:
            return PREDICTOR_OF_FORMAT[self._format](path, **self._load_args)
        except RuntimeError as error:
            raise DatasetError(f"{self._filepath}: {error}") from None

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "format": self._format,
            "load_args": deepcopy(self._load_args),
        }
