"""Custom Kedro datasets: the raw MNIST source, IDX files and NumPy arrays."""

from .idx_dataset import IdxDataset
from .mnist_source_dataset import MnistSourceDataset
from .numpy_dataset import NumpyDataset

__all__ = ["IdxDataset", "MnistSourceDataset", "NumpyDataset"]
