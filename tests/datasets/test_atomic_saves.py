"""Saves are atomic: a save that fails or is killed half-way leaves no file where
the catalog would load it, and the last complete version stays loadable."""

import fsspec
import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version
from matplotlib.figure import Figure

from mnist_kedro.datasets import IdxDataset, KerasModelDataset, NumpyDataset
from mnist_kedro.datasets.atomic import CSVDataset, MatplotlibDataset
from mnist_kedro.datasets.file_dataset import save_atomically


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

    def first_run(partial):
        fs.pipe_file(partial, b"first run, " * 1000)
        save_atomically(fs, str(path), lambda other: fs.pipe_file(other, b"second"))
        assert path.read_bytes() == b"second"
        with fs.open(partial, "ab") as file:
            file.write(b"end")

    save_atomically(fs, str(path), first_run)

    assert path.read_bytes() == b"first run, " * 1000 + b"end"
    assert [file.name for file in tmp_path.iterdir()] == ["x.npy"]


def test_a_model_killed_while_saving_leaves_the_last_version_loadable(tmp_path):
    import keras  # noqa: PLC0415 - TensorFlow only where a model is needed

    class KilledWhileSaving(keras.Sequential):
        def save(self, filepath, **kwargs):
            with open(filepath, "wb") as file:
                file.write(b"PK half a model")
            raise KeyboardInterrupt

    layers = [keras.Input((4,)), keras.layers.Dense(2)]
    versioned(KerasModelDataset, tmp_path / "model.keras").save(
        keras.Sequential(layers)
    )

    with pytest.raises(KeyboardInterrupt):
        versioned(KerasModelDataset, tmp_path / "model.keras").save(
            KilledWhileSaving(layers)
        )

    assert len(list((tmp_path / "model.keras").iterdir())) == 1
    loaded = versioned(KerasModelDataset, tmp_path / "model.keras").load()
    assert loaded.output_shape == (None, 2)
