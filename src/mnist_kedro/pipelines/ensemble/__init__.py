"""The ensemble: several CNNs trained apart, combined into one model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
