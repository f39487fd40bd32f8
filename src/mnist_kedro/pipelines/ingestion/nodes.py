"""Nodes of the ingestion pipeline: the raw train and test sets, checked."""

from __future__ import annotations

import logging

import numpy as np

from mnist_kedro.parameters import ClassNames

logger = logging.getLogger(__name__)

RawSplits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def ingest_raw_data(raw: dict[str, np.ndarray], class_names: ClassNames) -> RawSplits:
    """Train images, train labels, test images and test labels from the raw
    source, once checked that they fit together and match the class names."""
    for split in ("train", "test"):
        images, labels = raw[f"{split}_images"], raw[f"{split}_labels"]
        if len(images) != len(labels):
            raise ValueError(
                f"The {split} set has {len(images)} images but {len(labels)} labels; "
                "the image and label files do not belong together."
            )
        if labels.size and labels.max() >= len(class_names):
            raise ValueError(
                f"The {split} labels go up to {labels.max()} but only "
                f"{len(class_names)} class names are configured "
                "(class_names in conf/base/parameters.yml)."
            )
    if raw["train_images"].shape[1:] != raw["test_images"].shape[1:]:
        raise ValueError(
            f"Train images are {raw['train_images'].shape[1:]} but test images are "
            f"{raw['test_images'].shape[1:]}; both must have the same size."
        )
    logger.info(
        "Ingested %d training and %d test images of %dx%d.",
        len(raw["train_images"]),
        len(raw["test_images"]),
        *raw["train_images"].shape[1:],
    )
    return (
        raw["train_images"],
        raw["train_labels"],
        raw["test_images"],
        raw["test_labels"],
    )
