"""The bad-input catalogue: odd files and keys, each with the outcome docclass promises for it.

Shared by the tests and RELIABILITY.md's reproduction commands; every file is generated here,
no binary fixtures.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from conftest import draw_page
from huge_images import PNG_RGBA, zero_png, zero_tiff


@dataclass(frozen=True)
class Case:
    """One input: its key under inbox/, its bytes, and where it must end up."""

    name: str
    key: str
    make: Callable[[], bytes]
    outcome: str  # "classified" | "failed"
    reason: str = ""  # a fragment of docclass-error for "failed"
    metadata: dict[str, str] | None = None


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _letter(mode: str = "RGB") -> Image.Image:
    return Image.open(io.BytesIO(draw_page("letter", seed=42))).convert(mode)


def truncated_jpeg() -> bytes:
    data = _save(_letter(), "JPEG", quality=85)
    return data[: len(data) // 3]


def random_bytes() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def decompression_bomb() -> bytes:
    """A PNG header claiming 30000 x 30000 pixels (900 Mpx) with almost no data behind it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def thin_strip() -> bytes:
    strip = Image.new("L", (1, 20000), 255)
    strip.paste(0, (0, 5000, 1, 15000))
    return _save(strip, "PNG")


def grey16_png() -> bytes:
    page = np.asarray(_letter("L"), dtype=np.uint16) * 257
    image = Image.fromarray(page)  # uint16 -> mode I;16
    assert image.mode == "I;16"
    return _save(image, "PNG")


def cmyk_jpeg() -> bytes:
    return _save(_letter("CMYK"), "JPEG", quality=85)


def palette_png_with_transparency() -> bytes:
    image = _letter().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _save(image, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [_letter().convert("P"), Image.open(io.BytesIO(draw_page("form"))).convert("P")]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def multipage_tiff() -> bytes:
    pages = [_letter(), Image.open(io.BytesIO(draw_page("invoice"))).convert("RGB")]
    return _save(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")


def exif_rotated_jpeg() -> bytes:
    """The page stored sideways, with EXIF orientation 6 telling viewers to rotate it back."""
    sideways = _letter().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(sideways, "JPEG", quality=85, exif=exif.tobytes())


def over_25_mb() -> bytes:
    """An uncompressed BMP page of about 31 MB: above Titan's 25 MB input limit as uploaded."""
    page = _letter().resize((3400, 3050))
    data = _save(page, "BMP")
    assert len(data) > 25 * 1024 * 1024
    return data


def big_jpeg() -> bytes:
    """An 8000 x 8000 px JPEG: too large for the budget at full scale, decoded at 1/2 by draft()."""
    page = _letter().resize((8000, 8000))
    return _save(page, "JPEG", quality=75)


def letter_png() -> bytes:
    return draw_page("letter", seed=43)


CASES: tuple[Case, ...] = (
    Case("zero-byte object", "inbox/bad/empty.png", lambda: b"", "failed", "empty"),
    Case("truncated JPEG", "inbox/bad/truncated.jpg", truncated_jpeg, "failed", "truncated"),
    Case(
        "random bytes named .png",
        "inbox/bad/random.png",
        random_bytes,
        "failed",
        "unsupported or unrecognised",
    ),
    Case(
        "a text file",
        "inbox/bad/notes.txt",
        lambda: b"Dear team,\nplease find attached...\n",
        "failed",
        "not an image",
    ),
    Case(
        "an HTML file",
        "inbox/bad/page.html",
        lambda: b"<!DOCTYPE html><html><body>hi</body></html>",
        "failed",
        "HTML",
    ),
    Case(
        "a damaged PDF (a header and one empty object)",
        "inbox/bad/contract.pdf",
        lambda: b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n",
        "failed",
        "cannot open PDF (damaged or not a PDF)",
    ),
    Case("a decompression bomb", "inbox/bad/bomb.png", decompression_bomb, "failed", "too large"),
    Case(
        "a 0.57 MB PNG declaring 12000x12000 RGBA",
        "inbox/bad/bomb-12000.png",
        lambda: zero_png(12_000, 12_000),
        "failed",
        "image too large to decode in memory: 12000x12000 px RGBA PNG needs about",
    ),
    Case(
        "a 13000x13000 RGBA PNG",
        "inbox/bad/bomb-13000.png",
        lambda: zero_png(13_000, 13_000),
        "failed",
        "image too large to decode in memory",
    ),
    Case(
        "an 8000x8000 16-bit RGBA PNG",
        "inbox/bad/deep.png",
        lambda: zero_png(8_000, 8_000, PNG_RGBA, 16),
        "failed",
        "the budget is 368 MB per document (ClassifyFunction MemorySize 1024 MB)",
    ),
    Case(
        "a 16000x11000 RGB TIFF (3 KB)",
        "inbox/bad/huge.tif",
        lambda: zero_tiff(16_000, 11_000),
        "failed",
        "image too large to decode in memory",
    ),
    Case("an 8000x8000 JPEG (fits once drafted)", "inbox/odd/big.jpg", big_jpeg, "classified"),
    Case("a 1x20000 px strip", "inbox/odd/strip.png", thin_strip, "classified"),
    Case("16-bit grayscale PNG", "inbox/odd/grey16.png", grey16_png, "classified"),
    Case("CMYK JPEG", "inbox/odd/cmyk.jpg", cmyk_jpeg, "classified"),
    Case(
        "palette PNG with transparency", "inbox/odd/palette.png", palette_png_with_transparency, "classified"
    ),
    Case("animated GIF", "inbox/odd/animated.gif", animated_gif, "classified"),
    Case("multi-page TIFF", "inbox/odd/pages.tif", multipage_tiff, "classified"),
    Case("EXIF-rotated JPEG", "inbox/odd/rotated.jpg", exif_rotated_jpeg, "classified"),
    Case("a file over 25 MB", "inbox/odd/huge.bmp", over_25_mb, "classified"),
    Case("key with spaces", "inbox/keys/scan of  march.png", letter_png, "classified"),
    Case("key with plus signs", "inbox/keys/a+b+c.png", letter_png, "classified"),
    Case("key with percent signs", "inbox/keys/100%25 done %.png", letter_png, "classified"),
    Case(
        "key with non-ASCII characters",
        "inbox/keys/Rechnung Müller 請求書.png",
        letter_png,
        "classified",
        metadata={"note": "non-ascii key"},
    ),
)
