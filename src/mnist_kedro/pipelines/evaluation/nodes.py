"""Nodes of the evaluation pipeline: predictions, metrics, tables and figures."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from mnist_kedro.parameters import ClassNames, EvaluationParams
from mnist_kedro.pipelines.node_types import KerasModel, MatplotlibFigure

logger = logging.getLogger(__name__)


def probability_columns(class_names: ClassNames) -> list[str]:
    return [f"prob_{name}" for name in class_names]


def predict_test_set(
    model: KerasModel, x_test: np.ndarray, y_test: np.ndarray, class_names: ClassNames
) -> pd.DataFrame:
    """One row per test image: true label, predicted label and class probabilities."""
    from mnist_kedro.model.prediction import predict_in_batches

    if (
        model.output_shape[-1] != len(class_names)
        or model.input_shape[1:] != x_test.shape[1:]
    ):
        raise ValueError(
            f"The model maps {model.input_shape[1:]} images to {model.output_shape[-1]} "
            f"classes, but the test images are {x_test.shape[1:]} and "
            f"{len(class_names)} class names are configured; train the model again."
        )
    probabilities = predict_in_batches(model, x_test)
    predictions = pd.DataFrame(probabilities, columns=probability_columns(class_names))
    predictions.insert(0, "true_label", y_test.astype(int))
    predictions.insert(1, "predicted_label", probabilities.argmax(axis=1))
    return predictions


def compute_metrics(
    predictions: pd.DataFrame,
    training_history: pd.DataFrame,
    y_train: np.ndarray,
    y_val: np.ndarray,
    class_names: ClassNames,
) -> dict[str, Any]:
    """Test accuracy and loss, with the sizes of the sets and the epochs trained."""
    true_labels = predictions["true_label"].to_numpy()
    probabilities = predictions[probability_columns(class_names)].to_numpy()
    metrics = {
        "test_accuracy": float(
            np.mean(predictions["predicted_label"].to_numpy() == true_labels)
        ),
        "test_loss": cross_entropy(probabilities, true_labels),
        "epochs_trained": len(training_history),
        "best_epoch": int(
            training_history.loc[training_history["val_loss"].idxmin(), "epoch"]
        ),
        "n_train": len(y_train),
        "n_val": len(y_val),
        "n_test": len(predictions),
    }
    logger.info(
        "Test accuracy %.4f, test loss %.4f.",
        metrics["test_accuracy"],
        metrics["test_loss"],
    )
    return metrics


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The mean negative log-probability of the true classes, as Keras' loss
    and scikit-learn's ``log_loss`` compute it: each row normalised (float32
    softmax rows sum to 1 only within ~1e-7), probabilities clipped to their
    dtype's epsilon. Not scikit-learn's own: importing it takes longer than this
    whole node, which each evaluation task on Airflow runs alone."""
    normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
    eps = np.finfo(normalised.dtype).eps
    true_class = normalised[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(true_class, eps, 1 - eps))))


def test_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Test accuracy and loss for kedro-mlflow's ``MlflowMetricsHistoryDataset``."""
    return {
        name: {"value": float(metrics[name]), "step": 0}
        for name in ("test_accuracy", "test_loss")
    }


def confusion_matrix_table(
    predictions: pd.DataFrame, class_names: ClassNames
) -> pd.DataFrame:
    """Counts of test images by true class (rows) and predicted class (columns)."""
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(
        predictions["true_label"],
        predictions["predicted_label"],
        labels=range(len(class_names)),
    )
    return pd.DataFrame(
        counts,
        index=pd.Index(list(class_names), name="true_label"),
        columns=pd.Index(list(class_names), name="predicted_label"),
    )


def classification_report_table(
    predictions: pd.DataFrame, class_names: ClassNames
) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, with macro and weighted averages."""
    from sklearn.metrics import classification_report

    report = classification_report(
        predictions["true_label"],
        predictions["predicted_label"],
        labels=range(len(class_names)),
        target_names=list(class_names),
        output_dict=True,
        zero_division=0,
    )
    report.pop("accuracy", None)  # a single number, already in metrics.json
    table = pd.DataFrame.from_dict(report, orient="index").rename_axis("class")
    return table.astype({"support": int})


def new_figure(figsize: tuple[float, float]) -> MatplotlibFigure:
    """A Matplotlib figure of its own, outside pyplot's global state, laid out
    so that titles and labels never overlap."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_confusion_matrix(confusion: pd.DataFrame) -> MatplotlibFigure:
    from sklearn.metrics import ConfusionMatrixDisplay

    figure = new_figure(figsize=(8, 7))
    axes = figure.subplots()
    ConfusionMatrixDisplay(
        confusion.to_numpy(), display_labels=confusion.index.tolist()
    ).plot(ax=axes, cmap="Blues", colorbar=False)
    axes.set_title("Confusion matrix (test set)")
    return figure


def plot_training_curves(training_history: pd.DataFrame) -> MatplotlibFigure:
    """Accuracy and loss per epoch, training against validation."""
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(figsize=(11, 4))
    for axes, metric in zip(figure.subplots(1, 2), ("accuracy", "loss")):
        axes.plot(
            training_history["epoch"], training_history[metric], "o-", label="training"
        )
        axes.plot(
            training_history["epoch"],
            training_history[f"val_{metric}"],
            "o-",
            label="validation",
        )
        axes.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def plot_correct_predictions(
    x_test: np.ndarray,
    predictions: pd.DataFrame,
    class_names: ClassNames,
    evaluation: EvaluationParams,
) -> MatplotlibFigure:
    """The first correctly classified test images."""
    correct = predictions[predictions["true_label"] == predictions["predicted_label"]]
    return plot_prediction_grid(
        x_test, correct, class_names, evaluation.grid_size, "Correctly classified"
    )


def plot_misclassified_predictions(
    x_test: np.ndarray,
    predictions: pd.DataFrame,
    class_names: ClassNames,
    evaluation: EvaluationParams,
) -> MatplotlibFigure:
    """The misclassified test images, most confident mistakes first."""
    wrong = predictions[predictions["true_label"] != predictions["predicted_label"]]
    confidence = wrong[probability_columns(class_names)].max(axis=1)
    return plot_prediction_grid(
        x_test,
        wrong.loc[confidence.sort_values(ascending=False).index],
        class_names,
        evaluation.grid_size,
        "Misclassified",
    )


def plot_prediction_grid(
    x_test: np.ndarray,
    predictions: pd.DataFrame,
    class_names: ClassNames,
    grid_size: int,
    title: str,
) -> MatplotlibFigure:
    """A grid_size×grid_size grid of test images, each titled with its true label,
    predicted label and the predicted label's probability."""
    figure = new_figure(figsize=(1.6 * grid_size, 1.8 * grid_size))
    figure.suptitle(f"{title} test images ({len(predictions)} in all)")
    shown = predictions.head(grid_size * grid_size)
    confidences = shown[probability_columns(class_names)].max(axis=1)
    for axes in figure.subplots(grid_size, grid_size, squeeze=False).flat:
        axes.set_axis_off()
    for axes, index, true_label, predicted_label, confidence in zip(
        figure.axes,
        shown.index,
        shown["true_label"],
        shown["predicted_label"],
        confidences,
    ):
        axes.imshow(x_test[index].squeeze(), cmap="gray", vmin=0, vmax=1)
        axes.set_title(
            f"true {class_names[true_label]}\n"
            f"pred {class_names[predicted_label]} ({confidence:.0%})",
            fontsize=8,
            color="black" if true_label == predicted_label else "red",
        )
    return figure
