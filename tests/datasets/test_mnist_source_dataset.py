import gzip
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from kedro.io import DatasetError

from mnist_kedro.datasets import MnistSourceDataset


def source_dataset(source, idx_dir, tfds_dir="unused", timeout=10):
    return MnistSourceDataset(
        source=source,
        path=str(idx_dir),
        tfds={"name": "mnist", "path": str(tfds_dir), "download_timeout": timeout},
    )


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
    raw = source_dataset("idx", synthetic_idx_dir).load()

    assert raw["train_images"].shape == (300, 28, 28)
    assert raw["test_images"].shape == (100, 28, 28)
    assert raw["train_labels"].shape == (300,)
    assert all(array.dtype == np.uint8 for array in raw.values())
    assert set(raw["train_labels"]) == set(range(10))


def test_reads_uncompressed_idx_files_too(synthetic_idx_dir):
    for path in synthetic_idx_dir.glob("*.gz"):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()

    assert source_dataset("idx", synthetic_idx_dir).load()["train_images"].shape == (
        300,
        28,
        28,
    )


def test_reads_the_real_mnist_folder(mnist_idx_dir):
    raw = source_dataset("auto", mnist_idx_dir).load()

    assert raw["train_images"].shape == (60_000, 28, 28)
    assert raw["test_images"].shape == (10_000, 28, 28)
    assert raw["train_labels"].max() == 9
    assert 30 < raw["train_images"].mean() < 40  # MNIST's mean pixel is about 33


def test_auto_prefers_a_complete_idx_folder(synthetic_idx_dir, tmp_path):
    assert source_dataset("auto", synthetic_idx_dir).resolved_source() == "idx"
    assert source_dataset("tfds", synthetic_idx_dir).resolved_source() == "tfds"
    (synthetic_idx_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    assert source_dataset("auto", synthetic_idx_dir).resolved_source() == "tfds"
    assert (
        source_dataset("auto", tmp_path / "does-not-exist").resolved_source() == "tfds"
    )


def test_unknown_source_is_refused(tmp_path):
    with pytest.raises(
        DatasetError, match=r"ingestion.source is 'kaggle'; use one of auto, idx, tfds"
    ):
        source_dataset("kaggle", tmp_path)


def test_idx_source_names_the_missing_files_and_the_parameter(synthetic_idx_dir):
    (synthetic_idx_dir / "train-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(DatasetError) as error:
        source_dataset("idx", synthetic_idx_dir).load()

    assert "lacks train-labels-idx1-ubyte (plain or .gz)" in str(error.value)
    assert "--params ingestion.idx_dir=" in str(error.value)


def test_corrupt_file_in_the_folder_is_named(synthetic_idx_dir):
    path = synthetic_idx_dir / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(
        DatasetError, match="t10k-images-idx3-ubyte.gz: the gzip stream is truncated"
    ):
        source_dataset("idx", synthetic_idx_dir).load()


def test_is_read_only(synthetic_idx_dir):
    with pytest.raises(DatasetError, match="read-only"):
        source_dataset("idx", synthetic_idx_dir).save({})


def test_tfds_source_reads_prepared_data(prepared_tfds_dir, tmp_path):
    dataset = source_dataset("auto", tmp_path / "no-idx-here", prepared_tfds_dir)

    with tfds.testing.mock_data(num_examples=12, data_dir=str(prepared_tfds_dir)):
        assert dataset.exists()
        raw = dataset.load()

    assert raw["train_images"].shape == raw["test_images"].shape == (12, 28, 28)
    assert raw["train_images"].dtype == np.uint8
    assert raw["train_labels"].dtype == np.uint8
    assert raw["train_labels"].max() < 10


def test_tfds_without_network_fails_fast_and_says_what_to_do(no_network, tmp_path):
    dataset = source_dataset("tfds", tmp_path / "mnist-idx", tmp_path / "tfds")
    assert not dataset.exists()

    started = time.monotonic()
    with pytest.raises(DatasetError) as error:
        dataset.load()
    elapsed = time.monotonic() - started

    # TFDS on its own retries for minutes; the issue allows 20 s.
    assert elapsed < 20
    message = str(error.value)
    assert "Cannot download mnist from TensorFlow Datasets" in message
    assert f"put the four IDX files in {tmp_path / 'mnist-idx'}" in message
    assert "--params ingestion.idx_dir=/path/to/folder" in message
    assert not (tmp_path / "tfds" / "downloads").exists()
