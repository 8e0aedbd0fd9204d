"""What a valid query image is, for schemathesis (loaded with ``SCHEMATHESIS_HOOKS=schemathesis_hooks``).

JSON Schema can say "base64" (``format: byte``) and "a file" (``format: binary``), not "an image the
server can decode"; left alone, the fuzzer's "valid" images are random bytes that any honest server
refuses. These strategies draw real images: random size, colour and format, made by Pillow.
"""

from __future__ import annotations

import base64
import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image

FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/bmp": "BMP",
}


def _picture(fmt: str, width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, fmt)
    return out.getvalue()


def images(fmt: str) -> st.SearchStrategy[bytes]:
    sides = st.integers(min_value=1, max_value=96)
    colours = st.tuples(*[st.integers(0, 255)] * 3)
    return st.builds(_picture, st.just(fmt), sides, sides, colours)


for media_type, pillow_format in FORMATS.items():
    schemathesis.openapi.media_type(media_type, images(pillow_format))

schemathesis.openapi.format(
    "byte",
    st.sampled_from(sorted(FORMATS.values())).flatmap(images).map(lambda b: base64.b64encode(b).decode()),
)
