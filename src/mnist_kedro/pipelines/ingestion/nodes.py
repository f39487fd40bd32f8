"""Nodes of the ingestion pipeline: read the raw train and test sets from a source."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from mnist_kedro.datasets.idx_dataset import IdxDataset

logger = logging.getLogger(__name__)

IDX_FILE_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SOURCES = ("auto", "idx", "tfds")

RawSplits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class SourceUnavailableError(RuntimeError):
    """The configured source of raw data cannot be read."""


def ingest_raw_data(ingestion: dict[str, Any], class_names: list[str]) -> RawSplits:
    """Reads train images, train labels, test images and test labels from the
    source chosen in ``ingestion`` and checks that they fit together."""
    source = choose_source(ingestion["source"], Path(ingestion["idx_dir"]))
    if source == "idx":
        splits = read_idx_folder(Path(ingestion["idx_dir"]), len(class_names))
    else:
        splits = read_tfds(ingestion["tfds"], ingestion["idx_dir"])
    check_raw_splits(*splits, num_classes=len(class_names))
    train_images, _, test_images, _ = splits
    logger.info(
        "Ingested %d training and %d test images of %dx%d from %s.",
        len(train_images),
        len(test_images),
        *train_images.shape[1:],
        source,
    )
    return splits


def choose_source(source: str, idx_dir: Path) -> str:
    """Resolves ``auto`` to ``idx`` when all four IDX files are in ``idx_dir``,
    else to ``tfds``."""
    if source not in SOURCES:
        raise ValueError(
            f"ingestion.source is {source!r}; use one of {', '.join(SOURCES)}."
        )
    if source != "auto":
        return source
    if not find_missing_idx_files(idx_dir):
        return "idx"
    logger.info(
        "Not all four IDX files are in %s, so MNIST comes from TensorFlow Datasets.",
        idx_dir,
    )
    return "tfds"


def find_idx_file(idx_dir: Path, stem: str) -> Path | None:
    """The IDX file named ``stem``, plain or gzipped, if ``idx_dir`` holds it."""
    for name in (stem, f"{stem}.gz"):
        if (idx_dir / name).is_file():
            return idx_dir / name
    return None


def find_missing_idx_files(idx_dir: Path) -> list[str]:
    return [stem for stem in IDX_FILE_STEMS if find_idx_file(idx_dir, stem) is None]


def read_idx_folder(idx_dir: Path, num_classes: int) -> RawSplits:
    """Reads the four standard IDX files (each plain or gzipped) from ``idx_dir``."""
    missing = find_missing_idx_files(idx_dir)
    if missing:
        raise SourceUnavailableError(
            f"{idx_dir} lacks {', '.join(missing)} (plain or .gz). Put the four "
            "MNIST IDX files there, or point to the folder that holds them with "
            "`kedro run --params ingestion.idx_dir=/path/to/folder`."
        )
    image_shape, label_shape = [None, None, None], [None]
    datasets = [
        IdxDataset(
            filepath=str(find_idx_file(idx_dir, stem)),
            shape=image_shape if "images" in stem else label_shape,
            num_classes=None if "images" in stem else num_classes,
        )
        for stem in IDX_FILE_STEMS
    ]
    return tuple(dataset.load() for dataset in datasets)


def read_tfds(tfds_params: dict[str, Any], idx_dir: str) -> RawSplits:
    """Reads the train and test splits of a TensorFlow Datasets image dataset,
    downloading it into ``tfds_params["data_dir"]`` the first time."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 - slow import, only for this source

    builder = tfds.builder(tfds_params["name"], data_dir=tfds_params["data_dir"])
    if not builder.is_prepared():
        check_download_reachable(
            getattr(builder, "URL", "https://storage.googleapis.com/"),
            tfds_params["download_timeout"],
            idx_dir,
        )
        builder.download_and_prepare()
    train_images, train_labels = read_tfds_split(builder, "train")
    test_images, test_labels = read_tfds_split(builder, "test")
    return train_images, train_labels, test_images, test_labels


def read_tfds_split(builder: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of a prepared TFDS builder as uint8 images N×H×W and uint8 labels."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 - slow import, only for this source

    batches = tfds.as_numpy(
        builder.as_dataset(split=split, as_supervised=True).batch(10_000)
    )
    images, labels = zip(*batches)
    images = np.concatenate(images)
    return images.reshape(images.shape[:3]).astype(np.uint8), np.concatenate(
        labels
    ).astype(np.uint8)


def check_download_reachable(url: str, timeout: float, idx_dir: str) -> None:
    """Fails within ``timeout`` seconds if ``url`` cannot be reached, because
    TFDS itself retries for minutes before giving up."""
    try:
        urllib.request.urlopen(  # noqa: S310 - the URL is the TFDS builder's own
            urllib.request.Request(url, method="HEAD"), timeout=timeout
        ).close()
    except urllib.error.HTTPError:
        return  # the server answered, so the network is there
    except (OSError, ValueError) as exc:
        raise SourceUnavailableError(
            f"Cannot download MNIST from TensorFlow Datasets: {url} is unreachable "
            f"({exc}). To run offline, put the four IDX files ({', '.join(IDX_FILE_STEMS)}, "
            f"plain or .gz) in {idx_dir}, or pass the folder that holds them with "
            "`kedro run --params ingestion.idx_dir=/path/to/folder`."
        ) from exc


def check_raw_splits(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
) -> None:
    """Raises ``ValueError`` unless images and labels pair up and share one image size."""
    for split, images, labels in (
        ("train", train_images, train_labels),
        ("test", test_images, test_labels),
    ):
        if len(images) != len(labels):
            raise ValueError(
                f"The {split} set has {len(images)} images but {len(labels)} labels; "
                "the image and label files do not belong together."
            )
        if labels.size and labels.max() >= num_classes:
            raise ValueError(
                f"The {split} labels go up to {labels.max()} but only {num_classes} "
                "class names are configured (class_names in conf/base/parameters.yml)."
            )
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"Train images are {train_images.shape[1:]} but test images are "
            f"{test_images.shape[1:]}; both must have the same size."
        )
