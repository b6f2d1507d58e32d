"""The scanner model: specks, holes and creases on the page, then skew, blur, uneven light and noise."""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageChops

from docclass_local.samples.page import INK, LETTER, RGB, WHITE, Page, tint


def blemish(page: Page, r: random.Random, background: RGB) -> RGB:
    """Dust specks, punch holes and a fold crease on some pages; return the scanner's fill colour."""
    if r.random() < 0.45:
        for _ in range(r.randint(3, 40)):
            x, y, s = r.uniform(0, page.width), r.uniform(0, page.height), r.uniform(0.3, 1.3)
            grey = r.randint(20, 120)
            page.ellipse(x, y, x + s, y + s * r.uniform(0.6, 1.4), fill=(grey, grey, grey))
    if page.height < LETTER[1] or background != WHITE:
        return background
    lid = r.randint(150, 215)
    if r.random() < 0.15:  # two punched holes show the darker scanner lid through the page
        for y in (page.height * 0.28, page.height * 0.72):
            x = r.uniform(20, 30)
            page.ellipse(x - 9, y - 9, x + 9, y + 9, fill=(lid, lid, lid))
    if r.random() < 0.2:  # a letter folded in three leaves a faint crease
        y = page.height * r.choice((1 / 3, 2 / 3)) + r.uniform(-6, 6)
        crease = tint(INK, r.uniform(0.72, 0.82))
        page.line(0, y, page.width, y + r.uniform(-2, 2), fill=crease, width=0.5)
    return (lid, lid, lid) if r.random() < 0.3 else background


def _ycbcr(colour: RGB) -> tuple[float, float, float]:
    red, green, blue = colour
    return (
        0.299 * red + 0.587 * green + 0.114 * blue,
        128 - 0.168736 * red - 0.331264 * green + 0.5 * blue,
        128 + 0.5 * red - 0.418688 * green - 0.081312 * blue,
    )


def _shear(plane: np.ndarray, slope: float, axis: int) -> np.ndarray:
    """Shift each row (axis 1) or column (axis 0) by slope * its index, linearly interpolated.

    Pillow's bilinear rotate of a 150-dpi RGB page took about 50 ms here; two numpy shears of
    the luma plane take a few. Rows that share an integer shift are moved as one block.
    """
    n = plane.shape[0] if axis == 1 else plane.shape[1]
    shifts = slope * np.arange(n, dtype=np.float64)
    shifts -= shifts.min()
    whole = np.floor(shifts).astype(np.int64)
    frac = (shifts - whole).astype(np.float32)
    extra = int(whole.max()) + 1
    h, w = plane.shape
    out = np.zeros((h, w + extra) if axis == 1 else (h + extra, w), np.float32)
    cuts = np.flatnonzero(np.diff(whole)) + 1
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
        s = int(whole[start])
        if axis == 1:
            block = plane[start:stop]
            moved = block * frac[start:stop, None]
            out[start:stop, s : s + w] += block - moved
            out[start:stop, s + 1 : s + 1 + w] += moved
        else:
            block = plane[:, start:stop]
            moved = block * frac[None, start:stop]
            out[s : s + h, start:stop] += block - moved
            out[s + 1 : s + 1 + h, start:stop] += moved
    return out


def _rotate(plane: np.ndarray, angle: float, background: float) -> np.ndarray:
    """Rotate by a small angle (radians) as two shears, growing the canvas and filling it with background."""
    s = math.sin(angle)
    shifted = _shear(plane - np.float32(background), -s, axis=1)
    return _shear(shifted, s, axis=0) + np.float32(background)


def _profile(r: random.Random, n: int, low: float) -> np.ndarray:
    """A smooth 1-D light profile between low and 1, sometimes with a shadow along one edge."""
    knots = np.linspace(0, n - 1, r.randint(3, 6))
    values = np.array([r.uniform(low, 1.0) for _ in knots])
    profile = np.interp(np.arange(n), knots, values).astype(np.float32)
    if r.random() < 0.15:
        edge = np.exp(-np.arange(n, dtype=np.float32) / (n * r.uniform(0.01, 0.04))) * r.uniform(0.15, 0.4)
        profile *= 1 - (edge if r.random() < 0.5 else edge[::-1])
    return profile


def scan(
    page: Image.Image, r: random.Random, noise: np.random.Generator, background: RGB, dpi: int
) -> Image.Image:
    """Skew, soften, unevenly light and add sensor noise to a clean page, as a cheap scanner would."""
    angle = math.radians(r.uniform(-1.5, 1.5))
    soften = np.float32(r.uniform(0.1, 0.3))
    sigma = r.uniform(2.0, 6.0)
    black, white = r.uniform(10, 40), r.uniform(238, 255)
    y_bg, cb_bg, cr_bg = _ycbcr(background)

    # Luma at full resolution: a 3-tap blur along each axis (optics), then the skew.
    luma = np.asarray(page.convert("L")).astype(np.float32)
    luma *= soften
    blurred = luma * ((1 - 2 * soften) / soften)
    blurred[:, 1:] += luma[:, :-1]
    blurred[:, :-1] += luma[:, 1:]
    blurred *= soften
    luma = blurred * ((1 - 2 * soften) / soften)
    luma[1:] += blurred[:-1]
    luma[:-1] += blurred[1:]
    luma = _rotate(luma, angle, y_bg)
    h, w = luma.shape

    luma *= _profile(r, h, 0.9)[:, None]
    luma *= _profile(r, w, 0.92)[None, :]
    scale = np.float32(sigma / 104.0)  # two summed uniform bytes: triangular noise, sd about 104
    grain = np.frombuffer(noise.bytes(2 * h * w), np.uint8).reshape(2, h, w)
    jitter = grain[0].astype(np.float32)
    jitter += grain[1]
    jitter *= scale
    luma *= np.float32((white - black) / 255)
    luma += jitter
    luma += np.float32(black - 255 * scale + 0.5)

    np.clip(luma, 0, 255, out=luma)
    y_plane = Image.fromarray(luma.astype(np.uint8))

    # Colour at 1/f resolution, as JPEG keeps it anyway. Each RGB channel is luma plus an offset
    # (R-Y, G-Y, B-Y) stored as uint8 around 128 and added back with ImageChops; Pillow's YCbCr
    # merge plus bilinear chroma upscaling cost more than the whole luma path.
    f = max(1, round(dpi / 75))
    _, cb_band, cr_band = page.reduce(f).convert("YCbCr").split()
    cb = _rotate(np.asarray(cb_band).astype(np.float32) - 128, angle, cb_bg - 128)
    cr = _rotate(np.asarray(cr_band).astype(np.float32) - 128, angle, cr_bg - 128)
    channels = []
    for offset in (1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb):
        offset += 128.5
        np.clip(offset, 0, 255, out=offset)
        plane = Image.fromarray(offset.astype(np.uint8)).resize((w, h), Image.Resampling.NEAREST)
        channels.append(ImageChops.add(y_plane, plane, 1.0, -128))
    return Image.merge("RGB", channels)
