"""Turn a picture of one handwritten digit — a drawing from the page's canvas or
a photo of paper or a board — into an MNIST-like 28×28 image."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

# Imported here, not on a first request: scikit-image loads its submodules lazily.
from skimage.filters import threshold_otsu
from skimage.measure import block_reduce, label, regionprops
from skimage.morphology import dilation, disk, skeletonize

FRAME = 28  # MNIST's image size
DIGIT_BOX = 20  # MNIST's digits fit a 20×20 box, centred by centre of mass
# ITU-R 601-2 luma, as Pillow's greyscale conversion
LUMA = np.array([0.299, 0.587, 0.114])
# Enough resolution to find the digit: it ends up 20 pixels tall.
WORKING_SIDE = 160
# The light's unevenness is estimated at this coarser size, where the strokes
# are a few pixels wide and an opening of LIGHT_RADIUS removes them.
LIGHT_SIDE = 48
LIGHT_RADIUS = 9
# The least contrast of ink against its background, in [0, 1]: under it, noise.
INK_CONTRAST = 0.1
# The pixels around the strokes found that are kept, at the working size: the
# soft edges of a stroke and the faint marks beside it, which the model reads
# as in MNIST.
HALO = 6
# Marks near the largest one belong to its digit (the second stroke of a 4 or
# a 5) when within this share of its height; a mark elsewhere at least this
# share of its size is another digit.
NEAR = 0.25
ANOTHER_DIGIT = 0.4
# MNIST's strokes are about this share of a digit's height wide; a pen on paper
# draws thinner ones, widened to it when under THIN of it.
STROKE_SHARE = 0.12
THIN = 0.75


class NoDigitError(ValueError):
    """The image holds no digit that can be read, or more than one."""


def prepare_drawing(image: np.ndarray) -> np.ndarray:
    """An image of one digit (H×W grey, H×W×3 RGB or H×W×4 RGBA, any size, any
    background and lighting, uint8 or floats in [0, 1]) as MNIST prepared its
    digits: a float32 28×28 image in [0, 1], white ink on black, the digit
    scaled to 20 pixels on its longer side, centred by centre of mass.

    Photos are read as MNIST was made: the background's uneven light removed
    (a morphological opening at a coarse scale), the ink found by Otsu's
    threshold, the digit taken as the largest mark with the marks near it,
    strokes thinner than MNIST's widened.

    Raises ``NoDigitError`` for an image without ink (blank, or a photo of
    nothing) or with several digits.
    """
    full = _to_grey(image)
    paper = _flat_background(full)
    grey = _working_size(full)
    darkest, middle, brightest = np.percentile(grey, [1, 50, 99])
    if middle > (darkest + brightest) / 2:
        grey, full = 1.0 - grey, 1.0 - full  # ink becomes the bright part
        paper = None if paper is None else 1.0 - paper
    background = _background(grey) if paper is None else paper
    ink = np.clip(grey - background, 0.0, 1.0)
    smooth = ndimage.gaussian_filter(ink, sigma=1) if min(ink.shape) > FRAME else ink
    if np.percentile(smooth, 99.9) < INK_CONTRAST:
        raise NoDigitError("the image is blank: there is no digit to read")
    counts, edges = np.histogram(smooth, bins=256, range=(0.0, 1.0))
    otsu = threshold_otsu(hist=(counts, (edges[:-1] + edges[1:]) / 2))
    marks = smooth > max(otsu, INK_CONTRAST / 2)
    digit = _the_digit(label(marks, connectivity=2))
    level = np.percentile(ink[digit], 99)
    strokes = _widened(digit)
    near_strokes = ndimage.binary_dilation(strokes, iterations=HALO) & (
        smooth > INK_CONTRAST / 2
    )
    if full.shape != grey.shape:
        # Found at the working size, cut from the image at its own: a drawing
        # goes to its 20 pixels in one resampling, as before there were photos.
        if paper is None:
            background = _resized(background, full.shape)
        ink = np.clip(full - background, 0.0, 1.0)
        near_strokes = _resized(near_strokes * 1.0, full.shape) > 0.5  # noqa: PLR2004
        if strokes is not digit:
            strokes = _resized(strokes * 1.0, full.shape) > 0.5  # noqa: PLR2004
    pixels = np.where(near_strokes, np.clip(ink / level, 0.0, 1.0), 0.0)
    if strokes is not digit:  # widened: its shape, not the pen's faint ink
        pixels = np.maximum(pixels, ndimage.gaussian_filter(strokes * 1.0, 1))
    rows, columns = np.nonzero(pixels > INK_CONTRAST)
    box = pixels[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    return _centre_by_mass(_fit_box(box))


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


def _flat_background(grey: np.ndarray) -> float | None:
    """The grey level of a background without light or noise to remove — most
    of the pixels of a drawing on a screen or a clean scan hold exactly it —
    or None (a photo)."""
    level = float(np.median(grey[::4, ::4]))
    return level if 2 * np.count_nonzero(grey == level) >= grey.size else None


def _working_size(grey: np.ndarray) -> np.ndarray:
    scale = WORKING_SIDE / max(grey.shape)
    if scale >= 1:
        return grey
    return _resized(grey, (round(grey.shape[0] * scale), round(grey.shape[1] * scale)))


def _resized(grey: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pillow's area-averaging resize, several times faster than scikit-image's."""
    image = Image.fromarray(grey.astype(np.float32), mode="F")
    return np.asarray(image.resize(shape[::-1], Image.Resampling.BOX), np.float64)


