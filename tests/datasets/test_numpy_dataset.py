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
