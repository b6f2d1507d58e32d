"""An ID card: a photo, printed fields and a signature on an ID-1 card on the scanner bed."""

from __future__ import annotations

import random

import numpy as np

from docclass_local.samples.elements import logo, portrait, signature
from docclass_local.samples.page import BRANDS, GREY, ID_CARD, ID_MARGIN, INK, RGB, WHITE, Page, tint
from docclass_local.samples.vocabulary import (
    CARD_TITLES,
    FIRST_NAMES,
    LANDS,
    LAST_NAMES,
    STEMS,
    company_name,
    date_text,
)


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    backgrounds = ((58, 60, 66), (96, 78, 60), (44, 50, 62), (196, 196, 192), (120, 122, 128))
    background = r.choice(backgrounds)
    cw, ch = ID_CARD
    page = Page((cw + 2 * ID_MARGIN, ch + 2 * ID_MARGIN), dpi, background)
    x0, y0 = ID_MARGIN, ID_MARGIN
    x1, y1 = x0 + cw, y0 + ch
    shade: RGB = (max(0, background[0] - 26), max(0, background[1] - 26), max(0, background[2] - 26))
    page.rect(x0 + 2, y0 + 3, x1 + 3, y1 + 4, fill=shade, radius=10)  # the card's shadow
    brand = r.choice(BRANDS)
    base = tint(brand, r.uniform(0.84, 0.93))
    page.rect(x0, y0, x1, y1, fill=base, radius=9)
    t = np.linspace(0, 1, 60)
    for i in range(r.randint(4, 9)):  # guilloche-like security lines
        wave = np.column_stack(
            (x0 + 6 + (cw - 12) * t, y0 + 20 + i * 14 + 5 * np.sin(2 * np.pi * (t * r.uniform(2, 5) + i / 5)))
        )
        page.polyline(wave, fill=tint(brand, 0.7), width=0.4)
    land = r.choice(LANDS)
    title = r.choice(CARD_TITLES)
    issuer = r.choice(
        (
            f"REPUBLIC OF {land}",
            f"STATE OF {land}",
            f"{r.choice(STEMS).upper()} UNIVERSITY",
            company_name(r).upper(),
        )
    )
    layout = r.randrange(3)
    surname, given = r.choice(LAST_NAMES).upper(), r.choice(FIRST_NAMES).upper()
    fields = [
        ("SURNAME", surname),
        ("GIVEN NAMES", given),
        ("DATE OF BIRTH", date_text(r, 2)),
        ("ID NO.", f"{r.choice('ABCXYZ')}{r.randint(10**7, 10**8 - 1)}"),
        ("EXPIRES", date_text(r, 2)),
    ]
    if layout == 0:  # band on top, photo left
        page.rect(x0, y0, x1, y0 + 30, fill=brand, radius=9)
        page.rect(x0, y0 + 15, x1, y0 + 30, fill=brand)
        page.text(x0 + 10, y0 + 5, issuer, 8.5, fill=WHITE, bold=True)
        page.text(x0 + 10, y0 + 17, title, 6.5, fill=tint(brand, 0.7))
        portrait(page, r, x0 + 10, y0 + 38, x0 + 70, y0 + 116)
        fx, fy = x0 + 80, y0 + 38
        signature(page, r, x0 + 150, y1 - 12, 70, INK)
    elif layout == 1:  # band down the left, photo right
        page.rect(x0, y0, x0 + 28, y1, fill=brand, radius=9)
        page.rect(x0 + 14, y0, x0 + 28, y1, fill=brand)
        logo(page, r, x0 + 5, y0 + 8, 18, WHITE, land)
        page.text(x0 + 36, y0 + 8, title, 9.5, fill=brand, bold=True)
        page.text(x0 + 36, y0 + 21, issuer, 6, fill=GREY)
        portrait(page, r, x1 - 72, y0 + 34, x1 - 12, y0 + 112)
        fx, fy = x0 + 36, y0 + 36
        signature(page, r, x1 - 74, y1 - 12, 60, INK)
    else:  # chip, MRZ-style strip at the bottom, small photo right
        page.text(x0 + 10, y0 + 8, issuer, 8, fill=brand, bold=True)
        page.text(x0 + 10, y0 + 19, title, 6.5, fill=GREY)
        page.rect(
            x0 + 12,
            y0 + 36,
            x0 + 42,
            y0 + 58,
            fill=(206, 172, 92),
            outline=(150, 120, 60),
            width=0.5,
            radius=3,
        )
        page.line(x0 + 12, y0 + 47, x0 + 42, y0 + 47, fill=(150, 120, 60), width=0.5)
        page.line(x0 + 27, y0 + 36, x0 + 27, y0 + 58, fill=(150, 120, 60), width=0.5)
        portrait(page, r, x1 - 64, y0 + 10, x1 - 12, y0 + 78)
        fx, fy = x0 + 52, y0 + 32
        page.rect(x0, y1 - 34, x1, y1, fill=WHITE, radius=9)
        page.rect(x0, y1 - 34, x1, y1 - 20, fill=WHITE)
        number = fields[3][1]
        mrz = [f"ID{land[:3]}{number}<<<<<<<<<<<<<<<", f"{surname}<<{given}<<<<<<<<<<<<<<<<<<<<"]
        for i, line in enumerate(mrz):
            page.text(x0 + 8, y1 - 31 + i * 12, line[:40], 7.5, fill=INK)
    size = 7.0 if layout != 2 else 6.2
    for label, value in fields[: 5 if layout != 2 else 4]:
        page.text(fx, fy, label, size * 0.72, fill=GREY)
        page.text(fx, fy + size * 0.9, value, size, bold=True)
        fy += size * 2.45
    return page, background
