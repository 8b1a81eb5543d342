"""service/media/images.py: sniffing, the bomb guard, cleaning and variants, on generated files.

Pure image work with no database: the expectations hold on every engine.
"""

import io
import struct
import zipfile
import zlib

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from PIL import Image as PILImage
from PIL import ImageCms

from service.contract.errors import FolioError, install_error_handlers
from service.media.images import InvalidImage, UnsupportedMedia, process

MAX = 40_000_000
RED, BLUE = (255, 0, 0), (0, 0, 255)


def two_tone(width: int, height: int) -> PILImage.Image:
    """Left half red, right half blue: where the red ends up tells how the image was turned."""
    picture = PILImage.new("RGB", (width, height), BLUE)
    picture.paste(RED, (0, 0, width // 2, height))
    return picture


def photo_with_metadata(width: int = 400, height: int = 200, orientation: int = 6) -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS and an orientation, ICC, XMP and a comment."""
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           b"<rdf:RDF><rdf:Description>secret place</rdf:Description></rdf:RDF></x:xmpmeta>")
    two_tone(width, height).save(out, "JPEG", exif=exif.tobytes(), icc_profile=icc,
                                 comment=b"shot at home", xmp=xmp, quality=95)
    return out.getvalue()


def encoded(picture: PILImage.Image, kind: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, kind, **options)
    return out.getvalue()


def run(data: bytes, max_pixels: int = MAX):
    return process(io.BytesIO(data), max_pixels=max_pixels)


def assert_clean(data: bytes) -> None:
    """No EXIF, GPS, XMP, ICC or comment in what is stored."""
    with PILImage.open(io.BytesIO(data)) as opened:
        for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"):
            assert key not in opened.info, key
        assert dict(opened.getexif()) == {}
    for marker in (b"Exif", b"GPS", b"xmpmeta", b"secret place", b"shot at home", b"PhoneMaker",
                   b"ICC_PROFILE", b"iCCP"):
        assert marker not in data, marker


def test_photo_is_upright_and_stripped_of_every_metadata():
    images = run(photo_with_metadata())
    original = images[0]
    assert original.name == "original" and original.content_type == "image/jpeg"
    # Orientation 6: the 400x200 sensor image is shown turned a quarter clockwise.
    assert (original.width, original.height) == (200, 400)
    with PILImage.open(io.BytesIO(original.data)) as opened:
        assert opened.format == "JPEG" and opened.size == (200, 400)
        rgb = opened.convert("RGB")
        top, bottom = rgb.getpixel((100, 50)), rgb.getpixel((100, 350))
    assert top[0] > 200 and top[2] < 60  # the red half is on top
    assert bottom[2] > 200 and bottom[0] < 60
    for image in images:
        assert_clean(image.data)


def test_variants_are_webp_at_each_width_never_upscaled():
    images = run(encoded(two_tone(2000, 1000), "JPEG"))
    assert [image.name for image in images] == ["original", "w320", "w960", "w1600"]
    for image in images[1:]:
        assert image.content_type == "image/webp"
        with PILImage.open(io.BytesIO(image.data)) as opened:
            assert opened.format == "WEBP"
            assert opened.size == (image.width, image.height)
        assert image.height == image.width // 2
        assert_clean(image.data)
    small = run(encoded(two_tone(500, 300), "PNG"))
    assert [(image.name, image.width, image.height) for image in small] == [
        ("original", 500, 300), ("w320", 320, 192)]
    tiny = run(encoded(two_tone(100, 80), "PNG"))
    assert [image.name for image in tiny] == ["original"]


def test_variants_of_a_turned_photo_use_the_upright_size():
    images = run(photo_with_metadata(1200, 600))
    assert [(image.name, image.width, image.height) for image in images] == [
        ("original", 600, 1200), ("w320", 320, 640)]


def test_png_keeps_its_transparency_and_loses_its_text_chunks():
    from PIL import PngImagePlugin

    picture = PILImage.new("RGBA", (400, 400), (0, 0, 0, 0))
    picture.paste((255, 0, 0, 255), (0, 0, 200, 200))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "shot at home")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    images = run(encoded(picture, "PNG", pnginfo=text, icc_profile=icc))
    assert [image.content_type for image in images] == ["image/png", "image/webp"]
    for image in images:
        assert_clean(image.data)
        with PILImage.open(io.BytesIO(image.data)) as opened:
            assert opened.convert("RGBA").getpixel((image.width - 1, image.height - 1))[3] == 0


def test_gif_and_webp_are_accepted_in_their_own_type():
    gif = run(encoded(two_tone(400, 300).convert("P"), "GIF", comment=b"shot at home"))
    assert gif[0].content_type == "image/gif" and (gif[0].width, gif[0].height) == (400, 300)
    assert_clean(gif[0].data)
    webp = run(encoded(two_tone(400, 300), "WEBP", exif=PILImage.Exif().tobytes()))
    assert webp[0].content_type == "image/webp"
    assert [image.name for image in webp] == ["original", "w320"]


def test_animated_gif_keeps_its_animation_and_its_variants_are_stills():
    frames = [PILImage.new("RGB", (400, 200), color) for color in (RED, BLUE, (0, 255, 0))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100,
                   loop=0)
    images = run(data)
    with PILImage.open(io.BytesIO(images[0].data)) as opened:
        assert opened.format == "GIF" and opened.n_frames == 3
        assert opened.info.get("loop") == 0
    with PILImage.open(io.BytesIO(images[1].data)) as still:
        assert getattr(still, "n_frames", 1) == 1
        red = still.convert("RGB").getpixel((10, 10))
    assert red[0] > 200 and red[2] < 60


def test_an_animation_is_bounded_by_all_its_frames_pixels():
    frames = [PILImage.new("RGB", (100, 100), (i, 0, 0)) for i in range(10)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert run(data, max_pixels=100_000)[0].content_type == "image/gif"
    with pytest.raises(InvalidImage, match="pixels"):
        run(data, max_pixels=50_000)


@pytest.mark.parametrize("data", [
    b"<html><script>alert(1)</script></html>",
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"<svg onload=alert(1)>",
    b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    b"MZ\x90\x00" + b"\x00" * 60,
    b"just some text",
], ids=["html-as-png", "svg", "svg-bare", "pdf", "exe", "text"])
def test_other_types_are_unsupported(data):
    with pytest.raises(UnsupportedMedia) as raised:
        run(data)
    assert raised.value.status_code == 415 and raised.value.field == "file"


def zipped() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return out.getvalue()


@pytest.mark.parametrize("kind,payload", [
    ("PNG", b"<script>alert(document.cookie)</script>"),
    ("JPEG", b"<html><body onload=alert(1)>"),
    ("JPEG", None),
    ("GIF", None),
    ("GIF", b"<?php system($_GET['c']); ?>"),
    ("WEBP", b"%PDF-1.4 trailer"),
])
def test_polyglots_are_unsupported(kind, payload):
    data = encoded(two_tone(64, 64).convert("P") if kind == "GIF" else two_tone(64, 64), kind)
    with pytest.raises(UnsupportedMedia, match="another file"):
        run(data + (payload if payload is not None else zipped()))


def test_harmless_trailing_bytes_and_comments_are_dropped_not_refused():
    # A camera's trailer after EOI, and markup inside a JPEG comment: stored without either.
    data = encoded(two_tone(64, 64), "JPEG", comment=b"<script>alert(1)</script>")
    images = run(data + b"\x00\x00SEFH\x01\x02\x03\x04camera-trailer")
    assert images[0].content_type == "image/jpeg"
    assert b"script" not in images[0].data and b"camera-trailer" not in images[0].data


def test_empty_and_truncated_files_are_invalid():
    for data in (b"", encoded(two_tone(800, 600), "JPEG")[:2000], b"\xff\xd8",
                 encoded(two_tone(300, 300), "PNG")[:100], b"GIF89a"):
        with pytest.raises(InvalidImage) as raised:
            run(data)
        assert raised.value.status_code == 422 and raised.value.field == "file"


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_before_decoding():
    with pytest.raises(InvalidImage, match="too many pixels"):
        run(png_claiming(40_000, 40_000))
    with pytest.raises(InvalidImage, match="too many pixels"):
        run(png_claiming(8_000, 6_000))  # 48 MP: past the 40 MP default, under Pillow's own
    with pytest.raises(InvalidImage, match="too many pixels"):
        run(encoded(two_tone(200, 100), "PNG"), max_pixels=10_000)
    assert run(encoded(two_tone(100, 100), "PNG"), max_pixels=10_000)[0].width == 100


def test_wide_gamut_colours_are_converted_to_srgb_before_the_profile_is_dropped():
    lab_ish = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
    # A profile that is not sRGB changes the pixels when honoured (or is skipped if unusable).
    data = encoded(two_tone(64, 64), "JPEG", icc_profile=lab_ish.tobytes())
    assert_clean(run(data)[0].data)


async def test_errors_render_in_the_envelope():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/415")
    async def unsupported():
        raise UnsupportedMedia("file", "must be a JPEG, PNG, GIF or WebP image")

    @app.get("/422")
    async def invalid():
        raise InvalidImage("file", "is empty")

    assert issubclass(UnsupportedMedia, FolioError) and issubclass(InvalidImage, FolioError)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        first, second = await client.get("/415"), await client.get("/422")
    assert first.status_code == 415
    assert first.json() == {"errors": {"file": ["must be a JPEG, PNG, GIF or WebP image"]}}
    assert second.status_code == 422 and second.json() == {"errors": {"file": ["is empty"]}}


@pytest.mark.parametrize("options", [{"progressive": True}, {"restart_marker_blocks": 1}, {}],
                         ids=["progressive", "restart-markers", "baseline"])
def test_a_payload_after_any_kind_of_jpeg_is_found(options):
    from PIL import ImageFilter

    noisy = PILImage.effect_noise((300, 200), 60).convert("RGB").filter(ImageFilter.BLUR)
    data = encoded(noisy, "JPEG", **options)
    assert run(data)[0].content_type == "image/jpeg"
    with pytest.raises(UnsupportedMedia):
        run(data + b"<script>alert(1)</script>")


@pytest.mark.parametrize("mode,kind", [("CMYK", "JPEG"), ("I;16", "PNG"), ("LA", "PNG"),
                                       ("L", "JPEG"), ("P", "PNG")])
def test_other_colour_modes_are_stored_in_their_type(mode, kind):
    images = run(encoded(PILImage.new(mode, (400, 300)), kind))
    assert images[0].content_type == f"image/{kind.lower()}"
    assert [(i.name, i.width, i.height) for i in images] == [("original", 400, 300),
                                                             ("w320", 320, 240)]


def test_animated_webp_keeps_its_frames():
    frames = [PILImage.new("RGB", (400, 300), color) for color in (RED, BLUE)]
    images = run(encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                         duration=100, loop=0))
    with PILImage.open(io.BytesIO(images[0].data)) as opened:
        assert opened.format == "WEBP" and opened.n_frames == 2


def test_an_image_exactly_as_wide_as_a_variant_gets_only_narrower_ones():
    images = run(encoded(two_tone(960, 480), "PNG"))
    assert [image.name for image in images] == ["original", "w320"]
