"""Turn any picture of a handwritten digit into an MNIST-like 28×28 image."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

FRAME = 28  # MNIST's image size
DIGIT_BOX = 20  # MNIST's digits fit a 20×20 box, centred by centre of mass
INK_THRESHOLD = 0.1  # of the contrast between background and the darkest ink
# ITU-R 601-2 luma, as Pillow's greyscale conversion
LUMA = np.array([0.299, 0.587, 0.114])


def prepare_drawing(image: np.ndarray) -> np.ndarray:
    """An image of one digit (H×W grey, H×W×3 RGB or H×W×4 RGBA, any size, any
    background, uint8 or floats in [0, 1]) as MNIST prepared its digits: a
    float32 28×28 image in [0, 1], white ink on black, the ink's bounding box
    scaled to 20 pixels on its longer side, centred by centre of mass.

    Raises ``ValueError`` for an image with no ink.
    """
    grey = _to_grey(image)
    if np.median(_border(grey)) > 0.5:  # a light background: invert  # noqa: PLR2004
        grey = 1.0 - grey
    background = np.median(_border(grey))
    contrast = grey.max() - background
    if contrast < INK_THRESHOLD:
        raise ValueError("the image is blank: there is no digit to read")
    ink = np.clip((grey - background) / contrast, 0.0, 1.0)
    rows, columns = np.nonzero(ink > INK_THRESHOLD)
    digit = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    return _centre_by_mass(_fit_box(digit))


def _to_grey(image: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float64)
    if np.issubdtype(np.asarray(image).dtype, np.integer):
        pixels = pixels / 255.0
    if pixels.ndim == 3 and pixels.shape[2] == 4:  # RGBA: as seen on white paper  # noqa: PLR2004
        alpha = pixels[..., 3:]
        pixels = pixels[..., :3] * alpha + (1.0 - alpha)
    if pixels.ndim == 3 and pixels.shape[2] == 3:  # noqa: PLR2004
        pixels = pixels @ LUMA
    if pixels.ndim != 2:  # noqa: PLR2004
        raise ValueError(
            f"expected a grey, RGB or RGBA image, got shape {np.shape(image)}"
        )
    return np.clip(pixels, 0.0, 1.0)


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])


def _fit_box(digit: np.ndarray) -> np.ndarray:
    """Scales the digit so that its longer side is 20 pixels, keeping its shape."""
    height, width = digit.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(digit.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized), 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Pastes the digit into a 28×28 frame with its centre of mass in the middle."""
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    centre_row, centre_column = ndimage.center_of_mass(digit)
    top = int(round(FRAME / 2 - centre_row))
    left = int(round(FRAME / 2 - centre_column))
    # A lopsided digit may not fit once centred: keep it inside the frame.
    top = min(max(top, 0), FRAME - digit.shape[0])
    left = min(max(left, 0), FRAME - digit.shape[1])
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return frame
