"""Tiny files that declare huge images: PNG and TIFF headers in front of compressed zero rows.

A 12000 x 12000 RGBA page of zeros deflates to about half a megabyte, so these inputs cost almost
nothing to write, store or upload, yet decoding them allocates what the header declares. They are
generated row by row (never the whole raster in memory), so the tests and bench/memory.py can
measure the decode alone. Shared by tests/catalogue.py, the memory tests and bench/memory.py.
"""

from __future__ import annotations

import struct
import zlib

# PNG colour types (PNG spec, IHDR): samples per pixel for each.
PNG_GREY, PNG_RGB, PNG_GREY_ALPHA, PNG_RGBA = 0, 2, 4, 6
_PNG_SAMPLES = {PNG_GREY: 1, PNG_RGB: 3, PNG_GREY_ALPHA: 2, PNG_RGBA: 4}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _zero_rows(row_bytes: int, rows: int) -> bytes:
    """A zlib stream of `rows` rows of `row_bytes` zero bytes, each led by PNG filter type 0 (also 0).

    Deflating hundreds of megabytes of zeros takes seconds; instead one megabyte is deflated and
    its output repeated: after a full flush the compressor starts afresh, so every further
    megabyte compresses to the same bytes. The tail is raw deflate, and the Adler-32 of n zero
    bytes is computed directly (a stays 1, b is n mod 65521).
    """
    total = (row_bytes + 1) * rows
    block = 1 << 20
    whole, rest = divmod(total, block)
    if whole < 3:
        return zlib.compress(bytes(total), 9)
    packer = zlib.compressobj(9)
    first = packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    assert again == packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    end = tail.compress(bytes(rest)) + tail.flush()
    return first + again * (whole - 1) + end + struct.pack(">I", ((total % 65521) << 16) | 1)


def zero_png(width: int, height: int, colour_type: int = PNG_RGBA, bit_depth: int = 8) -> bytes:
    """A valid PNG of width x height zero pixels (transparent black when it has alpha)."""
    row_bytes = (width * _PNG_SAMPLES[colour_type] * bit_depth + 7) // 8
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", _zero_rows(row_bytes, height))
        + _png_chunk(b"IEND", b"")
    )


