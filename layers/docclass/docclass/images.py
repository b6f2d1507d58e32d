"""Decode whatever users upload into a safe RGB page no larger than the embedding model accepts."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from docclass.errors import UnreadableImage

# Titan Multimodal Embeddings G1 accepts at most 2048x2048 px and 25 MB per image.
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


def load_image(data: bytes, *, max_side: int = MAX_SIDE) -> Image.Image:
    """Decode image bytes into an RGB image whose longer side is at most max_side (aspect kept)."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    if not data:
        raise UnreadableImage("empty object")
    image = _open(data)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UnreadableImage(f"image too large: {width}x{height} px (limit {MAX_PIXELS} px)")
    try:
        if max(width, height) > max_side:
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale, never below the requested size.
            image.draft("RGB", _fit((width, height), max_side))
        image.load()  # the first page or frame of a multi-page TIFF, animated GIF or WebP
        ImageOps.exif_transpose(image, in_place=True)
        page = _to_rgb(image, max_side)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImage(f"image too large: {e}") from e
    except _DECODE_ERRORS as e:
        raise UnreadableImage(f"cannot decode {image.format} image: {e}") from e
    if page is image:
        page = page.copy()  # a plain image, detached from the decoder and its input buffer
    # Drop the source's metadata: a CMYK ICC profile left in info would be written into a PNG.
    page.info = {}
    return page


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
        return "PDF is not supported yet"
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
    return image.resize(target, _RESAMPLE, reducing_gap=3.0)


def _to_rgb(image: Image.Image, max_side: int | None = None) -> Image.Image:
    """Flatten alpha on white, bring every mode to 8-bit RGB, and shrink to max_side if given."""
    if image.mode in _HIGH_DEPTH_MODES:
        # Shrink before mapping to 8 bits: the 32-bit intermediate stays small.
        if max_side is not None:
            image = _shrink(image, max_side)
        return _high_depth_to_grey(image).convert("RGB")
    page = _flatten(image)
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
        layer = image.convert("LA" if grey else "RGBA")
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
