"""Evaluation: test metrics, confusion matrix, classification report and figures."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
