"""Schemathesis hooks (``SCHEMATHESIS_HOOKS``): the images it sends are drawings,
of any size, background and colour, with some ink on them, as users send; its
own samples are 1×1 pixels, which hold no digit and would be refused."""

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image, ImageDraw


@st.composite
def drawings(draw, image_format: str) -> bytes:
    width, height = draw(st.integers(16, 160)), draw(st.integers(16, 160))
    background = draw(st.one_of(st.integers(0, 60), st.integers(195, 255)))
    ink = 255 - background
    image = Image.new("L", (width, height), background)
    points = draw(
        st.lists(
            st.tuples(st.integers(0, width - 1), st.integers(0, height - 1)),
            min_size=2,
            max_size=8,
            unique=True,
        )
    )
    ImageDraw.Draw(image).line(points, fill=ink, width=max(2, min(width, height) // 8))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA"]))
    buffer = io.BytesIO()
    image.convert(mode if image_format == "PNG" else "RGB").save(buffer, image_format)
    return buffer.getvalue()


schemathesis.openapi.media_type("image/png", drawings("PNG"))
schemathesis.openapi.media_type("image/jpeg", drawings("JPEG"))
