"""Custom Kedro datasets: the raw MNIST source, IDX files, NumPy arrays, the
exported models and the model in MLflow."""

from .exported_model_dataset import ExportedModelDataset
from .idx_dataset import IdxDataset
from .mlflow_model_dataset import MlflowKerasModelDataset
from .mnist_source_dataset import MnistSourceDataset
from .numpy_dataset import NumpyDataset

__all__ = [
    "ExportedModelDataset",
    "IdxDataset",
    "MlflowKerasModelDataset",
    "MnistSourceDataset",
    "NumpyDataset",
]
