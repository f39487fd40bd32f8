"""``python -m mnist_kedro.serving``: serve the trained model on a web page and a JSON API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from mnist_kedro.model.tensorflow_settings import (
    limit_tensorflow_threads,
    set_tensorflow_environment,
)

from .app import create_app
from .model import DATASET_OF_RUNTIME, NoTrainedModelError, load_served_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_kedro.serving", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--model-version",
        help="a version folder of the served model (data/06_models/mnist_cnn.keras, "
        "or its export for --runtime); default: the latest",
    )
    parser.add_argument(
        "--runtime",
        choices=list(DATASET_OF_RUNTIME),
        default="tensorflow",
        help="tensorflow: the Keras model; onnx or litert: its export, run "
        'without TensorFlow (pip install -e ".[export]"). Default: tensorflow',
    )
    parser.add_argument(
        "--model-uri",
        help="an MLflow model instead, e.g. models:/mnist-cnn/3 (runs on TensorFlow)",
    )
    parser.add_argument(
        "--project-path", type=Path, default=Path.cwd(), help="default: this folder"
    )
    parser.add_argument(
        "--env",
        help="the Kedro configuration environment to read the model from, e.g. s3 "
        "(kedro run --env s3); default: Kedro's (local)",
    )
    args = parser.parse_args(argv)
    if args.model_uri and (args.model_version or args.runtime != "tensorflow"):
        parser.error("--model-uri names the model: drop --model-version and --runtime")
    set_tensorflow_environment()
    if args.runtime == "tensorflow":
        limit_tensorflow_threads()
    try:
        served = load_served_model(
            args.project_path.resolve(),
            args.model_version,
            args.runtime,
            args.model_uri,
            args.env,
        )
    except NoTrainedModelError as error:
        sys.exit(str(error))
    uvicorn.run(create_app(served), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
