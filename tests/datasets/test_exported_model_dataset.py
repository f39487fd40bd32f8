"""The model exported for TF Serving, LiteRT and ONNX Runtime: each format saved
atomically and versioned, loaded as a predictor on its own runtime."""

from pathlib import Path

import keras
import numpy as np
import onnxruntime
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from mnist_kedro.datasets import ExportedModelDataset
from mnist_kedro.model.network import build_model
from mnist_kedro.pipelines.export.nodes import check_exports, serving_model

FILES = {
    "tf_saved_model": "mnist_cnn_saved_model",
    "litert": "mnist_cnn.tflite",
    "onnx": "mnist_cnn.onnx",
}


def exported(folder: Path, format: str) -> ExportedModelDataset:
    return ExportedModelDataset(
        filepath=str(folder / FILES[format]),
        format=format,
        version=Version(None, None),
    )


@pytest.fixture(scope="module")
def model(base_parameters) -> keras.Model:
    return serving_model(
        build_model((28, 28, 1), 10, base_parameters.training.presets["fast"])
    )


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((300, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize("format", FILES)
def test_each_format_predicts_as_keras_and_leaves_one_version(
    format, model, images, tmp_path
):
    exported(tmp_path, format).save(model)

    predictor = exported(tmp_path, format).load()

    np.testing.assert_allclose(
        predictor(images), model.predict(images, verbose=0), atol=1e-5
    )
    (version,) = (tmp_path / FILES[format]).iterdir()
    assert (version / FILES[format]).exists()
    assert not list(tmp_path.rglob("*.partial*"))


def test_the_exported_input_and_output_are_named(model, tmp_path):
    exported(tmp_path, "onnx").save(model)
    (version,) = (tmp_path / FILES["onnx"]).iterdir()

    session = onnxruntime.InferenceSession(str(version / FILES["onnx"]))

    assert [tensor.name for tensor in session.get_inputs()] == ["images"]
    assert session.get_inputs()[0].shape[1:] == [28, 28, 1]


def test_a_model_that_cannot_be_exported_fails_clearly_and_leaves_nothing(
    base_parameters, tmp_path
):
    never_called = build_model((28, 28, 1), 10, base_parameters.training.preset)

    with pytest.raises(
        DatasetError, match=r"cannot be exported as onnx.*Nothing was written"
    ):
        exported(tmp_path, "onnx").save(never_called)

    assert not list(tmp_path.rglob("*"))


def test_an_unknown_format_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(
        DatasetError, match=r"Unknown export format 'torchscript'.*onnx"
    ):
        ExportedModelDataset(filepath=str(tmp_path / "m"), format="torchscript")


def test_the_check_names_a_format_that_predicts_otherwise(
    model, base_parameters, images, tmp_path
):
    other = serving_model(
        build_model((28, 28, 1), 10, base_parameters.training.presets["fast"])
    )
    exported(tmp_path / "same", "onnx").save(model)
    exported(tmp_path / "other", "litert").save(other)

    with pytest.raises(ValueError, match=r"exported litert_model model\(s\) predict"):
        check_exports(
            model,
            images,
            base_parameters.export,
            onnx_model=exported(tmp_path / "same", "onnx").load(),
            litert_model=exported(tmp_path / "other", "litert").load(),
        )
    check = check_exports(
        model,
        images,
        base_parameters.export,
        onnx_model=exported(tmp_path / "same", "onnx").load(),
    )
    assert check.loc["onnx_model"].tolist() == [300, 300, pytest.approx(0, abs=1e-5)]
