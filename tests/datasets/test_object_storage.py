"""The project's datasets on a real S3-compatible server: what they save appears
complete, versions list and load as on disk, nothing partial stays behind."""

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from mnist_kedro.datasets import (
    ExportedModelDataset,
    IdxDataset,
    MnistSourceDataset,
    NumpyDataset,
)
from mnist_kedro.datasets.atomic import CSVDataset
from mnist_kedro.datasets.mnist_source_dataset import SPLIT_FILES

pytestmark = [pytest.mark.slow, pytest.mark.object_storage]


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.new_bucket()


def partial_objects(s3_server, bucket: str) -> list[str]:
    return [key for key in s3_server.filesystem().find(bucket) if ".partial" in key]


def test_arrays_round_trip_through_the_bucket(s3_server, bucket):
    labels = np.arange(20, dtype=np.uint8) % 10
    images = np.random.default_rng(0).random((20, 28, 28, 1), dtype=np.float32)
    idx = IdxDataset(
        filepath=f"s3://{bucket}/02_intermediate/labels-idx1-ubyte",
        num_classes=10,
        credentials=s3_server.credentials(),
    )
    npy = NumpyDataset(
        filepath=f"s3://{bucket}/05_model_input/x.npy",
        shape=[None, 28, 28, 1],
        credentials=s3_server.credentials(),
    )
    assert not idx.exists()

    idx.save(labels)
    npy.save(images)

    assert idx.exists()
    np.testing.assert_array_equal(idx.load(), labels)
    np.testing.assert_array_equal(npy.load(), images)
    assert sorted(s3_server.filesystem().find(bucket)) == [
        f"{bucket}/02_intermediate/labels-idx1-ubyte",
        f"{bucket}/05_model_input/x.npy",
    ]


def test_the_raw_folder_may_be_a_bucket(s3_server, bucket, mnist_idx_dir):
    s3_server.filesystem().put(
        [str(path) for path in sorted(mnist_idx_dir.glob("*-ubyte.gz"))],
        f"{bucket}/01_raw/mnist/",
    )
    source = MnistSourceDataset(
        path=f"s3://{bucket}/01_raw/mnist",
        source="auto",
        credentials=s3_server.credentials(),
    )

    assert source.resolved_source() == "idx"
    from_bucket = source.load()

    from_disk = MnistSourceDataset(path=str(mnist_idx_dir), source="idx").load()
    assert from_bucket.keys() == set(SPLIT_FILES)
    for split, array in from_disk.items():
        np.testing.assert_array_equal(from_bucket[split], array)


def test_a_missing_raw_file_in_a_bucket_is_named(s3_server, bucket):
    source = MnistSourceDataset(
        path=f"s3://{bucket}/01_raw/mnist",
        source="idx",
        credentials=s3_server.credentials(),
    )

    with pytest.raises(DatasetError, match=rf"s3://{bucket}/01_raw/mnist lacks"):
        source.load()


def test_versions_list_and_load_as_on_disk(s3_server, bucket):
    def table(version: str | None) -> CSVDataset:
        return CSVDataset(
            filepath=f"s3://{bucket}/08_reporting/metrics.csv",
            version=Version(version, version),
            credentials=s3_server.credentials(),
        )

    table("2026-01-01T00.00.00.000Z").save(pd.DataFrame({"accuracy": [0.9]}))
    table("2026-01-02T00.00.00.000Z").save(pd.DataFrame({"accuracy": [0.99]}))

    assert table(None).load()["accuracy"].tolist() == [0.99]  # the latest
    assert table("2026-01-01T00.00.00.000Z").load()["accuracy"].tolist() == [0.9]
    assert sorted(s3_server.filesystem().find(bucket)) == [
        f"{bucket}/08_reporting/metrics.csv/2026-01-01T00.00.00.000Z/metrics.csv",
        f"{bucket}/08_reporting/metrics.csv/2026-01-02T00.00.00.000Z/metrics.csv",
    ]


def test_an_exported_folder_arrives_whole_and_loads(s3_server, bucket, tmp_path):
    import keras  # noqa: PLC0415 - TensorFlow only where a model is needed

    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    saved_model = ExportedModelDataset(
        filepath=f"s3://{bucket}/06_models/exported/mnist_cnn_saved_model",
        format="tf_saved_model",
        version=Version(None, None),
        credentials=s3_server.credentials(),
    )
    local = tmp_path / "mnist_cnn_saved_model"
    model.export(str(local), format="tf_saved_model", verbose=False)

    saved_model.save(model)

    (version,) = s3_server.filesystem().ls(
        f"{bucket}/06_models/exported/mnist_cnn_saved_model"
    )
    in_bucket = sorted(
        key.removeprefix(f"{version}/mnist_cnn_saved_model/")
        for key in s3_server.filesystem().find(version)
    )
    on_disk = sorted(
        str(path.relative_to(local)) for path in local.rglob("*") if path.is_file()
    )
    assert in_bucket == on_disk
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(
        saved_model.load()(images), model.predict(images, verbose=0), atol=1e-5
    )
    assert partial_objects(s3_server, bucket) == []


def test_a_failing_save_leaves_no_partial_object_nor_a_version(s3_server, bucket):
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot be written")

    table = CSVDataset(
        filepath=f"s3://{bucket}/08_reporting/metrics.csv",
        version=Version(None, None),
        credentials=s3_server.credentials(),
    )

    with pytest.raises(DatasetError, match="cannot be written"):
        table.save(pd.DataFrame({"accuracy": [Unprintable()]}))

    assert s3_server.filesystem().find(bucket) == []
    assert not table.exists()
