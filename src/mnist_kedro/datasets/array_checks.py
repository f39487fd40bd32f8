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
    if shape is not None and not (
        array.ndim == len(shape)
        and all(
            size is None or size == actual for actual, size in zip(array.shape, shape)
        )
    ):
        expected = "×".join("N" if size is None else str(size) for size in shape)
        raise DatasetError(
            f"{path}: array has shape {array.shape}, expected {expected}."
        )
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise DatasetError(f"{path}: array is of {array.dtype}, expected {dtype}.")
    if value_range is not None and array.size:
        low, high = array.min(), array.max()
        if low < value_range[0] or high > value_range[1]:
            raise DatasetError(
                f"{path}: values range from {low} to {high}, outside the expected "
                f"{value_range[0]} to {value_range[1]}. Run the stage that writes it again."
            )
