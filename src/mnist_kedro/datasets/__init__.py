"""Custom Kedro datasets: the IDX files of MNIST and plain NumPy arrays."""

from .idx_dataset import IdxDataset
from .numpy_dataset import NumpyDataset

__all__ = ["IdxDataset", "NumpyDataset"]
