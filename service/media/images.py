"""Turn an uploaded file into the renditions Folio stores: pure, blocking, no database.

`process` sniffs the type from the bytes (Pillow, restricted to JPEG, PNG, GIF and WebP; never
the filename or the declared type), bounds the work before decoding (the decompression-bomb
guard), decodes it whole (a truncated file fails here), turns it upright (EXIF orientation) and
re-encodes it from its pixels alone, so that no metadata survives: EXIF, GPS, XMP, ICC profiles
(colours are converted to sRGB first), comments, text chunks. Then it resizes the variants.

Polyglots (a valid image that is also HTML, a script, a ZIP or a PDF) are handled twice:
- detected: each format's own structure says where the image ends (PNG's IEND chunk, JPEG's EOI
  marker after its segments and entropy-coded data, GIF's trailer, WebP's RIFF size); bytes past
  that end that carry another format's signature (markup, script, PHP, PDF, ZIP, executables)
  are refused with 415. Other trailing bytes (a camera's trailer, a second MPO picture, a
  phone's motion clip) are allowed and dropped.
- neutralised: whatever hides inside the image (a comment, a text chunk, an EXIF field) or after
  it never reaches storage, because only the decoded pixels are encoded again.

Animated GIF and WebP keep their animation in the original (every frame re-encoded, with its
durations and loop count); the variants are stills of the first frame.
"""

import io
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image as PILImage
from PIL import ImageCms, UnidentifiedImageError

from service.contract.errors import FolioError

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
                 "GIF": "image/gif", "WEBP": "image/webp"}
# Each variant's width; a variant wider than the image is not made (never upscaled).
VARIANT_WIDTHS = (320, 960, 1600)
VARIANT_FORMAT = ("WEBP", "image/webp")
JPEG_QUALITY = 90
WEBP_QUALITY = 80
ORIGINAL_WEBP_QUALITY = 90
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
# Signatures of formats that must not ride behind an image (case-insensitive for markup).
FOREIGN_MARKUP = (b"<html", b"<script", b"<svg", b"<?xml", b"<!doctype", b"<body", b"<iframe",
                  b"<?php", b"<?=", b"<object", b"<embed", b"<head", b"<meta", b"<style",
                  b"<img", b"<a ", b"<div", b"javascript:", b"<%")
