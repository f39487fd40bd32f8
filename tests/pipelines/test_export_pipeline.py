"""The export pipeline in a real run: every format written, versioned with the
model, and checked against Keras on 1,000 real test images."""

import pandas as pd
import pytest
from kedro_project import latest_version

pytestmark = pytest.mark.slow


def test_a_run_exports_every_format_checked_on_real_test_images(trained_project):
    models = trained_project / "data/06_models"
    version = latest_version(models / "mnist_cnn.keras").parent.name
    check = pd.read_csv(
        latest_version(trained_project / "data/08_reporting/export_check.csv"),
        index_col=0,
    )

    for exported in ("mnist_cnn_saved_model", "mnist_cnn.tflite", "mnist_cnn.onnx"):
        assert (models / "exported" / exported / version / exported).exists()
    assert list(check.index) == ["saved_model", "litert_model", "onnx_model"]
    assert (check["images"] == 1000).all()
    assert (check["same_class"] == 1000).all()
    assert (check["max_probability_difference"] <= 1e-4).all()
