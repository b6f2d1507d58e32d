"""Glyphs rasterised once per process and font size, so drawing a line of text is numpy copies."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _scalable_fonts() -> bool:
    try:
        ImageFont.load_default(size=12)
    except (ImportError, OSError):  # Pillow built without FreeType: only the bitmap font exists
        return False
    return True


SCALABLE = _scalable_fonts()


class Glyphs:
    """One font size's glyphs as uint8 masks; drawing text costs numpy copies, not FreeType calls."""

    def __init__(self, px: int, bold: bool, scalable: bool) -> None:
        self.scalable = scalable
        self.cache: dict[str, tuple[np.ndarray | None, int, int, float]] = {}
        if scalable:
            self.font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size=px)
            self.stroke = max(1, round(px / 26)) if bold else 0
            ascent, descent = self.font.getmetrics()  # type: ignore[union-attr]
        else:
            # The bitmap fallback is a 6x11 cell: stretch it to roughly the scalable font's shape.
            self.font = ImageFont.load_default_imagefont()
            self.stroke = 1 if bold else 0
            self.sx, self.sy = px * 0.52 / 6, px * 1.15 / 11
            ascent, descent = round(11 * self.sy), 0
        self.pad = self.stroke + 2
        self.height = ascent + descent + 2 * self.pad

    def glyph(self, ch: str) -> tuple[np.ndarray | None, int, int, float]:
        found = self.cache.get(ch)
        if found is None:
            found = self.cache[ch] = self._raster(ch)
        return found

    def _raster(self, ch: str) -> tuple[np.ndarray | None, int, int, float]:
        font = self.font
        if isinstance(font, ImageFont.FreeTypeFont):
            left, top, right, bottom = font.getbbox(ch, anchor="la", stroke_width=self.stroke)
            advance = font.getlength(ch) + self.stroke
            if right <= left or bottom <= top:
                return None, 0, 0, advance
            cell = Image.new("L", (int(right - left), int(bottom - top)), 0)
            ImageDraw.Draw(cell).text(
                (-left, -top), ch, font=font, fill=255, anchor="la", stroke_width=self.stroke, stroke_fill=255
            )
            return np.asarray(cell), int(left), int(top), advance
        cell = Image.new("L", (6, 11), 0)
        ImageDraw.Draw(cell).text((0, 0), ch, font=font, fill=255)
        mask = np.asarray(cell)
        if self.stroke:
            mask = np.maximum(mask, np.roll(mask, 1, axis=1))
        size = (max(1, round(6 * self.sx)), max(1, round(11 * self.sy)))
        scaled = Image.fromarray(mask).resize(size, Image.Resampling.BILINEAR)
        return np.asarray(scaled), 0, 0, 6 * self.sx

    def width(self, text: str) -> float:
        return sum(self.glyph(ch)[3] for ch in text)

    def render(self, text: str, space_extra: float = 0.0) -> tuple[np.ndarray, float]:
        """The text as a coverage mask whose origin is (pad, pad) from the pen's top-left corner."""
        glyphs = [self.glyph(ch) for ch in text]
        width = sum(g[3] for g in glyphs) + space_extra * text.count(" ")
        out = np.zeros((self.height, int(width) + 2 * self.pad + 2), np.uint8)
        pen = float(self.pad)
        for ch, (mask, left, top, advance) in zip(text, glyphs, strict=True):
            if mask is not None:
                x, y = max(0, int(pen + left + 0.5)), top + self.pad
                region = out[y : y + mask.shape[0], x : x + mask.shape[1]]
                np.maximum(region, mask[: region.shape[0], : region.shape[1]], out=region)
            pen += advance + (space_extra if ch == " " else 0.0)
        return out, width


@lru_cache(maxsize=256)
def glyphs_at(px: int, bold: bool, scalable: bool) -> Glyphs:
    """The glyphs of one pixel size and weight, made once per process."""
    return Glyphs(px, bold, scalable)