def _background(grey: np.ndarray) -> np.ndarray:
    """The light on the background, without the (bright) ink: an opening at a
    coarse scale, smoothed and brought back to the image's size."""
    scale = LIGHT_SIDE / max(grey.shape)
    if scale >= 1:  # as small as MNIST's own images: a flat background
        return np.full_like(grey, np.median(grey))
    # The darkest pixel of each block: the background's, unless the block is
    # all ink, without the blur that averaging would spread the ink with.
    block = int(np.ceil(1 / scale))
    coarse = block_reduce(grey, block, func=np.min)
    light = ndimage.grey_opening(coarse, size=2 * LIGHT_RADIUS + 1)
    light = ndimage.gaussian_filter(light, sigma=LIGHT_RADIUS / 2)
    return _resized(light, grey.shape)


def _the_digit(labels: np.ndarray) -> np.ndarray:
    """The largest mark with the marks near it, as the digit grows by them;
    ``NoDigitError`` if there is none, or if another mark at least
    ``ANOTHER_DIGIT`` of its size lies elsewhere."""
    regions = sorted(regionprops(labels), key=lambda r: r.area, reverse=True)
    if not regions:
        raise NoDigitError("the image is blank: there is no digit to read")
    largest, others = regions[0], regions[1:]
    top, left, bottom, right = largest.bbox
    taken, grown = [largest.label], True
    while grown:
        grown = False
        for region in list(others):
            r_top, r_left, r_bottom, r_right = region.bbox
            gap = max(top - r_bottom, r_top - bottom, left - r_right, r_left - right)
            if gap <= NEAR * (bottom - top):
                taken.append(region.label)
                others.remove(region)
                top, left = min(top, r_top), min(left, r_left)
                bottom, right = max(bottom, r_bottom), max(right, r_right)
                grown = True
    if any(region.area >= ANOTHER_DIGIT * largest.area for region in others):
        raise NoDigitError(
            "the image holds several digits or marks: send one digit alone"
        )
    return np.isin(labels, taken)


def _widened(strokes: np.ndarray) -> np.ndarray:
    """The strokes, widened to MNIST's share of the digit's height if under
    ``THIN`` of it (the width: twice the median distance from their middle
    lines to their edges); otherwise the same array."""
    rows, columns = np.nonzero(strokes)
    height = np.ptp(rows) + 1
    # The strokes' box with a margin of background: the same middle lines and
    # distances as in the whole image, in a fraction of the time.
    box = np.pad(
        strokes[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1], 1
    )
    middle = skeletonize(box)
    width = 2 * float(np.median(ndimage.distance_transform_edt(box)[middle]))
    if width >= THIN * STROKE_SHARE * height:
        return strokes
    missing = STROKE_SHARE * height - width
    return dilation(strokes, disk(max(1, round(missing / 2))))


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
