import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from kedro.io import DatasetError

from mnist_kedro.datasets import IdxDataset


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


def idx_header(type_code: int, *shape: int) -> bytes:
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, type_code, len(shape), *shape)


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_plain_and_gzipped(tmp_path, images, name):
    dataset = IdxDataset(filepath=str(tmp_path / name), shape=[None, 28, 28])
    assert not dataset.exists()

    dataset.save(images)

    assert dataset.exists()
    loaded = dataset.load()
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)
    raw = (tmp_path / name).read_bytes()
    assert raw.startswith(b"\x1f\x8b") == name.endswith(".gz")


def test_file_is_in_the_standard_idx_layout(tmp_path, images):
    path = tmp_path / "images-idx3-ubyte"
    IdxDataset(filepath=str(path)).save(images)

    assert path.read_bytes()[:16] == idx_header(0x08, 5, 28, 28)
    assert path.stat().st_size == 16 + images.size


def test_gzip_is_recognised_by_content_not_name(tmp_path, images):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(gzip.compress(idx_header(0x08, 5, 28, 28) + images.tobytes()))

    np.testing.assert_array_equal(IdxDataset(filepath=str(path)).load(), images)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64])
def test_round_trip_of_wider_types_in_native_byte_order(tmp_path, dtype):
    values = np.arange(-3, 3, dtype=dtype).reshape(2, 3)
    dataset = IdxDataset(filepath=str(tmp_path / "values.idx"))
    dataset.save(values)

    loaded = dataset.load()

    assert loaded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded, values)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(100))

    with pytest.raises(
        DatasetError, match=r"train-images-idx3-ubyte: bad magic number 0x504B0304"
    ):
        IdxDataset(filepath=str(path)).load()


def test_truncated_data(tmp_path, images):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_header(0x08, 5, 28, 28) + images.tobytes()[:-10])

    with pytest.raises(
        DatasetError,
        match=r"train-images-idx3-ubyte: .* the file is truncated: only 3910 bytes",
    ):
        IdxDataset(filepath=str(path)).load()


def test_trailing_bytes(tmp_path, images):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_header(0x08, 5, 28, 28) + images.tobytes() + b"\0")

    with pytest.raises(
        DatasetError,
        match=r"images-idx3-ubyte: .* the file is followed by trailing bytes",
    ):
        IdxDataset(filepath=str(path)).load()


def test_truncated_header(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_header(0x08, 5, 28, 28)[:10])

    with pytest.raises(
        DatasetError, match=r"header is truncated \(10 bytes, 16 needed"
    ):
        IdxDataset(filepath=str(path)).load()


def test_empty_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(b"")

    with pytest.raises(DatasetError, match="only 0 bytes, too short for an IDX header"):
        IdxDataset(filepath=str(path)).load()


def test_truncated_gzip_stream(tmp_path, images):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    compressed = gzip.compress(idx_header(0x08, 5, 28, 28) + images.tobytes())
    path.write_bytes(compressed[: len(compressed) // 2])

    with pytest.raises(
        DatasetError,
        match=r"train-images-idx3-ubyte.gz: the gzip stream is truncated or corrupt",
    ):
        IdxDataset(filepath=str(path)).load()


def test_label_out_of_range(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_header(0x08, 4) + bytes([0, 9, 10, 3]))

    with pytest.raises(
        DatasetError,
        match=r"train-labels-idx1-ubyte: labels range from 0 to 10, but there are 10 classes",
    ):
        IdxDataset(filepath=str(path), num_classes=10).load()


def test_unexpected_shape(tmp_path, images):
    path = tmp_path / "images-idx3-ubyte"
    IdxDataset(filepath=str(path)).save(images)

    with pytest.raises(
        DatasetError, match=r"array has shape \(5, 28, 28\), expected N×32×32"
    ):
        IdxDataset(filepath=str(path), shape=[None, 32, 32]).load()


def test_missing_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"

    with pytest.raises(
        DatasetError, match=r"IDX file not found: .*t10k-labels-idx1-ubyte"
    ):
        IdxDataset(filepath=str(path)).load()


def test_save_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(
        DatasetError, match="IDX cannot store a 1-dimensional array of int64"
    ):
        IdxDataset(filepath=str(tmp_path / "x")).save(np.arange(3, dtype=np.int64))
    assert not (tmp_path / "x").exists()


def test_describe_names_the_file(tmp_path):
    dataset = IdxDataset(filepath=str(tmp_path / "labels"), num_classes=10)

    assert "labels" in str(dataset)
    assert "num_classes=10" in str(dataset)


def test_reads_the_real_mnist_files(mnist_idx_dir):
    labels = IdxDataset(
        filepath=str(mnist_idx_dir / "t10k-labels-idx1-ubyte.gz"),
        shape=[None],
        num_classes=10,
    ).load()
    images = IdxDataset(
        filepath=str(mnist_idx_dir / "t10k-images-idx3-ubyte.gz"), shape=[None, 28, 28]
    ).load()

    assert labels.shape == (10_000,)
    assert images.shape == (10_000, 28, 28)
    assert images.dtype == np.uint8
    # The first test digits of MNIST are 7, 2, 1, 0, 4.
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def gzip_bomb(path, header: bytes, data_bytes: int, zeros_after: int) -> None:
    """A small gzip file of ``header``, ``data_bytes`` zeros of data, then
    ``zeros_after`` more zeros: gzip members of zeros, concatenated."""
    chunk = 64 << 20
    zeros_member = gzip.compress(bytes(chunk), compresslevel=9)
    with path.open("wb") as file:
        file.write(gzip.compress(header + bytes(data_bytes), compresslevel=9))
        for _ in range(zeros_after // chunk):
            file.write(zeros_member)


def test_a_decompression_bomb_fails_after_the_promised_data(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    # A valid MNIST header, then 6 GB of zeros in a file of a few MB.
    gzip_bomb(path, idx_header(0x08, 60_000, 28, 28), 60_000 * 28 * 28, 6 << 30)
    assert path.stat().st_size < 10 << 20

    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="followed by trailing bytes"):
            IdxDataset(filepath=str(path), shape=[None, 28, 28]).load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 60_000 * 28 * 28  # of the order of the promised data, not 6 GB


def test_a_header_promising_more_than_max_bytes_fails_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_bomb(path, idx_header(0x08, 10_000_000, 28, 28), 0, 1 << 30)

    with pytest.raises(
        DatasetError,
        match=r"promises shape \(10000000, 28, 28\), 7840000000 bytes of data, "
        r"over the limit of 2147483648 bytes.*raise the dataset's max_bytes",
    ):
        IdxDataset(filepath=str(path)).load()


def test_a_header_of_the_wrong_shape_fails_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_bomb(path, idx_header(0x08, 1_000_000, 32, 32), 0, 1 << 30)

    with pytest.raises(
        DatasetError, match=r"array has shape \(1000000, 32, 32\), expected N×28×28"
    ):
        IdxDataset(filepath=str(path), shape=[None, 28, 28]).load()
