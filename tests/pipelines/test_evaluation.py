import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import log_loss

from mnist_kedro.model.network import build_model
from mnist_kedro.parameters import EvaluationParams
from mnist_kedro.pipelines.evaluation.nodes import (
    classification_report_table,
    compute_metrics,
    confusion_matrix_table,
    cross_entropy,
    plot_confusion_matrix,
    plot_correct_predictions,
    plot_misclassified_predictions,
    plot_training_curves,
    predict_test_set,
)

CLASS_NAMES = ["cat", "dog", "eel"]


@pytest.fixture
def predictions() -> pd.DataFrame:
    """Five test images: three right, two wrong (one of them very confidently)."""
    return pd.DataFrame(
        {
            "true_label": [0, 1, 2, 2, 1],
            "predicted_label": [0, 1, 2, 0, 2],
            "prob_cat": [0.8, 0.1, 0.1, 0.6, 0.05],
            "prob_dog": [0.1, 0.7, 0.2, 0.1, 0.05],
            "prob_eel": [0.1, 0.2, 0.7, 0.3, 0.9],
        }
    )


@pytest.fixture
def history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.5, 0.3, 0.2],
            "accuracy": [0.8, 0.9, 0.95],
            "val_loss": [0.4, 0.25, 0.3],
            "val_accuracy": [0.85, 0.92, 0.91],
        }
    )


def test_predictions_hold_labels_and_probabilities(base_parameters):
    model = build_model((28, 28, 1), 3, base_parameters.training.preset)
    x_test = np.random.default_rng(0).random((7, 28, 28, 1), dtype=np.float32)
    y_test = np.array([0, 1, 2, 0, 1, 2, 0], dtype=np.uint8)

    predictions = predict_test_set(model, x_test, y_test, CLASS_NAMES)

    assert list(predictions.columns) == [
        "true_label",
        "predicted_label",
        "prob_cat",
        "prob_dog",
        "prob_eel",
    ]
    assert predictions["true_label"].tolist() == y_test.tolist()
    probabilities = predictions[["prob_cat", "prob_dog", "prob_eel"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(
        predictions["predicted_label"], probabilities.argmax(axis=1)
    )


def test_metrics(predictions, history):
    metrics = compute_metrics(
        predictions, history, np.zeros(40, np.uint8), np.zeros(4, np.uint8), CLASS_NAMES
    )

    assert metrics["test_accuracy"] == pytest.approx(0.6)
    expected_loss = -np.mean(np.log([0.8, 0.7, 0.7, 0.3, 0.05]))
    assert metrics["test_loss"] == pytest.approx(expected_loss)
    assert metrics["epochs_trained"] == 3
    assert metrics["best_epoch"] == 2
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (40, 4, 5)


def test_confusion_matrix_counts_true_rows_against_predicted_columns(predictions):
    table = confusion_matrix_table(predictions, CLASS_NAMES)

    assert table.index.tolist() == table.columns.tolist() == CLASS_NAMES
    assert table.to_numpy().tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 1]]


def test_classification_report_per_class_and_averages(predictions):
    table = classification_report_table(predictions, CLASS_NAMES)

    assert table.index.tolist() == CLASS_NAMES + ["macro avg", "weighted avg"]
    assert list(table.columns) == ["precision", "recall", "f1-score", "support"]
    assert table["support"].tolist() == [1, 2, 2, 5, 5]
    assert table.loc["dog", "precision"] == 1.0
    assert table.loc["dog", "recall"] == 0.5
    assert table.loc["eel", "precision"] == 0.5
    assert table.loc["macro avg", "recall"] == pytest.approx((1 + 0.5 + 0.5) / 3)


def test_confusion_matrix_figure_shows_the_counts(predictions):
    figure = plot_confusion_matrix(confusion_matrix_table(predictions, CLASS_NAMES))

    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["1", "0", "0", "0", "1", "1", "1", "0", "1"]
    assert [
        label.get_text() for label in figure.axes[0].get_xticklabels()
    ] == CLASS_NAMES


def test_training_curves_show_training_and_validation(history):
    figure = plot_training_curves(history)

    assert [axes.get_title() for axes in figure.axes] == ["Accuracy", "Loss"]
    for axes in figure.axes:
        assert [line.get_label() for line in axes.get_lines()] == [
            "training",
            "validation",
        ]
    np.testing.assert_array_equal(
        figure.axes[1].get_lines()[1].get_ydata(), history["val_loss"]
    )


def titles(figure: Figure) -> list[str]:
    return [axes.get_title() for axes in figure.axes if axes.images]


def test_grid_of_correct_predictions(predictions):
    x_test = np.zeros((5, 28, 28, 1), np.float32)

    figure = plot_correct_predictions(
        x_test, predictions, CLASS_NAMES, EvaluationParams(grid_size=2)
    )

    assert len(figure.axes) == 4
    assert titles(figure) == [
        "true cat\npred cat (80%)",
        "true dog\npred dog (70%)",
        "true eel\npred eel (70%)",
    ]


def test_grid_of_misclassified_predictions_most_confident_first(predictions):
    x_test = (
        np.arange(5, dtype=np.float32)[:, None, None, None]
        * np.ones((5, 28, 28, 1), np.float32)
        / 5
    )

    figure = plot_misclassified_predictions(
        x_test, predictions, CLASS_NAMES, EvaluationParams(grid_size=3)
    )

    assert titles(figure) == ["true dog\npred eel (90%)", "true eel\npred cat (60%)"]
    shown_images = [axes.images[0].get_array() for axes in figure.axes if axes.images]
    assert shown_images[0].mean() == pytest.approx(4 / 5)  # test image 4 first
    assert shown_images[1].mean() == pytest.approx(3 / 5)
    assert "Misclassified test images (2 in all)" in figure.get_suptitle()


def test_a_model_for_other_classes_is_refused(base_parameters):
    model = build_model((28, 28, 1), 10, base_parameters.training.preset)
    x_test = np.zeros((2, 28, 28, 1), np.float32)

    with pytest.raises(
        ValueError, match=r"maps \(28, 28, 1\) images to 10 classes.*3 class names"
    ):
        predict_test_set(model, x_test, np.zeros(2, np.uint8), CLASS_NAMES)


def test_the_test_loss_is_scikit_learns_log_loss_near_zero_too():
    rng = np.random.default_rng(0)
    # Peaked rows, as a trained model's: many probabilities near zero
    probabilities = rng.dirichlet(np.full(10, 0.05), size=500).astype(np.float32)
    labels = rng.integers(0, 10, 500)

    assert cross_entropy(probabilities, labels) == pytest.approx(
        log_loss(
            labels,
            probabilities / probabilities.sum(axis=1, keepdims=True),
            labels=range(10),
        ),
        rel=1e-6,
    )
