"""``IdxDataset`` loads and saves NumPy arrays in the IDX format of the MNIST files."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from typing import IO, Any

import numpy as np
from kedro.io.core import DatasetError

from .array_checks import check_array, check_shape
from .file_dataset import FileDataset

# IDX type codes (third byte of the magic number); multi-byte values are big-endian.
_DTYPE_BY_CODE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_BY_KIND = {
    (dtype.kind, dtype.itemsize): code for code, dtype in _DTYPE_BY_CODE.items()
}
_GZIP_MAGIC = b"\x1f\x8b"
_READ_CHUNK_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 1 << 31  # 2 GiB; MNIST's largest file holds 47 MB


class IdxDataset(FileDataset[np.ndarray, np.ndarray]):
    """Loads and saves a NumPy array as an IDX file, plain or gzipped.

    On load it checks the magic number, the dimensions and the byte count, and
    optionally the shape and, for label files, that every label is a valid class
    index. Whether a file is gzipped is told by its content, not its name; on
    save, a name ending in ``.gz`` is gzipped.

    Example usage for the `YAML API <https://docs.kedro.org/en/stable/catalog-data/data_catalog_yaml_examples/>`_:

    .. code-block:: yaml

        train_images:
          type: mnist_kedro.datasets.IdxDataset
          filepath: data/02_intermediate/train-images-idx3-ubyte
          shape: [null, 28, 28]

        train_labels:
          type: mnist_kedro.datasets.IdxDataset
          filepath: data/02_intermediate/train-labels-idx1-ubyte.gz
          shape: [null]
          num_classes: 10

    Example usage for the Python API:

    .. code-block:: pycon

        >>> import numpy as np
        >>> from mnist_kedro.datasets import IdxDataset
        >>> labels = np.array([5, 0, 4], dtype=np.uint8)
        >>> dataset = IdxDataset(filepath=tmp_path / "labels-idx1-ubyte.gz", num_classes=10)
        >>> dataset.save(labels)
        >>> assert (dataset.load() == labels).all()
    """

    def __init__(
        self,
        *,
        filepath: str,
        shape: list[int | None] | None = None,
        num_classes: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new ``IdxDataset``.

        Args:
            filepath: Path of the IDX file, with an optional fsspec protocol prefix.
            shape: Expected shape; ``None`` (``null`` in YAML) for any length.
            num_classes: If given, every value must lie in ``0 .. num_classes - 1``.
            max_bytes: The most data a file's header may promise; a larger
                promise fails before anything is read (default 2 GiB).
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
        self._shape = None if shape is None else tuple(shape)
        self._num_classes = num_classes
        self._max_bytes = max_bytes

    def load(self) -> np.ndarray:
        path = self._load_path()
        if not self._fs.exists(path):
            raise DatasetError(f"IDX file not found: {path}")
        with self._fs.open(path, "rb") as file:
            array = read_idx(file, path, self._shape, self._max_bytes)
        self._validate(array, path)
        return array

    def save(self, data: np.ndarray) -> None:
        path = self._load_path()  # unversioned: where it saves
        self._validate(data, path)
        content = to_idx_bytes(data)
        if path.endswith(".gz"):
            content = gzip.compress(content, mtime=0)
        self._save_atomically(lambda partial: self._fs.pipe_file(partial, content))

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "shape": self._shape,
            "num_classes": self._num_classes,
        }

    def _validate(self, array: np.ndarray, path: str) -> None:
        check_array(array, path, shape=self._shape)
        if self._num_classes is not None and array.size:
            low, high = array.min(), array.max()
            if low < 0 or high >= self._num_classes:
                raise DatasetError(
                    f"{path}: labels range from {low} to {high}, but there are "
                    f"{self._num_classes} classes (labels 0 to {self._num_classes - 1}). "
                    "Check the file, or the class names in conf/base/parameters.yml."
                )


def read_idx(
    file: IO[bytes],
    source: str,
    shape: tuple[int | None, ...] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """Reads an IDX file (plain or gzipped) into an array in native byte order.

    The header is checked against ``shape`` and ``max_bytes`` before any data
    are read, and the data are read as a stream, never beyond what the header
    promises (plus one byte, to tell trailing data): a decompression bomb fails
    as fast, and in as little memory, as a file of the promised size loads.
    """
    gzipped = file.read(2) == _GZIP_MAGIC
    file.seek(0)
    if gzipped:
        file = gzip.GzipFile(fileobj=file, mode="rb")
    try:
        return _read_idx_content(file, source, shape, max_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{source}: the gzip stream is truncated or corrupt ({exc}). "
            "Download the file again."
        ) from exc


def _read_idx_content(
    file: IO[bytes],
    source: str,
    expected_shape: tuple[int | None, ...] | None,
    max_bytes: int,
) -> np.ndarray:
    magic = file.read(4)
    if len(magic) < 4:  # noqa: PLR2004
        raise DatasetError(
            f"{source}: only {len(magic)} bytes, too short for an IDX header."
        )
    zeros, type_code, ndim = magic[:2], magic[2], magic[3]
    if zeros != b"\0\0" or type_code not in _DTYPE_BY_CODE or ndim == 0:
        raise DatasetError(
            f"{source}: bad magic number 0x{int.from_bytes(magic, 'big'):08X}, "
            "this is not an IDX file (MNIST images start with 0x00000803, labels "
            "with 0x00000801)."
        )
    dimensions = file.read(4 * ndim)
    if len(dimensions) < 4 * ndim:
        raise DatasetError(
            f"{source}: the header is truncated ({4 + len(dimensions)} bytes, "
            f"{4 + 4 * ndim} needed for {ndim} dimensions)."
        )
    shape = struct.unpack(f">{ndim}I", dimensions)
    dtype = _DTYPE_BY_CODE[type_code]
    if expected_shape is not None:
        check_shape(shape, source, expected_shape)
    expected_bytes = math.prod(shape) * dtype.itemsize
    if expected_bytes > max_bytes:
        raise DatasetError(
            f"{source}: the header promises shape {shape}, {expected_bytes} bytes "
            f"of data, over the limit of {max_bytes} bytes. If the file is "
            "genuine, raise the dataset's max_bytes in the catalog."
        )
    data = bytearray()
    while len(data) <= expected_bytes:
        chunk = file.read(min(_READ_CHUNK_BYTES, expected_bytes + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) != expected_bytes:
        problem = (
            f"truncated: only {len(data)} bytes follow it"
            if len(data) < expected_bytes
            else "followed by trailing bytes"
        )
        raise DatasetError(
            f"{source}: the header promises shape {shape} ({expected_bytes} bytes "
            f"of data) but the file is {problem}. Download the file again."
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def to_idx_bytes(array: np.ndarray) -> bytes:
    """Serialises an array as IDX bytes (big-endian, as the format requires)."""
    array = np.asarray(array)
    type_code = _CODE_BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if type_code is None or array.ndim == 0:
        raise DatasetError(
            f"IDX cannot store a {array.ndim}-dimensional array of {array.dtype}; "
            "it holds arrays of uint8, int8, int16, int32, float32 or float64."
        )
    header = struct.pack(
        f">BBBB{array.ndim}I", 0, 0, type_code, array.ndim, *array.shape
    )
    return header + array.astype(_DTYPE_BY_CODE[type_code], copy=False).tobytes()
