"""Accuracy on photos: MNIST test digits rendered as photos of paper and of a
board (640×480, the digit a fifth to a half of the height, anywhere in the
frame, under uneven light, with sensor noise, blur, a slight rotation and
perspective, or in a pen's thin strokes), prepared as the service prepares an upload, against the same
digits as MNIST gives them.

    python benchmarks/photos.py --idx-dir ../shared/data/mnist --project-path .

Prints the accuracy per condition beside the clean accuracy and the accuracy
on the same digits drawn as the page's canvas sends them, with the median time
to prepare an image. The photos are made here, from a seed; none is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import transform

PHOTO_SIZE = (480, 640)  # rows, columns


@dataclass(frozen=True)
class Condition:
    """How a photo is taken: the digit's height as a share of the photo's, the
    paper's and the ink's grey levels, the light's unevenness (the darkest
    corner's share of the brightest's), noise, blur, rotation and perspective
    (the corners' shift as a share of the digit's size)."""

    heights: tuple[float, float] = (0.33, 0.5)
    paper: float = 0.85
    ink: float = 0.15
    light: float = 0.75
    noise: float = 0.03
    blur: float = 1.0
    degrees: float = 8.0
    perspective: float = 0.08
    thinner: float = 0.0


PAPER = Condition()
CONDITIONS = {
    "paper": PAPER,
    "board (chalk)": replace(PAPER, paper=0.2, ink=0.8),
    "strong shadow": replace(PAPER, light=0.45),
    "noisy": replace(PAPER, noise=0.08),
    "blurred": replace(PAPER, blur=2.5),
    "small digit": replace(PAPER, heights=(0.2, 0.25)),
    "tilted": replace(PAPER, degrees=15.0, perspective=0.15),
    "thin pen": replace(PAPER, thinner=0.015),
}


def photo(digit: np.ndarray, condition: Condition, rng: np.random.Generator):
    """``digit`` (28×28, uint8, white on black) as a uint8 grey photo."""
    rows, columns = PHOTO_SIZE
    height = int(rows * rng.uniform(*condition.heights))
    # MNIST's 28 pixels hold a 20-pixel digit: the frame is 1.4 times taller.
    side = int(height * 1.4)
    ink = transform.resize(digit / 255.0, (side, side), order=3, clip=True)
    if condition.thinner:
        ink = ndimage.grey_erosion(ink, size=round(2 * condition.thinner * side) + 1)
    ink = transform.rotate(ink, rng.uniform(-1, 1) * condition.degrees)
    corners = np.array([[0, 0], [side, 0], [side, side], [0, side]], float)
    shifted = corners + rng.uniform(-1, 1, (4, 2)) * condition.perspective * side
    warp = transform.ProjectiveTransform.from_estimate(corners, shifted)
    ink = transform.warp(ink, warp.inverse, output_shape=(side, side))
    canvas = np.zeros(PHOTO_SIZE)
    top = rng.integers(0, rows - side) if side < rows else 0
    left = rng.integers(0, columns - side)
    canvas[top : top + side, left : left + side] = ink[: rows - top]
    grey = condition.paper + (condition.ink - condition.paper) * canvas
    grey *= _uneven_light(condition.light, rng)
    grey = ndimage.gaussian_filter(grey, condition.blur)
    grey += rng.normal(0, condition.noise, PHOTO_SIZE)
    return (np.clip(grey, 0, 1) * 255).round().astype(np.uint8)


def _uneven_light(darkest: float, rng: np.random.Generator) -> np.ndarray:
    """A gradient of light from ``darkest`` to 1 in a random direction."""
    rows, columns = np.mgrid[0 : PHOTO_SIZE[0], 0 : PHOTO_SIZE[1]]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * columns + np.sin(angle) * rows
    ramp = (ramp - ramp.min()) / np.ptp(ramp)
    return darkest + (1 - darkest) * ramp


def photos(digits: np.ndarray, condition: Condition, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([photo(digit, condition, rng) for digit in digits])


def as_canvas(digits: np.ndarray) -> np.ndarray:
    """``digits`` as the page's canvas sends a drawing: 280×280, white on black."""
    return np.stack(
        [
            (transform.resize(digit / 255.0, (280, 280), order=3, clip=True) * 255)
            .round()
            .astype(np.uint8)
            for digit in digits
        ]
    )


def accuracy_per_condition(
    predict, digits: np.ndarray, labels: np.ndarray, seed: int = 0
) -> dict[str, dict[str, float]]:
    """The accuracy of ``predict`` (prepared 28×28 images → probabilities) on
    ``digits`` as MNIST gives them ("clean"), as the canvas sends them, and as
    photos of each condition, with the median time to prepare one image and
    the number of images refused as holding no digit or several (counted as
    wrong)."""
    from mnist_kedro.serving.preparation import (  # noqa: PLC0415
        FRAME,
        NoDigitError,
        prepare_drawing,
    )

    def measured(images) -> dict[str, float]:
        prepared, seconds, refused = [], [], []
        for image in images:
            started = time.perf_counter()
            try:
                prepared.append(prepare_drawing(image))
            except NoDigitError:
                prepared.append(np.zeros((FRAME, FRAME), np.float32))
                refused.append(len(prepared) - 1)
            seconds.append(time.perf_counter() - started)
        predicted = predict(np.stack(prepared)[..., np.newaxis]).argmax(axis=1)
        predicted[refused] = -1
        return {
            "accuracy": round(float((predicted == labels).mean()), 4),
            "refused": len(refused),
            "preparation_ms": round(1000 * float(np.median(seconds)), 2),
        }

    figures = {"clean": measured(digits), "canvas": measured(as_canvas(digits))}
    for name, condition in CONDITIONS.items():
        figures[name] = measured(photos(digits, condition, seed))
    return figures


def main() -> None:
    from run import machine, report, script_arguments  # noqa: PLC0415

    from mnist_kedro.datasets import IdxDataset  # noqa: PLC0415
    from mnist_kedro.serving.model import load_served_model  # noqa: PLC0415

    parser = script_arguments(__doc__)
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    parser.add_argument("--runtime", default="onnx")
    parser.add_argument("--digits", type=int, default=1000)
    parser.add_argument("--save-examples", type=Path, help="a PNG of each condition")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report("Machine", {"this run": machine()})
    digits = IdxDataset(
        filepath=str(args.idx_dir / "t10k-images-idx3-ubyte.gz")
    ).load()[: args.digits]
    labels = IdxDataset(
        filepath=str(args.idx_dir / "t10k-labels-idx1-ubyte.gz")
    ).load()[: args.digits]
    served = load_served_model(args.project_path, runtime=args.runtime)
    started = time.perf_counter()
    figures = accuracy_per_condition(served.predict, digits, labels)
    report(
        f"Accuracy on {args.digits} test digits, model {served.version} "
        f"({time.perf_counter() - started:.0f} s)",
        figures,
    )
    if args.save_examples:
        args.save_examples.mkdir(parents=True, exist_ok=True)
        for name, condition in CONDITIONS.items():
            Image.fromarray(photos(digits[:1], condition)[0]).save(
                args.save_examples / f"{name}.png"
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
