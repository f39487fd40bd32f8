"""Training: a Keras CNN built from parameters, with early stopping."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