def header_only_png(width: int, height: int, colour_type: int = PNG_RGBA, bit_depth: int = 8) -> bytes:
    """A PNG that declares width x height but carries no pixel data: enough for header-only checks."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def zero_tiff(width: int, height: int, samples: int = 3, rows_per_strip: int = 64) -> bytes:
    """A little-endian, Deflate-compressed, 8-bit TIFF of width x height zero pixels (RGB or grey).

    Every strip points at the same compressed bytes (one full strip of zeros): the file stays a few
    kilobytes plus 8 bytes per strip, whatever the declared size. The last strip decodes to more
    rows than the image has left, which decoders ignore.
    """
    strips = (height + rows_per_strip - 1) // rows_per_strip
    strip = zlib.compress(bytes(width * samples * rows_per_strip), 9)
    photometric = 2 if samples == 3 else 1
    # Layout: header (8) | strip data | BitsPerSample values | StripOffsets | StripByteCounts | IFD
    data_at = 8
    bits_at = data_at + len(strip)
    offsets_at = bits_at + 2 * samples
    counts_at = offsets_at + 4 * strips
    ifd_at = counts_at + 4 * strips
    short, long_ = 3, 4
    entries = [
        (256, long_, 1, width),  # ImageWidth
        (257, long_, 1, height),  # ImageLength
        (258, short, samples, bits_at if samples > 2 else 8),  # BitsPerSample
        (259, short, 1, 8),  # Compression: Deflate (Adobe)
        (262, short, 1, photometric),  # PhotometricInterpretation
        (273, long_, strips, offsets_at if strips > 1 else data_at),  # StripOffsets
        (277, short, 1, samples),  # SamplesPerPixel
        (278, long_, 1, rows_per_strip),  # RowsPerStrip
        (279, long_, strips, counts_at if strips > 1 else len(strip)),  # StripByteCounts
        (284, short, 1, 1),  # PlanarConfiguration: chunky
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HHI", tag, kind, count)
        if kind == short and count == 1:
            packed += struct.pack("<HH", value, 0)
        else:
            packed += struct.pack("<I", value)
        ifd += packed
    ifd += struct.pack("<I", 0)  # no next IFD
    return (
        b"II*\x00"
        + struct.pack("<I", ifd_at)
        + strip
        + struct.pack(f"<{samples}H", *([8] * samples))
        + struct.pack(f"<{strips}I", *([data_at] * strips))
        + struct.pack(f"<{strips}I", *([len(strip)] * strips))
        + ifd
    )


def make(kind: str, width: int, height: int) -> bytes:
    """An input of one kind (see KINDS) at width x height, built without holding big rasters twice."""
    if kind in _PNG_KINDS:
        colour_type, bit_depth = _PNG_KINDS[kind]
        return zero_png(width, height, colour_type, bit_depth)
    if kind in ("tiff-rgb", "tiff-grey"):
        return zero_tiff(width, height, 3 if kind == "tiff-rgb" else 1)
    import io

    from PIL import Image

    out = io.BytesIO()
    if kind in ("jpeg", "jpeg-progressive", "jpeg-cmyk"):
        # Noise, so the file is as large as a busy scan's; 4:2:0 as cameras and scanners write.
        grey = Image.effect_noise((width, height), 24)
        page = Image.merge("RGB", (grey, grey, grey))
        del grey
        if kind == "jpeg-cmyk":
            page = page.convert("CMYK")
        page.save(out, "JPEG", quality=85, progressive=kind == "jpeg-progressive")
    elif kind == "webp":
        Image.new("RGB", (width, height), (250, 250, 250)).save(out, "WEBP", lossless=True)
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    return out.getvalue()


_PNG_KINDS = {
    "png-rgb": (PNG_RGB, 8),
    "png-rgba": (PNG_RGBA, 8),
    "png-grey": (PNG_GREY, 8),
    "png-grey-alpha": (PNG_GREY_ALPHA, 8),
    "png-rgb16": (PNG_RGB, 16),
    "png-rgba16": (PNG_RGBA, 16),
    "png-grey16": (PNG_GREY, 16),
}
KINDS = (*_PNG_KINDS, "tiff-rgb", "tiff-grey", "jpeg", "jpeg-progressive", "jpeg-cmyk", "webp")

# Run in a fresh interpreter (tests and bench/memory.py): python huge_images.py KIND W H [MEMORY_MB]
# builds the input, resets the peak RSS (Linux: writing 5 to /proc/self/clear_refs), decodes it
# through docclass.images.load_image with ClassifyFunction's budget for MEMORY_MB (none if 0),
# and prints one JSON line: the decode's peak above the RSS it started from, the estimate, the
# budget, and whether the decode was refused.


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(kind: str, width: int, height: int, memory_mb: int) -> dict[str, object]:
    """Decode one input in this process and report its peak memory (see above)."""
    import gc
    import io
    import threading

    from PIL import Image

    from docclass.errors import DocumentTooLarge
    from docclass.images import MAX_SIDE, decode_need, load_image
    from docclass.memory import classify_budget

    data = make(kind, width, height)
    budget = classify_budget(memory_mb) if memory_mb else None
    probe = Image.open(io.BytesIO(data))
    if max(probe.size) > MAX_SIDE:
        from docclass.images import _fit

        probe.draft("RGB", _fit(probe.size, MAX_SIDE))
    estimate = decode_need(probe, full_size=(width, height))
    del probe
    gc.collect()
    threading.Event().wait(0)  # nothing else runs: the measurement is of the decode alone
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    start = _status("VmRSS")
    refused = ""
    try:
        page = load_image(data, budget=budget)
        out = page.size
        del page
    except DocumentTooLarge as exc:
        refused, out = str(exc), (0, 0)
    peak = _status("VmHWM") - start
    return {
        "kind": kind,
        "width": width,
        "height": height,
        "file_bytes": len(data),
        "peak_bytes": peak,
        "estimate_bytes": estimate,
        "budget_bytes": budget.per_document if budget else None,
        "refused": refused,
        "page": list(out),
    }


if __name__ == "__main__":
    import json
    import sys

    kind, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    memory_mb = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    print(json.dumps(measure(kind, width, height, memory_mb)))
