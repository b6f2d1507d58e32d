"""docclass.images: every upload becomes a bounded RGB page, or an UnreadableImage that says why."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin

from docclass.errors import UnreadableImage
from docclass.images import MAX_PIXELS, encode_jpeg, encode_png, load_image

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A PNG whose IHDR claims width x height but which carries no pixel data at all."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def assert_close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 3) -> None:
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True)), (pixel, expected)


# --- modes ---------------------------------------------------------------------------------------


def test_small_rgb_png_keeps_its_pixels():
    # given
    pixels = np.random.default_rng(7).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    # when
    page = load_image(encoded(Image.fromarray(pixels), "PNG"))
    # then: a plain in-memory image, not the lazy file object Image.open returns
    assert type(page) is Image.Image
    assert page.mode == "RGB"
    assert page.size == (60, 40)
    assert np.array_equal(np.asarray(page), pixels)


@pytest.mark.parametrize(
    ("source", "fmt", "params", "expected"),
    [
        pytest.param(
            Image.new("1", (64, 64), 1), "TIFF", {"compression": "group4"}, WHITE, id="1-bit-g4-tiff"
        ),
        pytest.param(Image.new("1", (64, 64), 0), "PNG", {}, (0, 0, 0), id="1-bit-png"),
        pytest.param(Image.new("L", (16, 16), 90), "PNG", {}, (90, 90, 90), id="L-png"),
        pytest.param(Image.new("RGB", (16, 16), (10, 200, 30)), "BMP", {}, (10, 200, 30), id="rgb-bmp"),
        pytest.param(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", {}, (0, 255, 255), id="cmyk-jpeg"),
        pytest.param(
            Image.new("CMYK", (16, 16), (0, 0, 0, 255)), "JPEG", {}, (0, 0, 0), id="cmyk-jpeg-black"
        ),
        pytest.param(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "TIFF", {}, (255, 0, 0), id="cmyk-tiff"),
        pytest.param(Image.new("YCbCr", (16, 16), (76, 85, 255)), "TIFF", {}, (254, 0, 0), id="ycbcr-tiff"),
        pytest.param(Image.new("LAB", (16, 16), (255, 128, 128)), "TIFF", {}, (255, 255, 255), id="lab-tiff"),
        pytest.param(
            Image.fromarray(np.full((16, 16), 32768, dtype=np.uint16)), "PNG", {}, (128,) * 3, id="I;16-png"
        ),
        pytest.param(
            Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16)), "TIFF", {}, WHITE, id="I;16-tiff"
        ),
        pytest.param(
            Image.fromarray(np.full((16, 16), 0.5, dtype=np.float32)), "TIFF", {}, (128,) * 3, id="F"
        ),
        pytest.param(Image.fromarray(np.full((16, 16), 200, dtype=np.int32)), "TIFF", {}, (200,) * 3, id="I"),
    ],
)
def test_every_mode_becomes_rgb_with_the_right_colour(source, fmt, params, expected):
    # given
    data = encoded(source, fmt, **params)
    # when
    page = load_image(data)
    # then
    assert page.mode == "RGB"
    assert page.size == source.size
    assert_close(page.getpixel((8, 8)), expected, tolerance=4)


def test_16_bit_grey_keeps_its_tones_instead_of_clipping_to_white():
    # given: a ramp over the whole 16-bit range (Image.convert("L") gives 255 almost everywhere)
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (8, 1))
    # when
    page = np.asarray(load_image(encoded(Image.fromarray(ramp), "PNG")))
    # then
    assert page[0, 0, 0] == 0
    assert page[0, -1, 0] == 255
    assert abs(int(page[0, 128, 0]) - 128) <= 1
    assert np.all(np.diff(page[0, :, 0].astype(int)) >= 0)


def test_32_bit_integer_grey_beyond_16_bits_is_stretched_to_full_range():
    # given
    ramp = np.tile(np.linspace(0, 1_000_000, 64).astype(np.int32), (4, 1))
    # when
    page = np.asarray(load_image(encoded(Image.fromarray(ramp), "TIFF")))
    # then
    assert page[0, 0, 0] == 0
    assert page[0, -1, 0] == 255


def test_transparent_palette_png_comes_out_white_where_transparent():
    # given: palette index 0 (red) is transparent, index 1 (blue) opaque
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([*RED, *BLUE])
    palette.putpixel((0, 0), 1)
    palette.info["transparency"] = 0
    # when
    page = load_image(encoded(palette, "PNG"))
    # then
    assert page.getpixel((5, 5)) == WHITE
    assert page.getpixel((0, 0)) == BLUE


def test_transparent_gif_comes_out_white_where_transparent():
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([*RED, *BLUE])
    palette.putpixel((0, 0), 1)
    palette.info["transparency"] = 0

    page = load_image(encoded(palette, "GIF"))

    assert page.getpixel((5, 5)) == WHITE
    assert page.getpixel((0, 0)) == BLUE


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_half_transparent_red_is_blended_on_white(fmt):
    params = {"lossless": True} if fmt == "WEBP" else {}

    page = load_image(encoded(Image.new("RGBA", (8, 8), (255, 0, 0, 128)), fmt, **params))

    assert_close(page.getpixel((4, 4)), (255, 127, 127), tolerance=2)


def test_transparent_grey_with_alpha_is_white():
    page = load_image(encoded(Image.new("LA", (8, 8), (0, 0)), "PNG"))

    assert page.mode == "RGB"
    assert page.getpixel((4, 4)) == WHITE


# --- orientation, frames ---------------------------------------------------------------------------


def test_exif_orientation_6_rotates_the_page():
    # given: a 300x200 landscape with a red top-left corner, tagged "rotate 90° clockwise to display"
    stored = Image.new("RGB", (300, 200), WHITE)
    stored.paste(RED, (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    # when
    page = load_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95))
    # then: width and height swap, and the stored top-left corner is now top-right
    assert page.size == (200, 300)
    assert_close(page.getpixel((190, 10)), RED, tolerance=30)
    assert_close(page.getpixel((10, 10)), WHITE, tolerance=30)


def test_multi_page_tiff_uses_the_first_page():
    pages = [Image.new("RGB", (20, 20), RED), Image.new("RGB", (40, 10), BLUE)]

    page = load_image(encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]))

    assert page.size == (20, 20)
    assert page.getpixel((5, 5)) == RED


@pytest.mark.parametrize(("fmt", "params"), [("GIF", {}), ("WEBP", {"lossless": True})])
def test_animation_uses_the_first_frame(fmt, params):
    frames = [Image.new("RGB", (20, 20), RED), Image.new("RGB", (20, 20), BLUE)]

    page = load_image(encoded(frames[0], fmt, save_all=True, append_images=frames[1:], **params))

    assert page.getpixel((5, 5)) == RED


# --- size --------------------------------------------------------------------------------------------


def test_large_jpeg_is_shrunk_to_2048_keeping_aspect(monkeypatch):
    # given: spy on draft() so we know the reduced-scale decode was asked for
    drafts = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        drafts.append((mode, size))
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    data = encoded(Image.new("RGB", (6000, 3000), (200, 100, 50)), "JPEG")
    # when
    page = load_image(data)
    # then
    assert page.size == (2048, 1024)
    assert drafts == [("RGB", (2048, 1024))]
    assert_close(page.getpixel((1000, 500)), (200, 100, 50), tolerance=3)


def test_max_side_is_respected_for_lossless_formats():
    page = load_image(encoded(Image.new("RGB", (1000, 500), RED), "PNG"), max_side=100)

    assert page.size == (100, 50)
    assert page.getpixel((50, 25)) == RED


def test_image_already_within_max_side_is_not_resized():
    page = load_image(encoded(Image.new("RGB", (2048, 7), RED), "PNG"))

    assert page.size == (2048, 7)


@pytest.mark.parametrize(("size", "expected"), [((1, 20000), (1, 2048)), ((20000, 1), (2048, 1))])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_very_thin_strip_keeps_one_pixel(size, expected, fmt):
    page = load_image(encoded(Image.new("L", size, 40), fmt))

    assert page.size == expected
    assert page.mode == "RGB"


def test_max_side_below_one_is_a_programming_error():
    with pytest.raises(ValueError, match="max_side"):
        load_image(encoded(Image.new("RGB", (4, 4)), "PNG"), max_side=0)


# --- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty object", id="zero-bytes"),
        pytest.param(
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF is a document, not an image", id="pdf"
        ),
        pytest.param(b"\r\n%PDF-1.7\n", "a PDF is a document, not an image", id="pdf-after-junk"),
        pytest.param(b"Invoice 2024-001\nTotal: 12.00 EUR\n", r"not an image \(looks like text\)", id="text"),
        pytest.param(
            b"<!DOCTYPE html>\n<html><body>Access denied</body></html>",
            r"not an image \(looks like HTML\)",
            id="html",
        ),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n", "PostScript/EPS is not supported", id="eps"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC/AVIF", id="heic"),
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00", "looks like a ZIP archive", id="docx"),
        pytest.param(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG", id="svg"),
        pytest.param(
            np.random.default_rng(3).bytes(4096), "unsupported or unrecognised image format", id="random"
        ),
    ],
)
def test_non_images_are_refused_with_a_reason(data, message):
    with pytest.raises(UnreadableImage, match=message):
        load_image(data)


def test_formats_outside_the_supported_list_are_refused():
    # TGA decodes fine in Pillow, but it is not a format we accept from users.
    with pytest.raises(UnreadableImage, match="unsupported or unrecognised image format"):
        load_image(encoded(Image.new("RGB", (8, 8), RED), "TGA"))


def test_truncated_jpeg_is_unreadable_with_pillows_reason():
    # given: the second half of the entropy-coded data is missing
    noise = np.random.default_rng(5).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    data = encoded(Image.fromarray(noise), "JPEG")
    # when / then
    with pytest.raises(UnreadableImage, match="cannot decode JPEG image: image file is truncated") as caught:
        load_image(data[: len(data) // 2])
    assert isinstance(caught.value.__cause__, OSError)


def test_jpeg_cut_inside_its_header_is_unreadable():
    data = encoded(Image.new("RGB", (64, 64), RED), "JPEG")

    with pytest.raises(UnreadableImage, match="Truncated File Read"):
        load_image(data[:200])


def test_corrupt_png_data_is_unreadable():
    # given: a PNG whose compressed pixel data has been overwritten
    noise = np.random.default_rng(6).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    data = bytearray(encoded(Image.fromarray(noise), "PNG"))
    data[200:260] = bytes(60)
    # when / then
    with pytest.raises(UnreadableImage, match="cannot decode PNG image"):
        load_image(bytes(data))


def test_decompression_bomb_is_refused_before_any_pixel_is_decoded(monkeypatch):
    # given: a 1-bit PNG header claiming 30000x30000 px (900 M px; about 900 MB once decoded)
    monkeypatch.setattr(ImageFile.ImageFile, "load", _must_not_decode)
    # when / then
    with pytest.raises(UnreadableImage, match="image too large"):
        load_image(png_header_only(30_000, 30_000))


def test_bomb_limit_holds_even_when_pillows_global_guard_is_off(monkeypatch):
    # given: some other code disabled Pillow's check; 20000x10000 = 200 M px > MAX_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(ImageFile.ImageFile, "load", _must_not_decode)
    # when / then
    with pytest.raises(UnreadableImage, match=f"image too large: 20000x10000 px \\(limit {MAX_PIXELS} px\\)"):
        load_image(png_header_only(20_000, 10_000))


def test_pillows_global_bomb_limit_is_left_alone():
    before = Image.MAX_IMAGE_PIXELS

    with pytest.raises(UnreadableImage):
        load_image(png_header_only(30_000, 30_000))

    assert before == Image.MAX_IMAGE_PIXELS


def _must_not_decode(self, *args, **kwargs):
    raise AssertionError("pixels were decoded")


# --- encoders ----------------------------------------------------------------------------------------


def test_encode_jpeg_gives_an_rgb_jpeg_of_the_same_size():
    page = Image.new("RGB", (123, 45), (20, 120, 220))

    data = encode_jpeg(page)

    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "JPEG"
    assert decoded.mode == "RGB"
    assert decoded.size == (123, 45)
    assert_close(decoded.getpixel((60, 20)), (20, 120, 220), tolerance=3)


def test_encode_jpeg_quality_changes_the_size():
    noise = Image.fromarray(np.random.default_rng(8).integers(0, 256, (64, 64, 3), dtype=np.uint8))

    assert len(encode_jpeg(noise, quality=30)) < len(encode_jpeg(noise, quality=95))


def test_encode_jpeg_flattens_non_rgb_input():
    decoded = Image.open(io.BytesIO(encode_jpeg(Image.new("RGBA", (8, 8), (0, 0, 0, 0)))))

    assert decoded.mode == "RGB"
    assert_close(decoded.getpixel((4, 4)), WHITE)


def test_encode_jpeg_rejects_an_invalid_quality():
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(Image.new("RGB", (4, 4)), quality=0)


def test_encode_png_is_lossless():
    pixels = np.random.default_rng(9).integers(0, 256, (30, 50, 3), dtype=np.uint8)

    decoded = Image.open(io.BytesIO(encode_png(Image.fromarray(pixels))))

    assert decoded.format == "PNG"
    assert np.array_equal(np.asarray(decoded), pixels)


def test_loaded_page_carries_no_source_colour_profile():
    # given: a CMYK JPEG with an embedded (CMYK-side) ICC profile; Pillow keeps info across convert()
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(Image.new("CMYK", (16, 16), (0, 0, 0, 0)), "JPEG", icc_profile=profile)
    # when
    page = load_image(data)
    # then: nothing from the source would be written into the PNG we store
    assert page.info == {}
    assert "icc_profile" not in Image.open(io.BytesIO(encode_png(page))).info


def test_the_pixel_limit_is_pillows_own_hard_limit():
    # given Pillow's default decompression-bomb threshold, above which Image.open raises
    # when / then: docclass refuses from the header at the same size, even if Pillow's is relaxed
    assert MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS
