"""Export: the trained model for TF Serving, LiteRT and ONNX Runtime, each
checked against Keras on real test images."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
