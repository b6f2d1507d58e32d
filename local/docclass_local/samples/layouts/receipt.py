"""A till receipt: a narrow thermal roll with items, totals, a barcode or QR code."""

from __future__ import annotations

import math
import random

from docclass_local.samples.elements import barcode, logo, paper_colour, qr_code
from docclass_local.samples.page import RECEIPT_WIDTH, RGB, WHITE, Page
from docclass_local.samples.vocabulary import (
    FIRST_NAMES,
    GOODS,
    SHOP_KINDS,
    STEMS,
    address_lines,
    date_text,
    money,
    phone_number,
)


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    paper = paper_colour(r)
    page = Page((RECEIPT_WIDTH, 1100), dpi, paper)
    w, m = RECEIPT_WIDTH, r.uniform(12, 18)
    fade = r.randint(20, 95)  # thermal print ranges from crisp to washed out
    ink: RGB = (fade, fade, fade + 4)
    variant = r.randrange(3)
    y = r.uniform(14, 24)
    shop = f"{r.choice(STEMS).upper()} {r.choice(SHOP_KINDS)}"
    if variant == 2:
        logo(page, r, w / 2 - 16, y, 32, ink, shop)
        y += 40
    page.text(w / 2, y, shop, r.uniform(12, 15), fill=ink, bold=True, align="center")
    y += 20
    for line in [*address_lines(r), f"Tel {phone_number(r)}"]:
        page.text(w / 2, y, line, 7.5, fill=ink, align="center")
        y += 10
    rule = r.choice(("-", "=", "*"))

    def separator() -> None:
        nonlocal y
        y += 4
        if rule == "-":
            page.dashed(m, w - m, y + 3, fill=ink, dash=2.5)
        else:
            count = int((w - 2 * m) / page.measure(rule, 7.5))
            page.text(w / 2, y - 1, rule * count, 7.5, fill=ink, align="center")
        y += 10

    separator()
    page.text(m, y, date_text(r, 2), 7.5, fill=ink)
    page.text(w - m, y, f"{r.randint(6, 21):02d}:{r.randint(0, 59):02d}", 7.5, fill=ink, align="right")
    y += 10
    page.text(m, y, f"Receipt #{r.randint(1000, 999999)}", 7.5, fill=ink)
    page.text(w - m, y, f"Till {r.randint(1, 9)}  Op {r.choice(FIRST_NAMES)}", 7.5, fill=ink, align="right")
    y += 10
    separator()
    subtotal = 0.0
    for _ in range(r.randint(4, 13)):
        qty = r.choice((1, 1, 1, 1, 2, 3))
        price = round(r.uniform(0.5, 24), 2)
        subtotal += qty * price
        page.text(m, y, r.choice(GOODS), 7.8, fill=ink)
        page.text(w - m, y, money(qty * price), 7.8, fill=ink, align="right")
        y += 10.5
        if variant == 1 and qty > 1:
            page.text(m + 10, y, f"{qty} x {money(price)}", 7, fill=ink)
            y += 10
    separator()
    tax = subtotal * r.choice((0.05, 0.07, 0.0825, 0.1))
    for label, value in (("SUBTOTAL", subtotal), ("TAX", tax)):
        page.text(m, y, label, 7.8, fill=ink)
        page.text(w - m, y, money(value), 7.8, fill=ink, align="right")
        y += 10.5
    y += 2
    page.text(m, y, "TOTAL", 11, fill=ink, bold=True)
    page.text(w - m, y, money(subtotal + tax), 11, fill=ink, bold=True, align="right")
    y += 18
    if r.random() < 0.6:
        page.text(
            m,
            y,
            f"{r.choice(('VISA', 'MASTERCARD', 'DEBIT'))} ************{r.randint(1000, 9999)}",
            7.5,
            fill=ink,
        )
        y += 10
        page.text(m, y, f"AUTH {r.randint(100000, 999999)}   APPROVED", 7.5, fill=ink)
    else:
        cash = math.ceil(subtotal + tax + r.uniform(0, 20))
        page.text(m, y, "CASH", 7.5, fill=ink)
        page.text(w - m, y, money(cash), 7.5, fill=ink, align="right")
        y += 10
        page.text(m, y, "CHANGE", 7.5, fill=ink)
        page.text(w - m, y, money(cash - subtotal - tax), 7.5, fill=ink, align="right")
    y += 10
    separator()
    if variant == 2:
        qr_code(page, r, w / 2 - 30, y + 2, 60, ink)
        y += 70
        page.text(w / 2, y, f"Points earned: {r.randint(1, 300)}", 7.5, fill=ink, align="center")
        y += 12
    else:
        barcode(page, r, m + 10, y + 2, w - 2 * m - 20, 30, ink)
        y += 36
        page.text(w / 2, y, " ".join(str(r.randint(0, 9)) for _ in range(12)), 7, fill=ink, align="center")
        y += 12
    page.text(
        w / 2,
        y + 4,
        r.choice(("THANK YOU FOR SHOPPING", "PLEASE COME AGAIN", "HAVE A NICE DAY")),
        8,
        fill=ink,
        bold=True,
        align="center",
    )
    page.crop_height(y + 4 + r.uniform(24, 60))
    return page, WHITE
