import logging

import numpy as np
import pytest

from mnist_kedro.pipelines.ingestion.nodes import ingest_raw_data

CLASS_NAMES = [str(digit) for digit in range(10)]


def raw_data(train=4, test=3, train_size=(28, 28), test_size=(28, 28), top_label=9):
    return {
        "train_images": np.zeros((train, *train_size), np.uint8),
        "train_labels": np.arange(train, dtype=np.uint8) % (top_label + 1),
        "test_images": np.zeros((test, *test_size), np.uint8),
        "test_labels": np.zeros(test, np.uint8),
    }


def test_returns_the_four_splits_in_order(caplog):
    raw = raw_data(top_label=3)

    with caplog.at_level(logging.INFO, logger="mnist_kedro"):
        splits = ingest_raw_data(raw, CLASS_NAMES)

    assert [split.shape for split in splits] == [(4, 28, 28), (4,), (3, 28, 28), (3,)]
    assert splits[1] is raw["train_labels"]
    assert "Ingested 4 training and 3 test images of 28x28." in caplog.text


def test_image_and_label_counts_must_match():
    raw = raw_data()
    raw["test_labels"] = raw["test_labels"][:2]

    with pytest.raises(ValueError, match="The test set has 3 images but 2 labels"):
        ingest_raw_data(raw, CLASS_NAMES)


def test_train_and_test_images_must_have_one_size():
    with pytest.raises(
        ValueError, match=r"Train images are \(28, 28\) but test images are \(32, 32\)"
    ):
        ingest_raw_data(raw_data(test_size=(32, 32)), CLASS_NAMES)


def test_labels_beyond_the_configured_classes_are_refused():
    with pytest.raises(
        ValueError, match="The train labels go up to 3 but only 3 class names"
    ):
        ingest_raw_data(raw_data(top_label=3), ["a", "b", "c"])
