"""Ingestion: raw MNIST from a folder of IDX files or from TensorFlow Datasets."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
