"""The drawing surface: an RGB page addressed in points (1/72 in), its geometry and its inks."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from docclass_local.samples import glyphs
from docclass_local.samples.glyphs import Glyphs, glyphs_at

RGB = tuple[int, int, int]

# Geometry in points (1/72 in): a letter page is 612 x 792 pt, i.e. 8.5 x 11 in.
LETTER = (612.0, 792.0)
RECEIPT_WIDTH = 223.2  # 3.1 in, a common thermal roll
ID_CARD = (242.64, 153.0)  # ID-1: 3.37 x 2.125 in
ID_MARGIN = 21.6  # 0.3 in of desk or scanner lid around the card
MIN_DPI, MAX_DPI = 50, 600

INK: RGB = (24, 24, 28)
GREY: RGB = (105, 105, 112)
RULE: RGB = (150, 150, 156)
SHADE: RGB = (234, 234, 236)
WHITE: RGB = (255, 255, 255)
BRANDS: tuple[RGB, ...] = (
    (31, 58, 112),
    (0, 104, 116),
    (128, 30, 42),
    (34, 96, 58),
    (196, 96, 20),
    (88, 52, 128),
    (58, 76, 96),
    (176, 32, 44),
)
PEN_INKS: tuple[RGB, ...] = ((22, 40, 125), (24, 24, 34), (34, 64, 150), (40, 40, 60))


def tint(colour: RGB, amount: float) -> RGB:
    """The colour mixed with white: amount 0 is the colour, 1 is white."""
    return tuple(round(c + (255 - c) * amount) for c in colour)  # type: ignore[return-value]


class Page:
    """An RGB page addressed in points, so layouts are the same at every dpi."""

    def __init__(self, size: tuple[float, float], dpi: int, paper: RGB) -> None:
        self.k = dpi / 72
        self.width, self.height = size
        self.image = Image.new("RGB", (self.px(size[0]), self.px(size[1])), paper)
        self.draw = ImageDraw.Draw(self.image)

    def px(self, value: float) -> int:
        return round(value * self.k)

    def _font(self, size: float, bold: bool) -> Glyphs:
        # Read at each call, so a test can switch to the bitmap font.
        return glyphs_at(max(4, round(size * self.k)), bold, glyphs.SCALABLE)

    def measure(self, text: str, size: float = 10, bold: bool = False) -> float:
        return self._font(size, bold).width(text) / self.k

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 10,
        *,
        fill: RGB = INK,
        bold: bool = False,
        align: str = "left",
        justify_to: float = 0.0,
    ) -> float:
        """Draw text whose top-left (or top-right, top-centre) is (x, y); return its width in points."""
        if not text.strip():
            return 0.0
        font = self._font(size, bold)
        extra = 0.0
        if justify_to and " " in text.strip():
            extra = max(0.0, (justify_to * self.k - font.width(text)) / text.count(" "))
        mask, width_px = font.render(text, extra)
        width = width_px / self.k
        if align == "right":
            x -= width
        elif align == "center":
            x -= width / 2
        origin = (self.px(x) - font.pad, self.px(y) - font.pad)
        self.image.paste(fill, origin, Image.fromarray(mask))
        return width

    def wrap(self, text: str, width: float, size: float = 10, bold: bool = False) -> list[str]:
        font = self._font(size, bold)
        limit, space = width * self.k, font.width(" ")
        lines: list[str] = []
        words: list[str] = []
        used = 0.0
        for word in text.split():
            w = font.width(word)
            if words and used + space + w > limit:
                lines.append(" ".join(words))
                words, used = [], 0.0
            used += (space if words else 0.0) + w
            words.append(word)
        if words:
            lines.append(" ".join(words))
        return lines

    def paragraph(
        self,
        x: float,
        y: float,
        width: float,
        text: str,
        size: float = 10,
        *,
        leading: float = 1.4,
        fill: RGB = INK,
        justify: bool = False,
    ) -> float:
        """Wrap and draw text; return the y below its last line."""
        lines = self.wrap(text, width, size)
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            self.text(x, y, line, size, fill=fill, justify_to=width if justify and not last else 0.0)
            y += size * leading
        return y

    def rect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        fill: RGB | None = None,
        outline: RGB | None = None,
        width: float = 0.7,
        radius: float = 0.0,
    ) -> None:
        box = (self.px(x0), self.px(y0), self.px(x1), self.px(y1))
        line = max(1, self.px(width)) if outline else 0
        if radius:
            self.draw.rounded_rectangle(box, self.px(radius), fill=fill, outline=outline, width=line)
        else:
            self.draw.rectangle(box, fill=fill, outline=outline, width=line)

    def line(
        self, x0: float, y0: float, x1: float, y1: float, *, fill: RGB = INK, width: float = 0.7
    ) -> None:
        self.draw.line(
            (self.px(x0), self.px(y0), self.px(x1), self.px(y1)), fill=fill, width=max(1, self.px(width))
        )

    def dashed(
        self, x0: float, x1: float, y: float, *, fill: RGB = INK, dash: float = 3.0, width: float = 0.7
    ) -> None:
        x = x0
        while x < x1:
            self.line(x, y, min(x + dash, x1), y, fill=fill, width=width)
            x += 2 * dash

    def ellipse(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        fill: RGB | None = None,
        outline: RGB | None = None,
        width: float = 0.7,
    ) -> None:
        box = (self.px(x0), self.px(y0), self.px(x1), self.px(y1))
        self.draw.ellipse(box, fill=fill, outline=outline, width=max(1, self.px(width)) if outline else 0)

    def polyline(self, points: np.ndarray, *, fill: RGB, width: float) -> None:
        scaled = np.rint(points * self.k).astype(int)
        self.draw.line(
            [tuple(p) for p in scaled.tolist()], fill=fill, width=max(1, self.px(width)), joint="curve"
        )

    def crop_height(self, height: float) -> None:
        self.height = height
        self.image = self.image.crop((0, 0, self.image.width, self.px(height)))
        self.draw = ImageDraw.Draw(self.image)
