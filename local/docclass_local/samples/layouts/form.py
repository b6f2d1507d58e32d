"""A form: titled sections of labelled fields, checkboxes and handwritten answers."""

from __future__ import annotations

import random

import numpy as np

from docclass_local.samples.elements import handwriting, logo, paper_colour, signature
from docclass_local.samples.page import BRANDS, GREY, INK, LETTER, PEN_INKS, RGB, SHADE, WHITE, Page
from docclass_local.samples.vocabulary import (
    CHOICES,
    FORM_FIELDS,
    FORM_SECTIONS,
    FORM_TITLES,
    company_name,
    prose,
    sentence,
)


def _checkbox(page: Page, r: random.Random, x: float, y: float, label: str, ticked: bool, ink: RGB) -> float:
    page.rect(x, y, x + 9, y + 9, outline=INK, width=0.7)
    if ticked:
        mark = np.array([[x + 1.5, y + 4.5], [x + 4, y + 8], [x + 11, y - 2]]) + np.array(
            [r.uniform(-1, 1), r.uniform(-1, 1)]
        )
        page.polyline(mark, fill=ink, width=1.1)
    return x + 14 + page.text(x + 13, y + 0.5, label, 8) + 14


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    page = Page(LETTER, dpi, paper_colour(r))
    w, m = LETTER[0], r.uniform(36, 54)
    brand = r.choice(BRANDS)
    pen = r.choice(PEN_INKS)
    fill_rate = r.uniform(0.3, 0.9)
    style = r.randrange(3)  # 0 boxed grid, 1 underlined fields, 2 mixed with comb boxes
    y = m
    if r.random() < 0.6:
        logo(page, r, m, y, 26, brand, "F")
        page.text(m + 32, y + 7, company_name(r), 9, bold=True)
    page.text(
        w - m,
        y,
        f"Form {r.choice('ABCDHKPRT')}{r.choice('ABCDEGHR')}-{r.randint(10, 999)}",
        8,
        bold=True,
        align="right",
    )
    page.text(
        w - m, y + 11, f"Rev. {r.randint(1, 12):02d}/{r.randint(2012, 2024)}", 7, fill=GREY, align="right"
    )
    y += 40
    title = r.choice(FORM_TITLES)
    centred = r.random() < 0.5
    page.text(
        w / 2 if centred else m, y, title, r.uniform(15, 19), bold=True, align="center" if centred else "left"
    )
    y += 28
    y = (
        page.paragraph(
            m, y, w - 2 * m, "Please complete in BLOCK CAPITALS. " + prose(r, r.randint(1, 2)), 7.5, fill=GREY
        )
        + 10
    )
    bar = r.choice(("dark", "grey", "underline"))
    sections = r.sample(FORM_SECTIONS, k=len(FORM_SECTIONS))
    bottom = 792 - m - 70
    for section in sections:
        if y > bottom - 60:
            break
        if bar == "dark":
            page.rect(m, y, w - m, y + 15, fill=brand)
            page.text(m + 6, y + 3, section, 8.5, fill=WHITE, bold=True)
        elif bar == "grey":
            page.rect(m, y, w - m, y + 15, fill=SHADE, outline=INK, width=0.5)
            page.text(m + 6, y + 3, section, 8.5, bold=True)
        else:
            page.text(m, y + 2, section, 9, bold=True)
            page.line(m, y + 15, w - m, y + 15, width=1.2)
        y += 24
        for _ in range(r.randint(2, 4)):
            if y > bottom - 30:
                break
            kind = r.choice(
                ("boxes", "boxes", "checks")
                if style == 0
                else ("lines", "lines", "checks")
                if style == 1
                else ("boxes", "comb", "lines", "checks")
            )
            if kind == "boxes":
                count = r.choice((1, 2, 2, 3))
                cw = (w - 2 * m) / count
                for i in range(count):
                    x0 = m + i * cw
                    page.rect(x0, y, x0 + cw - 6, y + 30, outline=INK, width=0.7)
                    page.text(x0 + 3, y + 2, r.choice(FORM_FIELDS), 6.5, fill=GREY)
                    if r.random() < fill_rate:
                        handwriting(page, r, x0 + 8, y + 25, min(cw - 24, r.uniform(40, 180)), 12, pen)
                y += 38
            elif kind == "lines":
                count = r.choice((1, 2))
                cw = (w - 2 * m) / count
                for i in range(count):
                    x0 = m + i * cw
                    label = r.choice(FORM_FIELDS) + ":"
                    lw = page.text(x0, y + 8, label, 8.5)
                    page.line(x0 + lw + 4, y + 19, x0 + cw - 10, y + 19, width=0.6)
                    if r.random() < fill_rate:
                        handwriting(
                            page, r, x0 + lw + 10, y + 17, min(cw - lw - 30, r.uniform(40, 200)), 12, pen
                        )
                y += 28
            elif kind == "comb":
                label = r.choice(FORM_FIELDS)
                page.text(m, y + 6, label, 8.5)
                cells = r.randint(8, 20)
                x0 = m + 110
                filled = r.randint(0, cells) if r.random() < fill_rate else 0
                for i in range(cells):
                    page.rect(x0 + i * 15, y, x0 + i * 15 + 15, y + 20, outline=INK, width=0.6)
                    if i < filled:
                        handwriting(page, r, x0 + i * 15 + 3, y + 16, 9, 11, pen)
                y += 28
            else:
                question, options = r.choice(CHOICES)
                x = m + page.text(m, y, question + ":", 8.5) + 12
                chosen = r.randrange(len(options)) if r.random() < fill_rate else -1
                for i, option in enumerate(options):
                    x = _checkbox(page, r, x, y, option, i == chosen, pen)
                y += 22
        y += 6
    y = max(y + 8, bottom)
    page.paragraph(
        m, y, w - 2 * m, "I declare that the information given is true and complete. " + sentence(r), 7.5
    )
    y += 40
    page.text(m, y, "Signature", 8)
    page.line(m + 50, y + 11, m + 270, y + 11, width=0.6)
    page.text(m + 300, y, "Date", 8)
    page.line(m + 326, y + 11, w - m, y + 11, width=0.6)
    if r.random() < fill_rate:
        signature(page, r, m + 60, y + 8, 170, pen)
        handwriting(page, r, m + 336, y + 9, 90, 11, pen)
    return page, WHITE
