"""``KerasModelDataset``: a Keras model in Keras' own ``.keras`` format."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .file_dataset import FileDataset

if TYPE_CHECKING:
    import keras


class KerasModelDataset(FileDataset[Any, Any]):
    """Loads and saves a Keras model as one ``.keras`` file (Keras'
    ``model.save`` and ``keras.saving.load_model``), on any fsspec filesystem,
    optionally versioned, saved atomically.

    Unlike kedro-datasets' ``TensorFlowModelDataset``, it imports TensorFlow on
    load or save only, not with its module: a run whose nodes never touch the
    model never imports TensorFlow.

    Example YAML::

        mnist_cnn:
          type: mnist_kedro.datasets.KerasModelDataset
          filepath: data/06_models/mnist_cnn.keras
          versioned: true
    """

    def load(self) -> keras.Model:
        import keras  # noqa: PLC0415 (only where a model is loaded)

        path = self._load_path()
        if self._protocol == "file":
            return keras.saving.load_model(path)
        with tempfile.TemporaryDirectory() as local:
            local_path = str(Path(local) / self._filepath.name)
            self._fs.get(path, local_path)
            return keras.saving.load_model(local_path)

    def save(self, data: keras.Model) -> None:
        with tempfile.TemporaryDirectory() as local:
            local_path = str(Path(local) / self._filepath.name)
            data.save(local_path)
            self._save_atomically(lambda partial: self._fs.put(local_path, partial))
