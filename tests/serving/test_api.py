"""The web service: its contract (answers, errors, limits, schema) on an
untrained model saved in a project's catalog, and its answers on the model of a
real (short) run of the pipeline."""

import io
import json

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient
from kedro.io import Version
from kedro_project import copy_project, latest_version
from PIL import Image, ImageDraw

from mnist_kedro.datasets import IdxDataset, KerasModelDataset
from mnist_kedro.model.network import build_model
from mnist_kedro.serving.app import (
    DECODED_SIDE,
    MAX_BODY_BYTES,
    _decode,
    create_app,
)
from mnist_kedro.serving.model import NoTrainedModelError, load_served_model

MODEL = "data/06_models/mnist_cnn.keras"
UNTRAINED_VERSION = "2026-12-01T00.00.00.000Z"


@pytest.fixture(scope="module")
def untrained_project(tmp_path_factory, project_root, base_parameters):
    """A copy of the project whose catalog holds one version of an untrained
    ``seed`` CNN, saved as the training saves it: the service's whole path,
    without training."""
    project = copy_project(project_root, tmp_path_factory.mktemp("untrained"))
    keras.utils.set_random_seed(0)
    model = build_model((28, 28, 1), 10, base_parameters.training.presets["seed"])
    KerasModelDataset(
        filepath=str(project / MODEL), version=Version(None, UNTRAINED_VERSION)
    ).save(model)
    return project


@pytest.fixture(scope="module")
def client(untrained_project):
    with TestClient(create_app(load_served_model(untrained_project))) as client:
        yield client


@pytest.fixture(scope="module")
def trained_client(trained_project):
    with TestClient(create_app(load_served_model(trained_project))) as client:
        yield client


@pytest.fixture(scope="module")
def test_digits(mnist_idx_dir):
    images = IdxDataset(
        filepath=str(mnist_idx_dir / "t10k-images-idx3-ubyte.gz")
    ).load()
    labels = IdxDataset(
        filepath=str(mnist_idx_dir / "t10k-labels-idx1-ubyte.gz")
    ).load()
    return images[:50], labels[:50]


def a_drawn_one() -> np.ndarray:
    """A white stroke on black, as the page's canvas sends a 1."""
    image = np.zeros((60, 60), np.uint8)
    image[10:50, 28:33] = 255
    return image


