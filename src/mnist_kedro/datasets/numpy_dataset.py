"""``NumpyDataset`` loads and saves a NumPy array as a ``.npy`` file."""

from __future__ import annotations

import math
from typing import IO, Any

import numpy as np
from kedro.io.core import DatasetError

from .array_checks import check_array
from .file_dataset import FileDataset


def check_npy_header(file: IO[bytes], path: str, size: int) -> None:
    """Reads the ``.npy`` header of ``file`` (of ``size`` bytes) and raises
    ``DatasetError`` naming ``path`` unless it is one, of plain data, followed
    by exactly the bytes it promises: a corrupt, truncated or hostile file fails
    before NumPy allocates what its header claims. Leaves ``file`` at its start.
    """
    advice = "Run the stage that writes it again."
    try:
        version = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(file)
    except ValueError as error:
        raise DatasetError(
            f"{path}: not a NumPy .npy file, or a corrupt one ({error}). {advice}"
        ) from None
    if dtype.hasobject:
        raise DatasetError(
            f"{path}: holds Python objects, which are never loaded (loading them "
            f"could run code). {advice}"
        )
    promised = math.prod(shape) * dtype.itemsize
    if size - file.tell() != promised:
        raise DatasetError(
            f"{path}: the header promises shape {shape} of {dtype} ({promised} "
            f"bytes of data) but {size - file.tell()} bytes follow it. {advice}"
        )
    file.seek(0)


class NumpyDataset(FileDataset[np.ndarray, np.ndarray]):
    """Loads and saves a NumPy array in NumPy's own ``.npy`` format.

    Pickled objects are refused both ways, so a ``.npy`` file can never run code.
    Optionally checks the shape, dtype and value range of what it loads and saves.

    Example usage for the `YAML API <https://docs.kedro.org/en/stable/catalog-data/data_catalog_yaml_examples/>`_:

    .. code-block:: yaml

        x_train:
          type: mnist_kedro.datasets.NumpyDataset
          filepath: data/05_model_input/x_train.npy
          shape: [null, 28, 28, 1]
          dtype: float32
          value_range: [0, 1]

    Example usage for the Python API:

    .. code-block:: pycon

        >>> import numpy as np
        >>> from mnist_kedro.datasets import NumpyDataset
        >>> dataset = NumpyDataset(filepath=tmp_path / "x.npy")
        >>> dataset.save(np.zeros((2, 28, 28, 1), dtype=np.float32))
        >>> dataset.load().shape
        (2, 28, 28, 1)
    """

    def __init__(
        self,
        *,
        filepath: str,
        shape: list[int | None] | None = None,
        dtype: str | None = None,
        value_range: list[float] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new ``NumpyDataset``.

        Args:
            filepath: Path of the ``.npy`` file, with an optional fsspec protocol prefix.
            shape: Expected shape; ``None`` (``null`` in YAML) for any size.
            dtype: Expected dtype, e.g. ``float32``.
            value_range: Lowest and highest value allowed.
            credentials: Credentials for the filesystem, passed to ``fsspec``.
            fs_args: Extra arguments for the ``fsspec`` filesystem.
            metadata: Any arbitrary metadata; ignored by Kedro, used by kedro-viz.
        """
        super().__init__(
            filepath=filepath,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )
        self._checks = {
            "shape": None if shape is None else tuple(shape),
            "dtype": dtype,
            "value_range": None if value_range is None else tuple(value_range),
        }

    def load(self) -> np.ndarray:
        path = self._load_path()
        with self._fs.open(path, "rb") as file:
            check_npy_header(file, path, self._fs.size(path))
            array = np.load(file, allow_pickle=False)
        check_array(array, path, **self._checks)
        return array

    def save(self, data: np.ndarray) -> None:
        check_array(data, self._load_path(), **self._checks)

        def write(partial: str) -> None:
            with self._fs.open(partial, "wb") as file:
                np.save(file, data, allow_pickle=False)

        self._save_atomically(write)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), **self._checks}
