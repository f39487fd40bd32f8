"""Custom Kedro datasets: the raw MNIST source, IDX files, NumPy arrays, the
Keras model, its exported forms and the model in MLflow. Every one that
writes files saves atomically (``file_dataset.save_atomically``)."""

from .exported_model_dataset import ExportedModelDataset
from .file_dataset import FileDataset
from .idx_dataset import IdxDataset
from .keras_model_dataset import KerasModelDataset
from .mlflow_model_dataset import MlflowKerasModelDataset
from .mnist_source_dataset import MnistSourceDataset
from .numpy_dataset import NumpyDataset

__all__ = [
    "ExportedModelDataset",
    "FileDataset",
    "IdxDataset",
    "KerasModelDataset",
    "MlflowKerasModelDataset",
    "MnistSourceDataset",
    "NumpyDataset",
]
