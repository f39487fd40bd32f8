"""Checks of the arrays a dataset loads or saves, named after its file."""

from __future__ import annotations

import numpy as np
from kedro.io.core import DatasetError


def check_array(
    array: np.ndarray,
    path: str,
    *,
    shape: tuple[int | None, ...] | None = None,
    dtype: str | None = None,
    value_range: tuple[float, float] | None = None,
) -> None:
    """Raises ``DatasetError`` naming ``path`` unless ``array`` has the expected
    shape (``None`` for any size), dtype and values within ``value_range``."""
    if shape is not None:
        check_shape(array.shape, path, shape)
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise DatasetError(f"{path}: array is of {array.dtype}, expected {dtype}.")
    if value_range is not None and array.size:
        low, high = array.min(), array.max()
        if low < value_range[0] or high > value_range[1]:
            raise DatasetError(
                f"{path}: values range from {low} to {high}, outside the expected "
                f"{value_range[0]} to {value_range[1]}. Run the stage that writes it again."
            )


def check_shape(
    actual: tuple[int, ...], path: str, expected: tuple[int | None, ...]
) -> None:
    """Raises ``DatasetError`` naming ``path`` unless ``actual`` matches
    ``expected`` (``None`` for any size)."""
    if len(actual) != len(expected) or any(
        size is not None and size != found for found, size in zip(actual, expected)
    ):
        wanted = "×".join("N" if size is None else str(size) for size in expected)
        raise DatasetError(f"{path}: array has shape {actual}, expected {wanted}.")
