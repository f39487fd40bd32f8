"""Nodes of the preprocessing pipeline: model-ready arrays from the raw uint8 sets."""

from __future__ import annotations

import logging

import numpy as np

from mnist_kedro.parameters import PreprocessingParams

logger = logging.getLogger(__name__)


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 images N×H×W to float32 N×H×W×1 in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def split_train_validation(
    images: np.ndarray, labels: np.ndarray, preprocessing: PreprocessingParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded split of the (optionally limited) training set into
    scaled training and validation images with their labels."""
    from sklearn.model_selection import train_test_split

    seed = preprocessing.seed
    train_limit = preprocessing.train_limit
    if train_limit is not None and train_limit < len(labels):
        images, _, labels, _ = train_test_split(
            images, labels, train_size=train_limit, stratify=labels, random_state=seed
        )
    train_images, val_images, train_labels, val_labels = train_test_split(
        images,
        labels,
        test_size=preprocessing.validation_fraction,
        stratify=labels,
        random_state=seed,
    )
    logger.info(
        "Split %d images into %d for training and %d for validation.",
        len(labels),
        len(train_labels),
        len(val_labels),
    )
    return (
        scale_images(train_images),
        train_labels,
        scale_images(val_images),
        val_labels,
    )
