"""PLACEHOLDER, to be replaced at merge by the media-use branch's service/media/images.py.

A minimal Pillow-based `process` with the agreed interface, so that the upload path runs end to
end meanwhile: sniff the type from the bytes, refuse what is not JPEG/PNG/GIF/WebP (415) and
what is empty, truncated or too large in pixels (422), apply the EXIF orientation and re-encode
without metadata, and add WebP variants 320/960/1600 wide (never upscaled).
"""

import io
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image as Pillow
from PIL import ImageOps, UnidentifiedImageError

from service.contract.errors import FolioError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
VARIANT_WIDTHS = (320, 960, 1600)


class UnsupportedMedia(FolioError):
    """The bytes are not an image of an allowed type (415)."""

    status_code = 415


class InvalidImage(FolioError):
    """The image is empty, truncated or has too many pixels (422)."""

    status_code = 422


@dataclass(frozen=True)
class Image:
    """One rendition, ready to store."""

    name: str
    content_type: str
    width: int
    height: int
    data: bytes


def process(source: BinaryIO, *, max_pixels: int) -> list[Image]:
    """The cleaned original first, then each variant. Blocking (run it off the event loop)."""
    source.seek(0)
    head = source.read(1)
    if not head:
        raise InvalidImage("file", "is empty")
    source.seek(0)
    try:
        opened = Pillow.open(source, formats=list(FORMATS))
    except UnidentifiedImageError:
        raise UnsupportedMedia("file", "must be a JPEG, PNG, GIF or WebP image") from None
    except (OSError, SyntaxError, ValueError):
        raise InvalidImage("file", "is truncated or corrupt") from None
    if opened.width * opened.height > max_pixels:
        raise InvalidImage("file", f"has more than {max_pixels} pixels")
    kind = str(opened.format)
    try:
        opened.load()
        upright = ImageOps.exif_transpose(opened) or opened
    except (OSError, SyntaxError, ValueError):
        raise InvalidImage("file", "is truncated or corrupt") from None
    images = [_encode("original", upright, kind)]
    for width in VARIANT_WIDTHS:
        if width < upright.width:
            height = max(1, round(upright.height * width / upright.width))
            images.append(_encode(f"w{width}", upright.resize((width, height)), "WEBP"))
    return images


def _encode(name: str, picture: Pillow.Image, kind: str) -> Image:
    if kind in ("JPEG",) and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    if kind == "WEBP" and picture.mode not in ("RGB", "RGBA"):
        picture = picture.convert("RGBA")
    out = io.BytesIO()
    picture.save(out, format=kind)
    return Image(name, FORMATS[kind], picture.width, picture.height, out.getvalue())
