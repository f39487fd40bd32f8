"""Drawn digits and photos of digits end up like MNIST's: white on black,
20-pixel box, centred by centre of mass in 28×28; an image without a digit, or
with several, is refused."""

from dataclasses import replace

import numpy as np
import pytest
from photos import CONDITIONS, PAPER, photo, photos
from PIL import Image, ImageDraw
from scipy import ndimage

from mnist_kedro.datasets import IdxDataset
from mnist_kedro.serving.preparation import NoDigitError, prepare_drawing


def drawing(
    shape,
    *,
    ink=(0, 0, 0),
    paper=(255, 255, 255),
    size=(300, 240),
    width=14,
    mode="RGB",
):
    """A drawing on a canvas: ``shape`` is ``"stroke"`` (a "1") or ``"ring"`` (a "0")."""
    canvas = Image.new(mode, size, paper)
    pen = ImageDraw.Draw(canvas)
    if shape == "stroke":
        pen.line([(40, 30), (46, 110)], fill=ink, width=width)  # small, top left
    else:
        pen.ellipse([(150, 80), (230, 200)], outline=ink, width=width)
    return np.asarray(canvas)


def assert_mnist_like(prepared):
    assert prepared.shape == (28, 28)
    assert prepared.dtype == np.float32
    assert prepared.min() == 0.0 and prepared.max() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(ndimage.center_of_mass(prepared), (14, 14), atol=0.75)
    rows, columns = np.nonzero(prepared > 0.1)
    assert max(np.ptp(rows), np.ptp(columns)) + 1 in (20, 21)
    assert (prepared[[0, -1]] == 0).all() and (prepared[:, [0, -1]] == 0).all()


@pytest.mark.parametrize("shape", ["stroke", "ring"])
def test_a_small_off_centre_dark_on_light_drawing(shape):
    prepared = prepare_drawing(drawing(shape))

    assert_mnist_like(prepared)


def test_a_vertical_stroke_stays_tall_and_thin():
    prepared = prepare_drawing(drawing("stroke"))

    rows, columns = np.nonzero(prepared > 0.1)
    assert np.ptp(rows) + 1 == 20 and np.ptp(columns) + 1 < 10


def test_thick_strokes():
    prepared = prepare_drawing(drawing("ring", width=45))

    assert_mnist_like(prepared)
    assert (prepared > 0.5).mean() > 0.2


def test_white_on_black_is_not_inverted():
    light_on_dark = prepare_drawing(
        drawing("ring", ink=(255, 255, 255), paper=(0, 0, 0))
    )

    np.testing.assert_allclose(
        light_on_dark, prepare_drawing(drawing("ring")), atol=0.02
    )


def test_colour_ink_on_colour_paper():
    coloured = prepare_drawing(drawing("ring", ink=(200, 30, 30), paper=(250, 230, 90)))

    assert_mnist_like(coloured)
    np.testing.assert_allclose(coloured, prepare_drawing(drawing("ring")), atol=0.1)


def test_transparent_canvas_as_a_browser_exports_it():
    rgba = prepare_drawing(
        drawing("ring", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")
    )

    np.testing.assert_allclose(rgba, prepare_drawing(drawing("ring")), atol=0.02)


def test_a_drawing_on_a_flat_background_skips_the_lights_estimate_to_the_same_result():
    seven = Image.new("L", (280, 280), 0)  # as the page's canvas sends it
    ImageDraw.Draw(seven).line([(70, 60), (200, 60), (120, 230)], fill=255, width=18)
    flat = np.asarray(seven)
    # One grey level of noise: no longer flat, so the light is estimated.
    speckled = flat ^ np.random.default_rng(0).integers(0, 2, flat.shape, np.uint8)

    np.testing.assert_allclose(
        prepare_drawing(flat), prepare_drawing(speckled), atol=0.01
    )


def test_floats_in_unit_range_are_accepted():
    grey = drawing("ring", ink=0, paper=255, mode="L") / 255.0

    np.testing.assert_allclose(
        prepare_drawing(grey), prepare_drawing(drawing("ring")), atol=0.02
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.full((50, 50), 255, np.uint8), "blank"),
        (np.zeros((10, 10, 2)), "expected a grey, RGB or RGBA image"),
    ],
)
def test_images_without_a_digit_are_refused(image, message):
    with pytest.raises(ValueError, match=message):
        prepare_drawing(image)


def test_real_mnist_digits_come_out_as_they_went_in(mnist_idx_dir):
    digits = IdxDataset(
        filepath=str(mnist_idx_dir / "t10k-images-idx3-ubyte.gz")
    ).load()[:500]

    similarity = np.array(
        [
            np.corrcoef(prepare_drawing(digit).ravel(), digit.ravel())[0, 1]
            for digit in digits
        ]
    )

    # MNIST's own preparation, redone: the same image but for a few digits with
    # faint stray pixels, whose bounding box comes out differently.
    assert np.median(similarity) > 0.999
    assert (similarity > 0.98).mean() >= 0.99


@pytest.fixture(scope="module")
def test_digits(mnist_idx_dir):
    folder = mnist_idx_dir
    images = IdxDataset(filepath=str(folder / "t10k-images-idx3-ubyte.gz")).load()
    labels = IdxDataset(filepath=str(folder / "t10k-labels-idx1-ubyte.gz")).load()
    return images[:200], labels[:200]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_photo_comes_out_as_a_perfect_scan_of_the_same_digit(test_digits, condition):
    """The same digits in the same places, sizes and angles, as photos and as
    black ink on white under even light without noise or blur."""
    digits = test_digits[0][:40]
    taken = CONDITIONS[condition]
    scanned = replace(taken, paper=1.0, ink=0.0, light=1.0, noise=0.0, blur=0.0)

    similarity = [
        np.corrcoef(prepare_drawing(a).ravel(), prepare_drawing(b).ravel())[0, 1]
        for a, b in zip(photos(digits, taken), photos(digits, scanned))
    ]

    # The digit is cut from the photo at its own size, where heavy noise
    # stays on the strokes: 0.78 then, over 0.88 otherwise.
    floor = 0.75 if condition == "noisy" else 0.85
    assert np.median(similarity) > floor, sorted(similarity)


def test_a_photo_of_nothing_is_blank():
    nothing = photo(np.zeros((28, 28), np.uint8), PAPER, np.random.default_rng(0))

    with pytest.raises(NoDigitError, match="blank"):
        prepare_drawing(nothing)


def test_two_digits_side_by_side_are_refused(test_digits):
    pair = np.hstack(test_digits[0][:2])
    taken = photo(pair, PAPER, np.random.default_rng(0))

    with pytest.raises(NoDigitError, match="several digits"):
        prepare_drawing(taken)


def test_a_digit_drawn_in_two_strokes_is_one_digit():
    four = Image.new("L", (300, 300), 255)
    pen = ImageDraw.Draw(four)
    pen.line([(100, 40), (80, 160), (200, 160)], fill=0, width=12)  # ∟
    pen.line([(170, 100), (170, 260)], fill=0, width=12)  # |, not touching

    prepared = prepare_drawing(np.asarray(four))

    rows, _ = np.nonzero(prepared > 0.1)
    assert np.ptp(rows) + 1 >= 19  # both strokes: the 4 is 20 pixels tall
