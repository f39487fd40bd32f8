import numpy as np
import pytest
from kedro.io import DatasetError

from mnist_kedro.datasets import NumpyDataset


def test_round_trip_keeps_shape_dtype_and_values(tmp_path):
    array = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    dataset = NumpyDataset(filepath=str(tmp_path / "nested" / "x.npy"))
    assert not dataset.exists()

    dataset.save(array)

    assert dataset.exists()
    loaded = dataset.load()
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, array)


def test_refuses_to_save_objects(tmp_path):
    dataset = NumpyDataset(filepath=str(tmp_path / "x.npy"))

    with pytest.raises(DatasetError, match="pickle"):
        dataset.save(np.array([{"not": "an array"}], dtype=object))


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match="missing.npy"):
        NumpyDataset(filepath=str(tmp_path / "missing.npy")).load()


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (
            np.zeros((2, 28, 28), np.float32),
            r"x.npy: array has shape \(2, 28, 28\), expected N×28×28×1",
        ),
        (
            np.zeros((2, 28, 28, 1), np.float64),
            r"x.npy: array is of float64, expected float32",
        ),
        (
            np.full((2, 28, 28, 1), 255, np.float32),
            r"x.npy: values range from 255.0 to 255.0, outside the expected 0 to 1",
        ),
    ],
)
def test_checks_what_it_loads_and_names_the_file(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    checked = NumpyDataset(
        filepath=str(tmp_path / "x.npy"),
        shape=[None, 28, 28, 1],
        dtype="float32",
        value_range=[0, 1],
    )

    with pytest.raises(DatasetError, match=message):
        checked.load()
    with pytest.raises(DatasetError, match=message):
        checked.save(array)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 a zip, say", r"x.npy: not a NumPy .npy file, or a corrupt one"),
        (
            b"\x93NUMPY\x01\x00\x10\x00{'descr'",
            r"x.npy: not a NumPy .npy file, or a corrupt one",
        ),
    ],
)
def test_a_corrupt_file_is_named_with_what_to_do(tmp_path, content, message):
    (tmp_path / "x.npy").write_bytes(content)

    with pytest.raises(
        DatasetError, match=message + r".*Run the stage that writes it again"
    ):
        NumpyDataset(filepath=str(tmp_path / "x.npy")).load()


def test_a_truncated_file_fails_before_allocating_what_its_header_promises(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 28, 28, 1), np.float32))
    content = (tmp_path / "x.npy").read_bytes()
    # A header promising 10**12 images (about 3 PB) over the same few bytes.
    hostile = content.replace(b"(4, 28, 28, 1)", b"(1000000000000, 28, 28, 1)")
    (tmp_path / "huge.npy").write_bytes(hostile)
    (tmp_path / "x.npy").write_bytes(content[:-10])

    with pytest.raises(
        DatasetError,
        match=r"x.npy: the header promises shape \(4, 28, 28, 1\) of float32 \(12544 bytes of data\) but 12534 bytes follow it",
    ):
        NumpyDataset(filepath=str(tmp_path / "x.npy")).load()
    with pytest.raises(
        DatasetError,
        match=r"huge.npy: the header promises shape \(1000000000000, 28, 28, 1\)",
    ):
        NumpyDataset(filepath=str(tmp_path / "huge.npy")).load()


def test_a_file_of_python_objects_is_never_loaded(tmp_path):
    np.save(
        tmp_path / "x.npy",
        np.array([{"not": "an array"}], dtype=object),
        allow_pickle=True,
    )

    with pytest.raises(
        DatasetError, match=r"x.npy: holds Python objects, which are never loaded"
    ):
        NumpyDataset(filepath=str(tmp_path / "x.npy")).load()
