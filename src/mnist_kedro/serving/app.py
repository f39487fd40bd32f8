"""The web service: a drawing page, ``POST /predict`` and ``GET /health``."""

from __future__ import annotations

import contextlib
import io
import math
from importlib.resources import files
from time import perf_counter
from typing import Annotated, Literal

import anyio
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image, ImageDraw, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mnist_kedro import __version__

from .model import ServedModel
from .preparation import FRAME, WORKING_SIDE, prepare_drawing

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096  # a small file may still decode to a huge image
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
# A larger image is decoded at a reduced scale where the format allows it
# (JPEG), and reduced at once otherwise, by a whole factor: to between one and
# two times the size that preparation works at, never at full size.
DECODED_SIDE = 2 * WORKING_SIDE
REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA"}
# Images decoded and prepared at once, each in a worker thread, off the event
# loop (which keeps answering /health): the others wait their turn, so that a
# burst of large images holds this many decoded at a time.
PREPARING_AT_ONCE = 2

# Strict: JSON true and false are not pixel values.
Pixel = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]
Row = Annotated[list[Pixel], Field(min_length=FRAME, max_length=FRAME)]


class PixelsRequest(BaseModel):
    """A 28×28 image already prepared like MNIST's: white ink on black, in [0, 1]."""

    model_config = ConfigDict(extra="forbid")
    pixels: Annotated[
        list[Row],
        Field(
            min_length=FRAME,
            max_length=FRAME,
            description=f"{FRAME} rows of {FRAME} numbers in [0, 1]",
        ),
    ]


GreyLevel = Annotated[int, Field(ge=0, le=255)]
PreparedRow = Annotated[list[GreyLevel], Field(min_length=FRAME, max_length=FRAME)]


class Prediction(BaseModel):
    digit: str = Field(description="the class name of the most probable class")
    label: int = Field(ge=0, description="its index")
    probabilities: dict[str, float] = Field(description="of every class, by name")
    prepared: Annotated[
        list[PreparedRow],
        Field(
            min_length=FRAME,
            max_length=FRAME,
            description=(
                f"the {FRAME}×{FRAME} image that the model read, as the service "
                "prepared it: rows of grey levels, 0 the background, 255 the ink"
            ),
        ),
    ]
    model_version: str
    server_time_ms: float = Field(ge=0, description="time spent on the server")


class Health(BaseModel):
    status: Literal["ready"]
    model_version: str
    runtime: Literal["tensorflow", "onnx", "litert"] = Field(
        description="what runs the model"
    )


class ErrorMessage(BaseModel):
    detail: str = Field(description="what is wrong and what to send instead")


class FieldError(BaseModel):
    type: str
    loc: list[str | int] = Field(description="where in the JSON body")
    msg: str


class ValidationErrors(BaseModel):
    detail: list[FieldError]


def _error(description: str, model: type[BaseModel] = ErrorMessage) -> dict:
    return {"model": model, "description": description}


# Any request body over the limit is refused before it is read.
TOO_LARGE = {
    413: _error(
        f"The body is over {MAX_BODY_BYTES // 2**20} MB, or the image over "
        f"{MAX_IMAGE_PIXELS // 10**6} megapixels."
    )
}
PREDICTION_ERRORS = {
    400: _error(
        "The body is empty or not a readable PNG or JPEG; the image holds no "
        "digit (blank, a photo of nothing) or several; or the form has no "
        "field 'image'."
    ),
    **TOO_LARGE,
    415: _error("Another content type than PNG, JPEG, a form or JSON."),
    422: _error(
        "The JSON is malformed, has other fields than 'pixels', or its pixels are "
        "not 28 rows of 28 numbers in [0, 1].",
        ValidationErrors,
    ),
}


