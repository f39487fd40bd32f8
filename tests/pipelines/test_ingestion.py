import gzip
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from kedro.io import DatasetError

from mnist_kedro.pipelines.ingestion.nodes import (
    SourceUnavailableError,
    check_raw_splits,
    choose_source,
    ingest_raw_data,
)

CLASS_NAMES = [str(digit) for digit in range(10)]


def ingestion_params(source, idx_dir, tfds_dir="unused", timeout=10):
    return {
        "source": source,
        "idx_dir": str(idx_dir),
        "tfds": {
            "name": "mnist",
            "data_dir": str(tfds_dir),
            "download_timeout": timeout,
        },
    }


@pytest.fixture
def prepared_tfds_dir(tmp_path):
    """A TFDS data folder holding MNIST's metadata, as after a first download;
    ``tfds.testing.mock_data`` then serves random examples instead of records."""
    builder = tfds.builder("mnist", data_dir=str(tmp_path / "tfds"))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)
    return tmp_path / "tfds"


@pytest.fixture
def no_network(monkeypatch):
    """Cuts this process off the internet: every HTTP(S) request goes through a
    proxy address on which nothing listens, so connections are refused."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_reads_a_folder_of_gzipped_idx_files(synthetic_idx_dir):
    train_images, train_labels, test_images, test_labels = ingest_raw_data(
        ingestion_params("idx", synthetic_idx_dir), CLASS_NAMES
    )

    assert train_images.shape == (300, 28, 28)
    assert test_images.shape == (100, 28, 28)
    assert train_images.dtype == test_images.dtype == np.uint8
    assert train_labels.dtype == test_labels.dtype == np.uint8
    assert set(train_labels) == set(range(10))


def test_reads_uncompressed_idx_files_too(synthetic_idx_dir):
    for path in synthetic_idx_dir.glob("*.gz"):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()

    train_images, *_ = ingest_raw_data(
        ingestion_params("idx", synthetic_idx_dir), CLASS_NAMES
    )

    assert train_images.shape == (300, 28, 28)


def test_reads_the_real_mnist_folder(mnist_idx_dir):
    train_images, train_labels, test_images, test_labels = ingest_raw_data(
        ingestion_params("auto", mnist_idx_dir), CLASS_NAMES
    )

    assert train_images.shape == (60_000, 28, 28)
    assert test_images.shape == (10_000, 28, 28)
    assert train_labels.max() == 9
    assert 30 < train_images.mean() < 40  # MNIST's mean pixel is about 33


def test_auto_prefers_a_complete_idx_folder(synthetic_idx_dir, tmp_path):
    assert choose_source("auto", synthetic_idx_dir) == "idx"
    (synthetic_idx_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    assert choose_source("auto", synthetic_idx_dir) == "tfds"
    assert choose_source("auto", tmp_path / "does-not-exist") == "tfds"
    assert choose_source("tfds", synthetic_idx_dir) == "tfds"


def test_unknown_source_is_refused():
    with pytest.raises(
        ValueError, match=r"ingestion.source is 'kaggle'; use one of auto, idx, tfds"
    ):
        choose_source("kaggle", "data/01_raw/mnist")


def test_idx_source_names_the_missing_files_and_the_parameter(synthetic_idx_dir):
    (synthetic_idx_dir / "train-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(SourceUnavailableError) as error:
        ingest_raw_data(ingestion_params("idx", synthetic_idx_dir), CLASS_NAMES)

    assert "lacks train-labels-idx1-ubyte" in str(error.value)
    assert "--params ingestion.idx_dir=" in str(error.value)


def test_corrupt_file_in_the_folder_is_named(synthetic_idx_dir):
    path = synthetic_idx_dir / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(
        DatasetError, match="t10k-images-idx3-ubyte.gz: the gzip stream is truncated"
    ):
        ingest_raw_data(ingestion_params("idx", synthetic_idx_dir), CLASS_NAMES)


def test_labels_beyond_the_configured_classes_are_refused(synthetic_idx_dir):
    with pytest.raises(
        DatasetError, match=r"labels range from 0 to 9, but there are 5 classes"
    ):
        ingest_raw_data(ingestion_params("idx", synthetic_idx_dir), CLASS_NAMES[:5])


def test_image_and_label_counts_must_match():
    images = np.zeros((4, 28, 28), np.uint8)
    labels = np.zeros(4, np.uint8)

    with pytest.raises(ValueError, match="The test set has 4 images but 3 labels"):
        check_raw_splits(images, labels, images, labels[:3], num_classes=10)
    with pytest.raises(
        ValueError, match=r"Train images are \(28, 28\) but test images are \(32, 32\)"
    ):
        check_raw_splits(
            images, labels, np.zeros((4, 32, 32), np.uint8), labels, num_classes=10
        )
    with pytest.raises(
        ValueError, match="The train labels go up to 7 but only 5 class names"
    ):
        check_raw_splits(images, labels + 7, images, labels, num_classes=5)


def test_tfds_source_reads_prepared_data(prepared_tfds_dir, tmp_path):
    with tfds.testing.mock_data(num_examples=12, data_dir=str(prepared_tfds_dir)):
        train_images, train_labels, test_images, test_labels = ingest_raw_data(
            ingestion_params("auto", tmp_path / "no-idx-here", prepared_tfds_dir),
            CLASS_NAMES,
        )

    assert train_images.shape == test_images.shape == (12, 28, 28)
    assert train_images.dtype == np.uint8
    assert train_labels.dtype == np.uint8
    assert train_labels.max() < 10


def test_tfds_without_network_fails_fast_and_says_what_to_do(no_network, tmp_path):
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as error:
        ingest_raw_data(
            ingestion_params("tfds", tmp_path / "mnist-idx", tmp_path / "tfds"),
            CLASS_NAMES,
        )
    elapsed = time.monotonic() - started

    # TFDS on its own retries for minutes; the issue allows 20 s.
    assert elapsed < 20
    message = str(error.value)
    assert "Cannot download MNIST from TensorFlow Datasets" in message
    assert f"in {tmp_path / 'mnist-idx'}" in message
    assert "--params ingestion.idx_dir=/path/to/folder" in message
    assert not (tmp_path / "tfds" / "downloads").exists()
