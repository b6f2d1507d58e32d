"""Decode whatever users upload into a safe RGB page no larger than the embedding model accepts."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from docclass.errors import UnreadableImage
from docclass.memory import MemoryBudget

# The longest side of a page when the model names no other (Titan G1: 2048 px; docclass.models).
MAX_SIDE = 2048
# Pillow's own hard limit (2 * Image.MAX_IMAGE_PIXELS by default); checked here from the header too,
# so the guard holds even if some other code relaxes Pillow's global.
MAX_PIXELS = 178_956_970

# The formats DESIGN.md promises (MPO phone pictures come through "JPEG"). Leaving the rest out keeps
# Pillow's rarer decoders, and EPS's Ghostscript subprocess, away from untrusted input. Every name
# must be a registered opener: Image.open raises KeyError for one that is not (Pillow 13).
_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "TIFF", "WEBP")
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError)
_WHITE = (255, 255, 255)
# The shrink filter (see _shrink); bench/overhead.py compares it with Lanczos.
_RESAMPLE = Image.Resampling.HAMMING
_REDUCING_GAP = 3.0
# EXIF orientation (tag 274) -> the transpose that shows the page upright (EXIF 2.32, 4.6.4 A).
_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Pillow stores these modes in 1 or 2 bytes per pixel; every other mode takes 4 (RGB is RGBX).
_STORAGE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Decoder state, row buffers, the final RGB conversion and transposition of a page of at most
# 2048 x 2048 px (16 MB each), and the interpreter's own allocations during the decode.
FIXED_DECODE_NEED = 48 * 1024 * 1024


def load_image(
    data: bytes,
    *,
    max_side: int = MAX_SIDE,
    budget: MemoryBudget | None = None,
    frame: int = 0,
    max_pixels: int | None = None,
) -> Image.Image:
    """Decode image bytes into an RGB image whose longer side is at most max_side (aspect kept),
    and whose area is at most max_pixels if given (the model's limits, docclass.models.PageLimits).

    With a budget, the decode's peak memory is estimated from the header (decode_need) and an
    image that would not fit is refused with DocumentTooLarge before any pixel is decoded.
    frame: which frame of a multi-frame image (a page of a multi-page TIFF), from 0.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    if not data:
        raise UnreadableImage("empty object")
    image = _open(data)
    if frame:
        try:
            image.seek(frame)
        except _DECODE_ERRORS as e:
            raise UnreadableImage(f"cannot read page {frame + 1} of the {image.format} image: {e}") from e
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UnreadableImage(f"image too large: {width}x{height} px (limit {MAX_PIXELS} px)")
    max_side = side_within((width, height), max_side, max_pixels)
    try:
        if max(width, height) > max_side:
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale, never below the requested size. The
            # image's size is the reduced one from here on, so the budget counts the reduced decode.
            image.draft("RGB", _fit((width, height), max_side))
        if budget is not None:
            what = f"{width}x{height} px {image.mode} {image.format}"
            if image.size != (width, height):
                what += f" (decoded at {image.size[0]}x{image.size[1]})"
            budget.check_decode(decode_need(image, max_side, full_size=(width, height)), len(data), what)
        image.load()  # the first page or frame of a multi-page TIFF, animated GIF or WebP
        orientation = image.getexif().get(_ORIENTATION, 1)
        page = _to_rgb(image, max_side, release=True)
        # Rotate the small page, not the decoded one: a transposed copy of a full decode would
        # double the peak. Neither side exceeds max_side either way round.
        transpose = _TRANSPOSE.get(orientation)
        if transpose is not None:
            page = page.transpose(transpose)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImage(f"image too large: {e}") from e
    except _DECODE_ERRORS as e:
        raise UnreadableImage(f"cannot decode {image.format} image: {e}") from e
    if page is image:
        page = page.copy()  # a plain image, detached from the decoder and its input buffer
    # Drop the source's metadata: a CMYK ICC profile left in info would be written into a PNG.
    page.info = {}
    return page


def decode_need(
    image: Image.Image, max_side: int = MAX_SIDE, *, full_size: tuple[int, int] | None = None
) -> int:
    """Estimated peak bytes that load_image allocates for an opened, not yet loaded image.

    Read from the header alone (size after any JPEG draft, Pillow's mode, format): the decoded
    raster in Pillow's own storage (3-band modes take 4 bytes a pixel), the decoder's own buffers,
    then the larger of two phases, as load_image runs them: flattening to L/RGB while the decoded
    raster is alive, and shrinking once it was released. Checked against what Pillow really
    allocates (peak RSS in a fresh process) by tests/unit/test_memory_peak.py and bench/memory.py.
    """
    width, height = image.size
    pixels = width * height
    stored = pixels * _bytes_per_pixel(image.mode)
    decoded = stored + _decoder_buffers(image, full_size or image.size)
    mode = image.mode
    if mode in _HIGH_DEPTH_MODES:
        # Shrunk in its own mode, then mapped to 8 bits (float64 arrays for I and F: ~4 of them).
        flat_phase, flat, shrink_bpp = decoded, stored, _bytes_per_pixel(mode)
        target = _fit((width, height), max_side)
        mapping = target[0] * target[1] * (8 * 4 if mode in ("I", "F") else 4)
        return flat_phase + _shrink_need((width, height), max_side, shrink_bpp) + mapping + FIXED_DECODE_NEED
    if mode == "LAB":
        flat_phase, flat, shrink_bpp = decoded + pixels * 4, pixels * 4, 4
    elif image.has_transparency_data:
        grey = mode in ("LA", "La", "L", "1")
        layer = 0 if mode in ("LA", "RGBA") else pixels * 4
        flat = pixels * (1 if grey else 4)
        flat_phase, shrink_bpp = decoded + layer + flat + pixels, (1 if grey else 4)  # + the alpha band
    elif mode in ("L", "RGB"):
        flat_phase, flat, shrink_bpp = decoded, stored, _bytes_per_pixel(mode)
    elif mode == "1":
        flat_phase, flat, shrink_bpp = decoded + pixels, pixels, 1
    else:  # P, CMYK, YCbCr, ...: converted to RGB
        flat_phase, flat, shrink_bpp = decoded + pixels * 4, pixels * 4, 4
    shrink_phase = flat + _shrink_need((width, height), max_side, shrink_bpp)
    return max(flat_phase, shrink_phase) + FIXED_DECODE_NEED


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode as a baseline RGB JPEG (what the embedding request carries)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buffer = io.BytesIO()
    _to_rgb(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_png(image: Image.Image) -> bytes:
    """Encode as a lossless RGB PNG."""
    buffer = io.BytesIO()
    _to_rgb(image).save(buffer, format="PNG")
    return buffer.getvalue()


def frame_count(data: bytes) -> int:
    """How many frames the image holds (the pages of a multi-page TIFF); reads headers only."""
    image = _open(data)
    try:
        return int(getattr(image, "n_frames", 1))
    except _DECODE_ERRORS as e:
        raise UnreadableImage(f"cannot count the pages of the {image.format} image: {e}") from e


def _open(data: bytes) -> Image.Image:
    """Identify the format from the header without decoding pixels."""
    try:
        return Image.open(io.BytesIO(data), formats=_FORMATS)
    except UnidentifiedImageError as e:
        raise UnreadableImage(_describe_unknown(data)) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImage(f"image too large: {e}") from e
    except _DECODE_ERRORS as e:
        raise UnreadableImage(f"cannot read image header: {e}") from e


def _describe_unknown(data: bytes) -> str:
    """Say what bytes that are not a supported image most likely are."""
    head = data[:1024]
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if b"%PDF-" in head:  # the PDF spec tolerates bytes before the header
        return "a PDF is a document, not an image (docclass.pages opens it)"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "PostScript/EPS is not supported"
    if head[4:8] == b"ftyp":
        return "HEIC/AVIF and other ISO media files are not supported (save the page as JPEG or PNG)"
    if head.startswith(b"PK\x03\x04"):
        return "not an image (looks like a ZIP archive, e.g. DOCX or XLSX)"
    if b"<svg" in start:
        return "SVG is not supported (vector graphics)"
    if start.startswith(b"<!doctype html") or b"<html" in start:
        return "not an image (looks like HTML)"
    if _looks_like_text(head):
        return "not an image (looks like text)"
    return f"unsupported or unrecognised image format (starts with {head[:8].hex(' ')})"


def _looks_like_text(head: bytes) -> bool:
    """True when the bytes decode as UTF-8 and nearly every character is printable."""
    if b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="replace")
    printable = sum(1 for c in text if c != "\ufffd" and (c.isprintable() or c in "\t\r\n\f"))
    return printable >= 0.95 * len(text)


def side_within(size: tuple[int, int], max_side: int, max_pixels: int | None) -> int:
    """The longest side to draw a page of this size at, so that it fits max_side and max_pixels."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return max_side
    side = min(max_side, int(max(size) * math.sqrt(max_pixels / (width * height))))
    while side > 1 and math.prod(_fit(size, side)) > max_pixels:  # rounding the shorter side up
        side -= 1
    return max(1, side)


def fit_within(size: tuple[int, int], max_side: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The size of a page once it fits max_side and max_pixels (aspect kept, never enlarged)."""
    return _fit(size, side_within(size, max_side, max_pixels))


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Scale size so neither side exceeds max_side, keeping the aspect ratio and at least 1 px."""
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return size
    scale = max_side / longest
    return (
        max(1, min(max_side, round(width * scale))),
        max(1, min(max_side, round(height * scale))),
    )


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Resize to fit max_side: integer reduce() first when the page is 3x too big, then Hamming.

    Hamming is an antialiased filter with the support of bilinear: on a 300-dpi letter page
    (2550x3300 -> 1582x2048) it takes about 55 ms instead of Lanczos' 125 ms, and its result is
    within 41 dB PSNR / 0.98 SSIM of Lanczos' (bench/overhead.py measures both): text stays as legible.
    """
    target = _fit(image.size, max_side)
    if target == image.size:
        return image
    return image.resize(target, _RESAMPLE, reducing_gap=_REDUCING_GAP)


def _to_rgb(image: Image.Image, max_side: int | None = None, *, release: bool = False) -> Image.Image:
    """Flatten alpha on white, bring every mode to 8-bit RGB, and shrink to max_side if given.

    release: free the source raster as soon as a flattened copy exists, so that the shrink does
    not run next to both (load_image owns its decoded image; encode_* callers own theirs).
    """
    if image.mode in _HIGH_DEPTH_MODES:
        # Shrink before mapping to 8 bits: the 32-bit intermediate stays small.
        if max_side is not None:
            image = _shrink(image, max_side)
        return _high_depth_to_grey(image).convert("RGB")
    page = _flatten(image)
    if release and page is not image:
        image.close()  # drops Pillow's raster now, not when load_image returns
    if max_side is not None:
        page = _shrink(page, max_side)
    return page if page.mode == "RGB" else page.convert("RGB")


def _flatten(image: Image.Image) -> Image.Image:
    """Return an 8-bit L or RGB image (image itself when it is one), transparency composited on white."""
    mode = image.mode
    if mode == "LAB":
        # Image.convert copies LAB channels as if they were RGB; a colour transform is needed.
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return transform.apply(image)
    if image.has_transparency_data:
        grey = mode in ("LA", "La", "L", "1")
        wanted = "LA" if grey else "RGBA"
        layer = image if mode == wanted else image.convert(wanted)  # convert() to the same mode copies
        background = Image.new("L" if grey else "RGB", image.size, 255 if grey else _WHITE)
        background.paste(layer, mask=layer.getchannel("A"))
        return background
    if mode in ("L", "RGB"):
        return image  # no copy: a 300-dpi page takes about 20 ms to copy
    if mode == "1":
        # Greyscale scans stay one byte per pixel until after the resize.
        return image.convert("L")
    return image.convert("RGB")


def _high_depth_to_grey(image: Image.Image) -> Image.Image:
    """Map 16-bit, 32-bit integer or float greyscale onto 0..255 without clipping to white."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return Image.fromarray((values >> 8).astype(np.uint8))
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0
    elif low >= 0.0 and high <= 255.0:
        scaled = values
    elif image.mode == "I" and low >= 0.0 and high <= 65535.0:
        scaled = values / 257.0  # 16-bit data that some decoders hand over as mode I
    else:
        scaled = (values - low) * (255.0 / ((high - low) or 1.0))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _bytes_per_pixel(mode: str) -> int:
    return _STORAGE_BYTES.get(mode, 4)


def _decoder_buffers(image: Image.Image, full_size: tuple[int, int]) -> int:
    """Memory a decoder holds besides the raster it fills, where that can be large."""
    if image.format == "JPEG" and image.info.get("progressive"):
        # libjpeg keeps every DCT coefficient (2 bytes) of a progressive scan at full scale, even
        # when it outputs at a draft scale: 8000x8000 4:2:0 measured 131 MB besides the raster.
        sampling = [h * v for _, h, v, _ in getattr(image, "layer", [])]
        share = sum(sampling) / max(sampling) if sampling else float(getattr(image, "layers", 4))
        return int(full_size[0] * full_size[1] * 2 * share)
    if image.format == "WEBP":
        # libwebp's animation decoder keeps the canvas and the previous frame; Pillow copies it out.
        return image.size[0] * image.size[1] * 12
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        if tags.get(259) in (6, 7) or tags.get(262) == 6:
            # JPEG-in-TIFF and YCbCr are read through libtiff's RGBA interface, a strip at a time.
            rows = min(int(tags.get(278, image.size[1]) or image.size[1]), image.size[1])
            return image.size[0] * rows * 4
    return 0


def _shrink_need(size: tuple[int, int], max_side: int, bpp: int) -> int:
    """Bytes _shrink allocates: an integer reduce() when the page is far too big, Pillow's
    horizontal pass (target width x source height) and the target itself."""
    target = _fit(size, max_side)
    if target == size:
        return 0
    width, height = size
    factor_x = max(1, int(width / target[0] / _REDUCING_GAP))
    factor_y = max(1, int(height / target[1] / _REDUCING_GAP))
    reduced = 0
    if factor_x > 1 or factor_y > 1:
        width, height = -(-width // factor_x), -(-height // factor_y)
        reduced = width * height * bpp
    return reduced + target[0] * height * bpp + target[0] * target[1] * bpp
