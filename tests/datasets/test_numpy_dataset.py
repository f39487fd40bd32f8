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
