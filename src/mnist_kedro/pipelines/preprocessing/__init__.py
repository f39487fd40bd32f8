"""Preprocessing: scale and reshape images, split off a validation set."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
