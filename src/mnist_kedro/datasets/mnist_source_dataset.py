"""``MnistSourceDataset`` reads raw MNIST-format data from IDX files or TensorFlow Datasets."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from copy import deepcopy
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

from .idx_dataset import IdxDataset

logger = logging.getLogger(__name__)

SPLIT_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SOURCES = ("auto", "idx", "tfds")
TFDS_DOWNLOADS = "https://storage.googleapis.com/"  # where TFDS' datasets come from
_DEFAULT_TFDS = {"name": "mnist", "path": "data/01_raw/tfds", "download_timeout": 10}


class MnistSourceDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Reads the raw train and test sets of MNIST (or a dataset in the same format,
    such as Fashion-MNIST) from one of two sources; read-only.

    - ``idx``: a folder holding the four standard IDX files
      (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
      ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), each plain or
      gzipped, on any fsspec filesystem (a local path, ``s3://bucket/prefix``);
    - ``tfds``: a TensorFlow Datasets image dataset, downloaded once into
      ``tfds.path``. Without network it fails within ``tfds.download_timeout``
      seconds, where TFDS itself would retry for minutes;
    - ``auto``: the folder when it holds all four files, else TFDS.

    ``load`` returns a dict of uint8 arrays: ``train_images`` and ``test_images``
    (N×H×W), ``train_labels`` and ``test_labels`` (N).

    Example usage for the `YAML API <https://docs.kedro.org/en/stable/catalog-data/data_catalog_yaml_examples/>`_,
    with the source and folder overridable by ``kedro run --params``:

    .. code-block:: yaml

        mnist_source:
          type: mnist_kedro.datasets.MnistSourceDataset
          source: ${runtime_params:ingestion.source, auto}
          path: ${runtime_params:ingestion.idx_dir, data/01_raw/mnist}
          credentials: object_storage   # for a folder on object storage
          tfds:
            name: mnist
            path: data/01_raw/tfds
            download_timeout: 10

    Example usage for the Python API:

    .. code-block:: pycon

        >>> from mnist_kedro.datasets import MnistSourceDataset
        >>> raw = MnistSourceDataset(source="idx", path="../shared/data/mnist").load()
        >>> raw["train_images"].shape
        (60000, 28, 28)
    """

    def __init__(
        self,
        *,
        path: str,
        source: str = "auto",
        tfds: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new ``MnistSourceDataset``.

        Args:
            path: Folder of the four IDX files, with an optional fsspec
                protocol prefix.
            source: ``auto``, ``idx`` or ``tfds``.
            tfds: ``name`` of the TFDS dataset, ``path`` of its (local)
                download folder, ``download_timeout`` in seconds.
            credentials: Credentials for the folder's filesystem, passed to ``fsspec``.
            fs_args: Extra arguments for the folder's ``fsspec`` filesystem.
            metadata: Any arbitrary metadata; ignored by Kedro, used by kedro-viz.
        """
        if source not in SOURCES:
            raise DatasetError(
                f"ingestion.source is {source!r}; use one of {', '.join(SOURCES)}."
            )
        self._source = source
        self._idx_dir = str(path).rstrip("/")
        self._filesystem_args = {
            **deepcopy(credentials or {}),
            **deepcopy(fs_args or {}),
        }
        self._fs, self._idx_root = fsspec.core.url_to_fs(
            self._idx_dir, **self._filesystem_args
        )
        self._tfds = {**_DEFAULT_TFDS, **(tfds or {})}
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        if self.resolved_source() == "idx":
            return self._read_idx_folder()
        return self._read_tfds()

    def save(self, data: dict[str, np.ndarray]) -> None:
        raise DatasetError("MnistSourceDataset is read-only: it is the raw source.")

    def _exists(self) -> bool:
        if self._source != "tfds" and not self._missing_idx_files():
            return True
        return (
            self._source != "idx"
            and self._tfds_folder().is_dir()
            and self._tfds_builder().is_prepared()
        )

    def _describe(self) -> dict[str, Any]:
        return {"source": self._source, "path": self._idx_dir, "tfds": self._tfds}

    def stored_files(self) -> tuple[fsspec.AbstractFileSystem, list[str]]:
        """The filesystem and the files that a load would read: the four IDX
        files, or the TFDS dataset's folder."""
        if self.resolved_source() == "idx":
            return self._fs, [
                f"{self._idx_root}/{self._idx_name(stem)}"
                for stem in SPLIT_FILES.values()
            ]
        return fsspec.filesystem("file"), [str(self._tfds_folder())]

    def resolved_source(self) -> str:
        """``idx`` or ``tfds``: where ``load`` reads from."""
        if self._source != "auto":
            return self._source
        if not self._missing_idx_files():
            return "idx"
        logger.info(
            "Not all four IDX files are in %s, so the data come from TensorFlow Datasets.",
            self._idx_dir,
        )
        return "tfds"

    def _idx_name(self, stem: str) -> str | None:
        """The file's name in the folder, plain or gzipped, if there."""
        for name in (stem, f"{stem}.gz"):
            if self._fs.isfile(f"{self._idx_root}/{name}"):
                return name
        return None

    def _idx_file(self, stem: str) -> str | None:
        """The file's path (or URL) in the folder, if there."""
        name = self._idx_name(stem)
        return name and f"{self._idx_dir}/{name}"

    def _missing_idx_files(self) -> list[str]:
        return [stem for stem in SPLIT_FILES.values() if self._idx_file(stem) is None]

    def _read_idx_folder(self) -> dict[str, np.ndarray]:
        missing = self._missing_idx_files()
        if missing:
            raise DatasetError(
                f"{self._idx_dir} lacks {', '.join(missing)} (plain or .gz). "
                f"{_OFFLINE_ADVICE}"
            )
        return {
            split: IdxDataset(
                filepath=self._idx_file(stem),
                shape=[None, None, None] if "images" in split else [None],
                fs_args=self._filesystem_args,
            ).load()
            for split, stem in SPLIT_FILES.items()
        }

    def _tfds_folder(self) -> Path:
        """Where TFDS keeps the dataset once downloaded (``<name>/<version>``
        in its data folder), known without importing TFDS and TensorFlow."""
        return Path(self._tfds["path"], self._tfds["name"].split(":")[0])

    def _tfds_builder(self) -> Any:
        import tensorflow_datasets as tfds  # noqa: PLC0415 - slow import, only for TFDS

        return tfds.builder(self._tfds["name"], data_dir=self._tfds["path"])

    def _read_tfds(self) -> dict[str, np.ndarray]:
        if not self._tfds_folder().is_dir():  # before TFDS' slow import
            self._check_download_reachable(TFDS_DOWNLOADS)
        builder = self._tfds_builder()
        if not builder.is_prepared():
            builder.download_and_prepare()
        raw = {}
        for split in ("train", "test"):
            raw[f"{split}_images"], raw[f"{split}_labels"] = _read_tfds_split(
                builder, split
            )
        return raw

    def _check_download_reachable(self, url: str) -> None:
        try:
            # A fresh opener reads the proxy settings now; urlopen's shared one
            # keeps those of its first use for the life of the process.
            urllib.request.build_opener().open(
                urllib.request.Request(url, method="HEAD"),
                timeout=self._tfds["download_timeout"],
            ).close()
        except urllib.error.HTTPError:
            return  # the server answered, so the network is there
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"Cannot download {self._tfds['name']} from TensorFlow Datasets: "
                f"{url} is unreachable ({exc}). To run offline, put the four IDX files "
                f"in {self._idx_dir}. {_OFFLINE_ADVICE}"
            ) from exc


_OFFLINE_ADVICE = (
    f"The folder must hold {', '.join(SPLIT_FILES.values())} (each plain or .gz); "
    "point to another one with `kedro run --params ingestion.idx_dir=/path/to/folder`."
)


def _read_tfds_split(builder: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of a prepared TFDS builder as uint8 images N×H×W and uint8 labels."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 - slow import, only for TFDS

    batches = tfds.as_numpy(
        builder.as_dataset(split=split, as_supervised=True).batch(10_000)
    )
    images, labels = (np.concatenate(parts) for parts in zip(*batches))
    return images.reshape(images.shape[:3]).astype(np.uint8), labels.astype(np.uint8)
