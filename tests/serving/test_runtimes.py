"""The service on the exported models: ONNX Runtime and LiteRT without
TensorFlow, predicting the classes that Keras predicts."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient
from kedro_project import latest_version

from mnist_kedro.serving.app import create_app
from mnist_kedro.serving.model import load_served_model

pytestmark = pytest.mark.slow

# In a fresh process: the served model's classes for 200 test images, and
# whether TensorFlow or Keras was imported on the way.
SERVE_WITHOUT_TENSORFLOW = """
import json, sys
from pathlib import Path
import numpy as np
from mnist_kedro.serving.model import load_served_model
served = load_served_model(Path(sys.argv[1]), runtime=sys.argv[2])
images = np.load(Path(sys.argv[1]) / "data/05_model_input/x_test.npy")[:200]
print(json.dumps({
    "classes": served.predict(images).argmax(axis=1).tolist(),
    "imported": sorted({"tensorflow", "keras"} & set(sys.modules)),
}))
"""


@pytest.fixture(scope="module")
def keras_classes(trained_project) -> list[int]:
    model = keras.models.load_model(
        latest_version(trained_project / "data/06_models/mnist_cnn.keras")
    )
    images = np.load(trained_project / "data/05_model_input/x_test.npy")[:200]
    return model.predict(images, verbose=0).argmax(axis=1).tolist()


@pytest.mark.parametrize("runtime", ["onnx", "litert"])
def test_an_exported_model_is_served_without_tensorflow(
    runtime, trained_project, keras_classes
):
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_TENSORFLOW, str(trained_project), runtime],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["imported"] == []
    assert served["classes"] == keras_classes


def test_the_api_answers_on_onnx_runtime(trained_project, keras_classes):
    served = load_served_model(trained_project, runtime="onnx")
    image = np.load(trained_project / "data/05_model_input/x_test.npy")[0, :, :, 0]

    with TestClient(create_app(served)) as client:
        health = client.get("/health").json()
        answer = client.post("/predict", json={"pixels": image.tolist()}).json()

    onnx_version = latest_version(
        trained_project / "data/06_models/exported/mnist_cnn.onnx"
    ).parent.name
    assert health == {
        "status": "ready",
        "model_version": onnx_version,
        "runtime": "onnx",
    }
    assert answer["label"] == keras_classes[0]