FOREIGN_BINARY = (b"%PDF-", b"PK\x03\x04", b"PK\x05\x06", b"PK\x01\x02", b"\x7fELF",
                  b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\xca\xfe\xba\xbe")
FOREIGN_LEADING = (b"MZ", b"#!")
ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transposition that makes the pixels upright (ImageOps.exif_transpose's).
ORIENTATION = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT, 3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM, 5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270, 7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}
UNSUPPORTED_MESSAGE = "must be a JPEG, PNG, GIF or WebP image"


class UnsupportedMedia(FolioError):
    """The bytes are not an image Folio accepts (another type, or an image carrying a payload)."""

    status_code = 415


class InvalidImage(FolioError):
    """The bytes are an accepted type but cannot be used: empty, truncated, too many pixels."""

    status_code = 422


@dataclass(frozen=True)
class Image:
    """One rendition, ready to store."""

    name: str  # "original" or the variant's name, e.g. "w320"
    content_type: str  # what the bytes are: image/jpeg, image/png, image/gif, image/webp
    width: int
    height: int
    data: bytes


def process(source: BinaryIO, *, max_pixels: int) -> list[Image]:
    """The cleaned original first, then each variant. Blocking (run it off the event loop).

    Raises UnsupportedMedia (-> 415), InvalidImage (-> 422: empty, truncated, too many pixels).
    """
    data = source.read()
    if not data:
        raise InvalidImage("file", "is empty")
    picture = _open(data, max_pixels)
    with picture:
        frames = _decode(picture, data, max_pixels)
        _refuse_payload(picture.format or "", data)
        original = _encode_original(picture.format or "", frames, picture.info)
    first = frames[0][0]
    return [original, *_variants(first)]


def _open(data: bytes, max_pixels: int) -> PILImage.Image:
    """Identify the bytes (header only) and refuse a type or a size Folio does not take."""
    try:
        picture = PILImage.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except PILImage.DecompressionBombError:
        raise InvalidImage("file", f"has too many pixels (at most {max_pixels})") from None
    except UnidentifiedImageError:
        if _looks_like_allowed(data):  # the start of an image whose header is cut short
            raise InvalidImage("file", "is truncated or corrupt") from None
        raise UnsupportedMedia("file", UNSUPPORTED_MESSAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise InvalidImage("file", "is truncated or corrupt") from None
    if picture.width * picture.height > max_pixels or picture.width < 1 or picture.height < 1:
        picture.close()
        raise InvalidImage("file", f"has too many pixels (at most {max_pixels})")
    return picture


def _looks_like_allowed(data: bytes) -> bool:
    """Whether the bytes start like a JPEG, PNG, GIF or WebP (then a failure to open is 422)."""
    if data.startswith(MAGIC) or any(magic.startswith(data) for magic in MAGIC):
        return True
    return data.startswith(b"RIFF") and (len(data) < 12 or data[8:12] == b"WEBP")


def _decode(picture: PILImage.Image, data: bytes, max_pixels: int) -> list[tuple[PILImage.Image, int]]:
    """Every frame decoded, upright and in sRGB, with its duration; the animation's pixels bounded.

    An animation's frames together may hold at most `max_pixels` pixels: a small file can
    otherwise ask for thousands of full-size frames.
    """
    frames: list[tuple[PILImage.Image, int]] = []
    budget = max_pixels
    try:
        # What ImageOps.exif_transpose does to one frame, applied to every frame of an animation
        # (PNG may decode the image to find its eXIf chunk: inside the try).
        turn = ORIENTATION.get(picture.getexif().get(ORIENTATION_TAG, 1))
        count = getattr(picture, "n_frames", 1) if picture.format in ("GIF", "WEBP") else 1
        for index in range(count):
            budget -= picture.width * picture.height
            if budget < 0:
                raise InvalidImage("file", f"has too many pixels (at most {max_pixels} in all "
                                   "frames of an animation)")
            picture.seek(index)
            picture.load()
            frame = picture.transpose(turn) if turn is not None else picture.copy()
            frames.append((_to_srgb(frame, picture.info.get("icc_profile")),
                           int(picture.info.get("duration", 0) or 0)))
    except PILImage.DecompressionBombError:
        raise InvalidImage("file", f"has too many pixels (at most {max_pixels})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError):
        raise InvalidImage("file", "is truncated or corrupt") from None
    return frames


def _to_srgb(frame: PILImage.Image, icc: bytes | None) -> PILImage.Image:
    """Convert the pixels from an embedded colour profile to sRGB, so dropping it keeps colours."""
    if not icc or frame.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return frame
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if frame.mode == "RGBA" else "RGB"
        if frame.mode == "L":  # a grey profile: converting to RGB gains nothing
            return frame
        return ImageCms.profileToProfile(frame, source, target, outputMode=mode) or frame
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return frame  # an unusable profile: keep the pixels as they are


def _image_end(kind: str, data: bytes) -> int | None:
    """Where the image's own structure ends (None when it cannot tell)."""
    try:
        if kind == "PNG":
            return _png_end(data)
        if kind in ("JPEG", "MPO"):
            return _jpeg_end(data)
        if kind == "GIF":
            return _gif_end(data)
        if kind == "WEBP":
            size = int.from_bytes(data[4:8], "little")
            return 8 + size + (size & 1)
    except IndexError:
        return None
    return None


def _png_end(data: bytes) -> int | None:
    """After the IEND chunk."""
    at = 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        at += 12 + length
        if kind == b"IEND":
            return at
    return None


def _jpeg_end(data: bytes) -> int | None:
    """After the EOI marker: segments by their lengths, entropy-coded data up to its marker."""
    at, size = 2, len(data)
    while at < size:
        if data[at] != 0xFF:
            return None
        while at < size and data[at] == 0xFF:  # fill bytes
            at += 1
        marker = data[at]
        at += 1
        if marker == 0xD9:
            return at
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        at += int.from_bytes(data[at:at + 2], "big")
        if marker == 0xDA:  # scan data: stuffed FF00 and restart markers are part of it
            while True:
                found = data.find(b"\xff", at)
                if found < 0 or found + 1 >= size:
                    return None
                following = data[found + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    at = found + (1 if following == 0xFF else 2)
                    continue
                at = found
                break
    return None


def _gif_end(data: bytes) -> int | None:
    """After the trailer byte: the colour tables and every block's sub-blocks skipped."""
    flags = data[10]
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while at < len(data):
        block = data[at]
        if block == 0x3B:
            return at + 1
        if block == 0x21:
            at += 2
        elif block == 0x2C:
            local = data[at + 9]
            at += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1
        else:
            return None
        while data[at]:  # sub-blocks, up to the empty one
            at += 1 + data[at]
        at += 1
    return None


def _refuse_payload(kind: str, data: bytes) -> None:
    """415 when another format rides behind the image (a polyglot)."""
    end = _image_end(kind, data)
    trailer = data[end:] if end is not None else b""
    if not trailer.strip(b"\x00\xff \t\r\n"):
        return
    lowered = trailer.lower()
    foreign = (any(mark in lowered for mark in FOREIGN_MARKUP)
               or any(mark in trailer for mark in FOREIGN_BINARY)
               or trailer.lstrip(b"\x00 \t\r\n").startswith(FOREIGN_LEADING)
               or zipfile.is_zipfile(io.BytesIO(data)))
    if foreign:
        raise UnsupportedMedia("file", "carries another file after the image; "
                               + UNSUPPORTED_MESSAGE + " alone")


def _clean(frame: PILImage.Image) -> PILImage.Image:
    """The frame's pixels with no metadata: only transparency, which is pixel data, is kept."""
    clean = frame.copy()
    transparency = frame.info.get("transparency")
    clean.info = {} if transparency is None else {"transparency": transparency}
    return clean


def _encode_original(kind: str, frames: list[tuple[PILImage.Image, int]],
                     info: dict) -> Image:
    """The original re-encoded in its own format from its pixels alone."""
    first = _clean(frames[0][0])
    out = io.BytesIO()
    if kind in ("JPEG", "MPO"):
        kind = "JPEG"
        if first.mode not in ("RGB", "L"):
            first = first.convert("RGB")
        first.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif kind == "PNG":
        first.save(out, "PNG")
    elif len(frames) > 1:  # an animated GIF or WebP: every frame, its duration and loop count
        rest = [_clean(frame) for frame, _ in frames[1:]]
        options: dict = {"save_all": True, "append_images": rest,
                         "duration": [duration for _, duration in frames]}
        if "loop" in info:
            options["loop"] = info["loop"]
        if kind == "WEBP":
            options["quality"] = ORIGINAL_WEBP_QUALITY
        first.save(out, kind, **options)
    elif kind == "GIF":
        first.save(out, "GIF")
    else:
        first.save(out, "WEBP", quality=ORIGINAL_WEBP_QUALITY)
    return Image("original", CONTENT_TYPES[kind], first.width, first.height, out.getvalue())


def _variants(first: PILImage.Image) -> list[Image]:
    """The still variants in WebP, each of `VARIANT_WIDTHS` narrower than the image (never
    upscaled, and none the size of the original: it would store the same pixels twice)."""
    has_alpha = first.mode in ("RGBA", "LA", "PA") or "transparency" in first.info
    source = first.convert("RGBA" if has_alpha else "RGB")
    made: list[Image] = []
    # Widest first, each resized from the one before: far cheaper than three full-size resizes.
    for width in sorted((w for w in VARIANT_WIDTHS if w < first.width), reverse=True):
        height = max(1, round(first.height * width / first.width))
        source = source.resize((width, height), PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        source.save(out, VARIANT_FORMAT[0], quality=WEBP_QUALITY)
        made.append(Image(f"w{width}", VARIANT_FORMAT[1], width, height, out.getvalue()))
    return sorted(made, key=lambda image: int(image.name[1:]))
