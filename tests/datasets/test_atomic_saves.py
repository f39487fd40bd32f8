"""Saves are atomic: a save that fails or is killed half-way leaves no file where
the catalog would load it, and the last complete version stays loadable."""

import fsspec
import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version
from matplotlib.figure import Figure

from mnist_kedro.datasets import IdxDataset, NumpyDataset
from mnist_kedro.datasets.atomic import CSVDataset, MatplotlibDataset
from mnist_kedro.datasets.partial_files import atomic_write


class FigureKilledWhileSaving(Figure):
    def savefig(self, file, **kwargs):
        file.write(b"\x89PNG half a figure")
        raise KeyboardInterrupt  # as a signal arriving mid-write would


def versioned(dataset_class, path):
    return dataset_class(filepath=str(path), version=Version(None, None))


def test_versioned_round_trip_writes_only_the_final_file(tmp_path):
    versioned(CSVDataset, tmp_path / "report.csv").save(pd.DataFrame({"a": [1, 2]}))

    files = [
        path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()
    ]
    assert len(files) == 1 and files[0].name == "report.csv"
    assert versioned(CSVDataset, tmp_path / "report.csv").load()["a"].tolist() == [1, 2]


def test_an_interrupted_save_leaves_nothing_behind(tmp_path):
    earlier = Figure()
    versioned(MatplotlibDataset, tmp_path / "figure.png").save(earlier)

    with pytest.raises(KeyboardInterrupt):
        versioned(MatplotlibDataset, tmp_path / "figure.png").save(
            FigureKilledWhileSaving()
        )

    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 1
    assert (
        files[0].read_bytes().startswith(b"\x89PNG")
        and b"half" not in files[0].read_bytes()
    )


def test_a_partial_file_left_by_a_killed_run_is_never_loaded(tmp_path):
    versioned(CSVDataset, tmp_path / "report.csv").save(pd.DataFrame({"a": [1]}))
    newer = tmp_path / "report.csv" / "9999-01-01T00.00.00.000Z"
    newer.mkdir()
    (newer / ".report.csv.0123456789ab.partial").write_text(
        "a\n2\n3"
    )  # what SIGKILL leaves

    assert versioned(CSVDataset, tmp_path / "report.csv").load()["a"].tolist() == [1]


@pytest.mark.parametrize(
    "dataset_class",
    [lambda path: NumpyDataset(filepath=path), lambda path: IdxDataset(filepath=path)],
)
def test_own_datasets_rename_a_complete_file_into_place(tmp_path, dataset_class):
    path = str(tmp_path / "array")
    dataset = dataset_class(path)
    dataset.save(np.arange(6, dtype=np.uint8).reshape(2, 3))

    with pytest.raises(DatasetError):
        dataset.save(np.array([{"no": "objects"}], dtype=object))

    np.testing.assert_array_equal(dataset.load(), np.arange(6).reshape(2, 3))
    assert [path.name for path in tmp_path.iterdir()] == ["array"]


def test_saves_of_one_file_at_the_same_time_never_mix(tmp_path):
    path = tmp_path / "x.npy"
    fs = fsspec.filesystem("file")

    with atomic_write(fs, str(path)) as first:
        first.write(b"first run, " * 1000)
        with atomic_write(fs, str(path)) as second:  # another run, same file
            second.write(b"second run")
        assert path.read_bytes() == b"second run"
        first.write(b"end")

    assert path.read_bytes() == b"first run, " * 1000 + b"end"
    assert [file.name for file in tmp_path.iterdir()] == ["x.npy"]