def png(array: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


def post_image(client, data: bytes, content_type: str = "image/png"):
    return client.post("/predict", content=data, headers={"Content-Type": content_type})


def test_health_reports_the_served_version(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "model_version": UNTRAINED_VERSION,
        "runtime": "tensorflow",
    }


@pytest.mark.slow
def test_real_test_digits_sent_as_png(trained_client, test_digits):
    images, labels = test_digits

    answers = [post_image(trained_client, png(image)).json() for image in images]

    assert np.mean([answer["label"] for answer in answers] == labels) >= 0.9
    first = answers[0]
    assert first["digit"] == str(first["label"])
    assert set(first["probabilities"]) == {str(digit) for digit in range(10)}
    assert sum(first["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert first["server_time_ms"] > 0 and first["model_version"]


def test_arrays_are_answered_with_the_models_own_probabilities(
    client, untrained_project, make_digits
):
    images, _ = make_digits(10)
    pixels = images.astype(np.float32) / 255

    answers = [
        client.post("/predict", json={"pixels": image.tolist()}).json()
        for image in pixels
    ]

    # What the model read, as grey levels: the pixels sent.
    for answer, image in zip(answers, images, strict=True):
        np.testing.assert_array_equal(answer["prepared"], image)
    model = keras.models.load_model(latest_version(untrained_project / MODEL))
    expected = model.predict(pixels[..., np.newaxis], verbose=0)
    assert [answer["label"] for answer in answers] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(
        [list(answer["probabilities"].values()) for answer in answers],
        expected,
        atol=1e-5,
    )


@pytest.mark.slow
def test_jpeg_and_form_uploads(trained_client, test_digits):
    images, labels = test_digits

    as_jpeg = post_image(trained_client, png(images[0], "JPEG"), "image/jpeg")
    as_form = trained_client.post(
        "/predict", files={"image": ("seven.png", png(images[0]), "image/png")}
    )

    assert as_jpeg.json()["label"] == as_form.json()["label"] == labels[0]


BAD_REQUESTS = {
    "not an image": (
        b"hello, I am text",
        "image/png",
        400,
        "not a PNG or JPEG image: send the digit as one of those",
    ),
    "GIF sent as PNG": (
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "image/png",
        400,
        "not a PNG or JPEG image: send the digit as one of those",
    ),
    "empty body": (b"", "image/png", 400, "the body is empty"),
    "blank image": (png(np.full((60, 60), 255, np.uint8)), "image/png", 400, "blank"),
    "GIF": (None, "image/gif", 415, "send a PNG or JPEG"),
    "wrong content type": (b"7", "text/plain", 415, "send a PNG or JPEG"),
    "wrong array shape": (
        json.dumps({"pixels": [[0.0] * 28] * 27}),
        "application/json",
        422,
        "should have at least 28 items",
    ),
    "NaN": (
        '{"pixels": [[NaN'
        + ", 0" * 27
        + "]"
        + (", [" + ", ".join(["0"] * 28) + "]") * 27
        + "]}",
        "application/json",
        422,
        "",
    ),
    "out of range": (
        json.dumps({"pixels": [[1.5] * 28] * 28}),
        "application/json",
        422,
        "less than or equal to 1",
    ),
    "booleans": (
        json.dumps({"pixels": [[True] * 28] * 28}),
        "application/json",
        422,
        "valid number",
    ),
    "unknown field": (
        json.dumps({"pixels": [[0] * 28] * 28, "path": "/etc/passwd"}),
        "application/json",
        422,
        "Extra inputs",
    ),
    "malformed JSON": ('{"pixels": [[', "application/json", 422, "json"),
}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    BAD_REQUESTS.values(),
    ids=BAD_REQUESTS.keys(),
)
def test_bad_input_gets_a_json_error_and_the_server_keeps_serving(
    client, body, content_type, status, message
):
    response = post_image(client, body if body is not None else b"GIF89a", content_type)

    assert response.status_code == status
    assert message.lower() in json.dumps(response.json()["detail"]).lower()
    assert " at 0x" not in response.text  # no internal object
    assert post_image(client, png(a_drawn_one())).status_code == 200


def test_a_corrupt_png_is_refused(client):
    response = post_image(client, png(a_drawn_one())[:60])

    assert response.status_code == 400
    assert "not a readable PNG or JPEG" in response.json()["detail"]


def test_bodies_over_2_mb_are_refused_before_decoding(client):
    response = post_image(client, b"\x89PNG" + bytes(MAX_BODY_BYTES))

    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"]


def test_images_over_16_megapixels_are_refused(client):
    buffer = io.BytesIO()
    Image.new("1", (5000, 4000)).save(buffer, format="PNG")  # a few KB of PNG
    assert len(buffer.getvalue()) < MAX_BODY_BYTES

    response = post_image(client, buffer.getvalue())

    assert response.status_code == 413
    assert "images are limited to" in response.json()["detail"]


def test_a_transparent_png_is_read_as_drawn_on_white_paper(client):
    ring = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    ImageDraw.Draw(ring).ellipse([(30, 20), (90, 100)], outline="black", width=8)
    on_paper = Image.alpha_composite(Image.new("RGBA", ring.size, "white"), ring)

    answers = [
        post_image(client, png(np.asarray(image))).json()
        for image in (ring, ring.convert("LA"), on_paper.convert("L"))
    ]

    prepared = [np.asarray(answer["prepared"]) for answer in answers]
    assert prepared[0].max() == 255
    for other in prepared[1:]:
        np.testing.assert_allclose(other, prepared[0], atol=2)


def test_a_large_image_is_decoded_reduced_and_read_as_its_reduced_copy(client):
    large = np.full((4000, 3000), 255, np.uint8)
    large[1000:3000, 1400:1600] = 0  # a one, 2,000 pixels tall
    small = np.asarray(Image.fromarray(large).reduce(-(-4000 // DECODED_SIDE)))

    decoded = _decode(png(large))
    answers = [post_image(client, png(image)).json() for image in (large, small)]

    assert max(decoded.shape[:2]) <= DECODED_SIDE
    assert answers[0]["probabilities"] == pytest.approx(
        answers[1]["probabilities"], abs=1e-4
    )


def test_openapi_schema_and_docs(client):
    schema = client.get("/openapi.json").json()

    assert set(schema["paths"]) == {"/health", "/predict"}
    predict = schema["paths"]["/predict"]["post"]
    assert {"image/png", "application/json", "multipart/form-data"} <= set(
        predict["requestBody"]["content"]
    )
    assert client.get("/docs").status_code == 200


def test_the_schema_documents_every_answer_and_every_constraint(client):
    schema = client.get("/openapi.json").json()
    predict = schema["paths"]["/predict"]["post"]
    components = schema["components"]["schemas"]

    assert set(predict["responses"]) == {"200", "400", "413", "415", "422"}
    for status, body in (("400", "ErrorMessage"), ("422", "ValidationErrors")):
        content = predict["responses"][status]["content"]["application/json"]
        assert content["schema"]["$ref"] == f"#/components/schemas/{body}"
    assert set(components["Prediction"]["required"]) == {
        "digit",
        "label",
        "probabilities",
        "prepared",
        "model_version",
        "server_time_ms",
    }
    prepared = components["Prediction"]["properties"]["prepared"]
    assert prepared["minItems"] == prepared["maxItems"] == 28
    assert prepared["items"]["items"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 255,
    }
    request = predict["requestBody"]["content"]["application/json"]["schema"]
    pixels = request["properties"]["pixels"]
    assert pixels["minItems"] == pixels["maxItems"] == 28
    assert pixels["items"]["minItems"] == pixels["items"]["maxItems"] == 28
    assert pixels["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert request["additionalProperties"] is False


def test_the_page_is_served_without_outside_resources(client):
    page = client.get("/").text

    assert "<canvas" in page and 'fetch("predict"' in page
    assert "http://" not in page and "https://" not in page


def test_without_a_trained_model_it_says_to_run_the_pipeline(tmp_path, project_root):
    empty_project = copy_project(project_root, tmp_path / "project")

    with pytest.raises(NoTrainedModelError, match="run `kedro run` first"):
        load_served_model(empty_project)
