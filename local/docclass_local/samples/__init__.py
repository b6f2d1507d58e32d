"""docclass_local.samples: deterministic scanned-looking business documents, drawn from code.

The demo, the tests and the benchmarks use these pages instead of binary fixtures. Every class has
several layouts, generated text and scanner artefacts (skew, blur, uneven light, noise, specks), so
telling the classes apart is a real job; the same (label, seed, dpi) gives the same pixels in every
process, because all randomness comes from seeds derived from the label and seed, never `hash()`.

One job per module: vocabulary (words), glyphs (glyph cache), page (drawing surface),
elements (shared page elements), layouts/ (one module per class), scanner (scanner model);
this module renders, encodes and writes pages.
"""

from __future__ import annotations

import io
import random
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, features

from docclass_local.samples.layouts import DRAWERS
from docclass_local.samples.page import MAX_DPI, MIN_DPI
from docclass_local.samples.scanner import blemish, scan

__all__ = ["CLASSES", "documents", "encode", "generate", "render"]

CLASSES: tuple[str, ...] = (
    "invoice",
    "receipt",
    "bank_statement",
    "letter",
    "form",
    "id_card",
    "memo",
    "resume",
)

SEED_STRIDE = 10_000  # sample i of generate(seed=s) is render(label, s * SEED_STRIDE + i)


def _check_label(label: str) -> None:
    if label not in DRAWERS:
        raise ValueError(f"unknown document class {label!r}; valid classes: {', '.join(CLASSES)}")


def render(label: str, seed: int, *, dpi: int = 150) -> Image.Image:
    """One scanned-looking page of the class `label` as an RGB image; same arguments, same pixels."""
    _check_label(label)
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be between {MIN_DPI} and {MAX_DPI}, got {dpi}")
    key = f"{label}:{seed}"
    r = random.Random(key)  # noqa: S311 - reproducible layouts, not secrets
    page, background = DRAWERS[label](r, dpi)
    background = blemish(page, r, background)
    noise = np.random.default_rng(zlib.crc32(key.encode()))
    return scan(page.image, r, noise, background, dpi)


_FORMATS = {"JPEG": "JPEG", "JPG": "JPEG", "PNG": "PNG", "TIFF": "TIFF", "TIF": "TIFF"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif"}


def _format(fmt: str) -> str:
    found = _FORMATS.get(fmt.upper().lstrip("."))
    if found is None:
        raise ValueError(f"unsupported format {fmt!r}; use one of JPEG, PNG, TIFF")
    return found


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    """The image as JPEG, PNG or TIFF file bytes (JPEG adds the usual compression artefacts)."""
    kind = _format(fmt)
    buffer = io.BytesIO()
    if kind == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    elif kind == "TIFF":
        image.save(buffer, "TIFF", compression="tiff_lzw" if features.check("libtiff") else None)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _plan(per_class: int, seed: int, classes: Sequence[str]) -> list[tuple[str, int, int]]:
    """(label, index, render seed) for every sample, after checking the arguments."""
    if not 0 <= per_class <= SEED_STRIDE:
        raise ValueError(f"per_class must be between 0 and {SEED_STRIDE}, got {per_class}")
    for label in classes:
        _check_label(label)
    return [(label, i, seed * SEED_STRIDE + i) for label in classes for i in range(per_class)]


def generate(
    out_dir: Path,
    *,
    per_class: int = 8,
    seed: int = 0,
    dpi: int = 150,
    fmt: str = "jpg",
    classes: Sequence[str] = CLASSES,
) -> list[tuple[str, Path]]:
    """Write out_dir/<label>/<label>-<NNN>.<ext> for each class; return the (label, path) pairs."""
    kind = _format(fmt)
    written = []
    for label, i, sample_seed in _plan(per_class, seed, classes):
        folder = Path(out_dir) / label
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label}-{i:03d}.{_EXTENSIONS[kind]}"
        path.write_bytes(encode(render(label, sample_seed, dpi=dpi), kind))
        written.append((label, path))
    return written


def documents(
    per_class: int, seed: int = 0, dpi: int = 150, classes: Sequence[str] = CLASSES
) -> Iterator[tuple[str, str, bytes]]:
    """(label, file name, JPEG bytes) for per_class pages of each class, without touching the disk."""
    plan = _plan(per_class, seed, classes)  # checked now, not at the first next()
    return ((label, f"{label}-{i:03d}.jpg", encode(render(label, s, dpi=dpi))) for label, i, s in plan)