class BodySizeLimit:
    """Answers 413 to a request body over ``max_bytes`` before anything reads it."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a chunked body that lied about nothing
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope, receive, send) -> None:
        response = JSONResponse(
            {"detail": f"request body over the limit of {self.max_bytes} bytes"}, 413
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def create_app(served: ServedModel) -> FastAPI:
    """The service for one trained model."""
    static = files(__package__) / "static"
    page = (static / "index.html").read_text()
    icon = (static / "favicon.svg").read_text()
    preparing = anyio.CapacityLimiter(PREPARING_AT_ONCE)

    @contextlib.asynccontextmanager
    async def warmed_up(app: FastAPI):
        """One prediction of a drawn stroke before the service answers: the
        first decoding, preparation and prediction of a process take several
        times as long as the next ones, and would fall on the first user."""
        image = await anyio.to_thread.run_sync(
            _prepare, _stroke_png(), limiter=preparing
        )
        served.predict(image[np.newaxis, :, :, np.newaxis])
        yield

    app = FastAPI(
        lifespan=warmed_up,
        title="mnist-kedro",
        version=__version__,
        description="Handwritten digit recognition with the model the pipeline trained.",
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def drawing_page() -> str:
        return page

    @app.get("/favicon.svg", include_in_schema=False)
    async def favicon() -> Response:
        return Response(icon, media_type="image/svg+xml")

    @app.get("/health", responses=TOO_LARGE)
    async def health() -> Health:
        return Health(
            status="ready", model_version=served.version, runtime=served.runtime
        )

    @app.post(
        "/predict",
        responses=PREDICTION_ERRORS,
        openapi_extra={
            "requestBody": {
                "content": {
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "image": {"type": "string", "format": "binary"}
                            },
                            "required": ["image"],
                        },
                        "encoding": {"image": {"contentType": "image/png, image/jpeg"}},
                    },
                    "application/json": {"schema": PixelsRequest.model_json_schema()},
                },
                "required": True,
            }
        },
    )
    async def predict(request: Request) -> Prediction:
        """The digit in a PNG or JPEG image (any size and background; sent as
        the body or as the form field ``image``) or in a JSON 28×28 array."""
        started = perf_counter()
        image = await _read_image(request, preparing)
        probabilities = served.predict(image[np.newaxis, :, :, np.newaxis])[0]
        label = int(probabilities.argmax())
        return Prediction(
            digit=served.class_names[label],
            label=label,
            probabilities=dict(zip(served.class_names, probabilities.tolist())),
            prepared=(image * 255).round().astype(np.uint8).tolist(),
            model_version=served.version,
            server_time_ms=(perf_counter() - started) * 1000,
        )

    return app


async def _read_image(request: Request, preparing: anyio.CapacityLimiter) -> np.ndarray:
    """The request's image as a prepared 28×28 array, or an HTTP error; an
    encoded image is decoded and prepared in a worker thread of ``preparing``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            pixels = PixelsRequest.model_validate_json(await request.body()).pixels
        except ValidationError as error:
            raise HTTPException(
                422,
                error.errors(
                    include_url=False, include_input=False, include_context=False
                ),
            ) from None
        return np.asarray(pixels, dtype=np.float32)
    if content_type in IMAGE_FORMATS:
        data = await request.body()
    elif content_type == "multipart/form-data":
        upload = (await request.form()).get("image")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "the form has no file field named 'image'")
        data = await upload.read()
    else:
        raise HTTPException(
            415,
            "send a PNG or JPEG image (as the body or the form field 'image') "
            "or JSON {'pixels': 28×28 numbers in [0, 1]}",
        )
    if not data:
        raise HTTPException(400, "the body is empty: send a PNG or JPEG image")
    return await anyio.to_thread.run_sync(_prepare, data, limiter=preparing)


def _prepare(data: bytes) -> np.ndarray:
    try:
        return prepare_drawing(_decode(data))
    except ValueError as error:
        raise HTTPException(400, str(error)) from None


def _decode(data: bytes) -> np.ndarray:
    """The grey levels of a PNG or JPEG image (transparent parts as white
    paper), its longer side reduced to at most ``DECODED_SIDE``, or an HTTP
    error."""
    too_large = HTTPException(413, f"images are limited to {MAX_IMAGE_PIXELS} pixels")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise too_large
            opened.draft("RGB", (DECODED_SIDE, DECODED_SIDE))  # JPEG: 1/2 to 1/8
            factor = math.ceil(max(opened.size) / DECODED_SIDE)
            image = opened
            if factor > 1:
                if image.mode not in REDUCIBLE_MODES:  # as a bilevel or palette PNG
                    image = image.convert("RGBA")
                image = image.reduce(factor)
            return _grey(image)
    except Image.DecompressionBombError:
        raise too_large from None
    except UnidentifiedImageError:
        raise HTTPException(
            400, "not a PNG or JPEG image: send the digit as one of those"
        ) from None
    except (OSError, SyntaxError) as error:  # Pillow's words for a damaged file
        raise HTTPException(
            400, f"not a readable PNG or JPEG image ({error}): send it again whole"
        ) from None


def _grey(image: Image.Image) -> np.ndarray:
    """Pillow's greyscale (the luma of ``preparation``), several times faster
    than converting an array."""
    if image.has_transparency_data:
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(paper, image)
    return np.asarray(image.convert("L"))


def _stroke_png() -> bytes:
    """A PNG of a 1 as the page's canvas sends it."""
    image = Image.new("RGBA", (280, 280), "black")
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill="white", width=18)
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    return encoded.getvalue()
