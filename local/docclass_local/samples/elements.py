"""Page elements several layouts share: paper, logos, handwriting, signatures, codes, photos, fields."""

from __future__ import annotations

import random

import numpy as np

from docclass_local.samples.page import BRANDS, GREY, INK, RGB, WHITE, Page


def paper_colour(r: random.Random) -> RGB:
    """An off-white paper tone, slightly warm."""
    base = r.randint(244, 253)
    return (base, base - r.randint(0, 3), base - r.randint(0, 8))


def logo(page: Page, r: random.Random, x: float, y: float, size: float, colour: RGB, initials: str) -> None:
    """A simple mark: a disc, a rounded square, stepped bars or a ring with a wedge."""
    kind = r.randrange(4)
    if kind == 0:
        page.ellipse(x, y, x + size, y + size, fill=colour)
        page.text(
            x + size / 2, y + size * 0.22, initials[:1], size * 0.55, fill=WHITE, bold=True, align="center"
        )
    elif kind == 1:
        page.rect(x, y, x + size, y + size, fill=colour, radius=size * 0.2)
        page.text(
            x + size / 2, y + size * 0.28, initials[:2], size * 0.4, fill=WHITE, bold=True, align="center"
        )
    elif kind == 2:
        bar = size / 4
        for i in range(3):
            top = y + size * (0.6 - 0.3 * i)
            page.rect(x + i * bar * 1.35, top, x + i * bar * 1.35 + bar, y + size, fill=colour)
    else:
        page.ellipse(x, y, x + size, y + size, outline=colour, width=size * 0.12)
        page.draw.pieslice(
            (
                page.px(x + size * 0.22),
                page.px(y + size * 0.22),
                page.px(x + size * 0.78),
                page.px(y + size * 0.78),
            ),
            r.randint(0, 180),
            r.randint(240, 400),
            fill=colour,
        )


def handwriting(
    page: Page, r: random.Random, x: float, base: float, width: float, size: float, ink: RGB
) -> float:
    """Cursive-looking loops of varied height along a baseline, word by word; return the end x."""
    end = x + width
    slant = r.uniform(0.15, 0.45)
    while x < end - size:
        letters = r.randint(2, 8)
        advance = size * r.uniform(0.36, 0.48)
        if x + letters * advance > end:
            letters = max(1, int((end - x) / advance))
        u = np.linspace(0.0, 1.0, 9)[:-1]
        xs, ys = [], []
        drift = 0.0
        for i in range(letters):
            height = size * r.choice((0.42, 0.45, 0.5, 0.55, 0.6, 1.0, 1.0, -0.55))
            loop = advance * r.uniform(0.05, 0.45)
            drift += r.uniform(-0.04, 0.04) * size
            rise = height * (1 - np.cos(2 * np.pi * u)) / 2
            xs.append(x + advance * (i + u) - loop * np.sin(2 * np.pi * u) + slant * rise)
            ys.append(base + drift - rise)
        points = np.column_stack((np.concatenate(xs), np.concatenate(ys)))
        page.polyline(points, fill=ink, width=size * 0.07)
        x += letters * advance + size * r.uniform(0.35, 0.6)
    return x


def signature(page: Page, r: random.Random, x: float, y: float, width: float, ink: RGB) -> None:
    """A scribbled signature: two loopy words and an underline flourish, baseline at y."""
    size = r.uniform(14, 20)
    end = handwriting(page, r, x, y, width * r.uniform(0.35, 0.5), size, ink)
    handwriting(page, r, end, y + r.uniform(-2, 2), width * r.uniform(0.3, 0.45), size * 0.9, ink)
    t = np.linspace(0, 1, 24)
    flourish = np.column_stack(
        (x + width * 0.05 + width * 0.85 * t, y + 5 + 4 * np.sin(np.pi * t * r.uniform(1, 2)))
    )
    page.polyline(flourish, fill=ink, width=1.0)


def barcode(page: Page, r: random.Random, x: float, y: float, width: float, height: float, ink: RGB) -> None:
    """A row of bars of random widths (a 1-D code that no reader needs to decode)."""
    module = max(0.55, 1 / page.k)
    cursor = x
    while cursor < x + width - 3 * module:
        bar = module * r.choice((1, 1, 2, 3))
        page.rect(cursor, y, cursor + bar * 0.999, y + height, fill=ink)
        cursor += bar + module * r.choice((1, 1, 2, 3))


def qr_code(page: Page, r: random.Random, x: float, y: float, size: float, ink: RGB) -> None:
    """A QR-looking square: random modules and the three finder patterns."""
    n = 25
    cell = size / n
    for row in range(n):
        for col in range(n):
            corner = (row < 8 and col < 8) or (row < 8 and col >= n - 8) or (row >= n - 8 and col < 8)
            if not corner and r.random() < 0.5:
                page.rect(
                    x + col * cell, y + row * cell, x + (col + 1) * cell, y + (row + 1) * cell, fill=ink
                )
    for cx, cy in ((0, 0), (n - 7, 0), (0, n - 7)):
        x0, y0 = x + cx * cell, y + cy * cell
        page.rect(x0, y0, x0 + 7 * cell, y0 + 7 * cell, fill=ink)
        page.rect(x0 + cell, y0 + cell, x0 + 6 * cell, y0 + 6 * cell, fill=WHITE)
        page.rect(x0 + 2 * cell, y0 + 2 * cell, x0 + 5 * cell, y0 + 5 * cell, fill=ink)


def portrait(page: Page, r: random.Random, x0: float, y0: float, x1: float, y1: float) -> None:
    """A passport-style photo: plain backdrop, shoulders, a head-shaped blob with hair and eyes."""
    page.rect(x0, y0, x1, y1, fill=r.choice(((206, 220, 232), (226, 226, 222), (196, 210, 214))))
    w, h = x1 - x0, y1 - y0
    cx = x0 + w / 2 + r.uniform(-0.05, 0.05) * w
    skin = r.choice(((232, 196, 170), (198, 150, 112), (150, 104, 76), (240, 210, 186), (112, 76, 56)))
    hair = r.choice(((40, 30, 26), (90, 62, 40), (150, 120, 80), (30, 30, 34), (120, 120, 120)))
    page.ellipse(cx - w * 0.48, y0 + h * 0.72, cx + w * 0.48, y1 + h * 0.35, fill=r.choice((*BRANDS, INK)))
    page.rect(cx - w * 0.09, y0 + h * 0.55, cx + w * 0.09, y0 + h * 0.78, fill=skin)
    head_w, head_h = w * r.uniform(0.26, 0.32), h * r.uniform(0.27, 0.32)
    top = y0 + h * 0.14
    page.ellipse(cx - head_w * 1.08, top - h * 0.03, cx + head_w * 1.08, top + head_h * 1.3, fill=hair)
    page.ellipse(cx - head_w, top + h * 0.05, cx + head_w, top + 2 * head_h, fill=skin)
    eye_y = top + head_h * 0.95
    for side in (-1, 1):
        ex = cx + side * head_w * 0.42
        page.ellipse(ex - w * 0.03, eye_y - h * 0.012, ex + w * 0.03, eye_y + h * 0.02, fill=(40, 32, 30))
    page.line(
        cx - head_w * 0.3,
        top + head_h * 1.55,
        cx + head_w * 0.3,
        top + head_h * 1.55,
        fill=(150, 80, 70),
        width=0.8,
    )


def label_values(
    page: Page, x: float, y: float, rows: list[tuple[str, str]], size: float, gap: float, label_w: float
) -> float:
    """Label/value pairs in two columns; return the y below them."""
    for label, value in rows:
        page.text(x, y, label, size, fill=GREY)
        page.text(x + label_w, y, value, size, bold=True)
        y += size * gap
    return y
