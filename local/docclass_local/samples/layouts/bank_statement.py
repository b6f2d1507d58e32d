"""A bank statement: account header, summary box and a long transaction table."""

from __future__ import annotations

import random

from docclass_local.samples.elements import label_values, logo, paper_colour
from docclass_local.samples.page import BRANDS, GREY, INK, LETTER, RGB, RULE, SHADE, WHITE, Page, tint
from docclass_local.samples.vocabulary import (
    MONTHS,
    STEMS,
    TRANSACTIONS,
    address_lines,
    money,
    person_name,
    prose,
)


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    page = Page(LETTER, dpi, paper_colour(r))
    w, m = LETTER[0], r.uniform(38, 52)
    brand = r.choice(BRANDS)
    bank = f"{r.choice(STEMS)} {r.choice(('Bank', 'Savings Bank', 'Trust', 'Credit Union', 'Financial'))}"
    header = r.randrange(3)
    title = r.choice(
        ("Statement of Account", "Account Statement", "Current Account Statement", "Monthly Statement")
    )
    if header == 0:
        logo(page, r, m, m - 6, 34, brand, bank)
        page.text(m + 44, m + 2, bank, 15, fill=brand, bold=True)
        page.text(w - m, m + 4, title, 13, bold=True, align="right")
        y = m + 58
    elif header == 1:
        page.rect(0, 0, w, 58, fill=brand)
        page.text(m, 18, bank, 17, fill=WHITE, bold=True)
        page.text(w - m, 23, title, 11, fill=WHITE, align="right")
        y = 86
    else:
        page.text(w / 2, m - 6, bank.upper(), 16, fill=brand, bold=True, align="center")
        page.line(m, m + 18, w - m, m + 18, fill=brand, width=2)
        page.text(w / 2, m + 26, title, 10, align="center")
        y = m + 58
    holder = person_name(r).upper()
    for i, line in enumerate([holder, *address_lines(r)]):
        page.text(m + 10, y + i * 12, line, 9)
    month, year = r.randrange(12), r.randint(2020, 2025)
    last_day = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month]
    details = [
        ("Account number", f"****{r.randint(1000, 9999)}"),
        ("Sort code", f"{r.randint(10, 99)}-{r.randint(10, 99)}-{r.randint(10, 99)}"),
        ("Statement period", f"1 {MONTHS[month]} {year} to {last_day} {MONTHS[month]} {year}"),
        ("Statement date", f"{MONTHS[(month + 1) % 12]} {r.randint(1, 5)}, {year + (month == 11)}"),
    ]
    bx = w / 2 + r.uniform(0, 20)
    if r.random() < 0.5:
        page.rect(bx - 8, y - 8, w - m, y + 4 * 13 + 2, outline=RULE, width=0.7)
    label_values(page, bx, y, details, 8.5, 1.5, 82)
    y += 76

    # The table fills the page down to the footer; the summary adds up exactly the rows shown.
    boxes = r.random() < 0.5
    row_h = r.uniform(13, 16)
    table_top = y + (56 if boxes else 78)
    bottom = 792 - m - 36
    count = int((bottom - table_top - 2 * row_h - 2) / row_h)
    opening = r.uniform(200, 9000)
    money_in = money_out = 0.0
    balance = opening
    rows = []
    day = 1
    for i in range(count):
        day = min(
            last_day, max(day, round(1 + i * (last_day - 1) / max(1, count - 1)) + r.choice((-1, 0, 0, 1)))
        )
        credit = r.random() < 0.25
        amount = round(r.uniform(200, 4000) if credit else r.uniform(3, 420), 2)
        balance += amount if credit else -amount
        money_in += amount if credit else 0.0
        money_out += 0.0 if credit else amount
        kind = (
            r.choice(("SALARY", "TRANSFER FROM", "REFUND", "INTEREST")) if credit else r.choice(TRANSACTIONS)
        )
        description = f"{kind} {r.choice(STEMS).upper()} {r.randint(10, 9999)}"
        rows.append((f"{day:02d} {MONTHS[month][:3]}", description, amount, credit, balance))
    summary = [
        ("Opening balance", opening),
        ("Money in", money_in),
        ("Money out", money_out),
        ("Closing balance", balance),
    ]
    if boxes:  # a row of four boxes
        cw = (w - 2 * m) / 4
        for i, (label, value) in enumerate(summary):
            x = m + i * cw
            page.rect(x + 2, y, x + cw - 2, y + 38, fill=tint(brand, 0.88))
            page.text(x + 10, y + 6, label, 7.5, fill=GREY)
            page.text(x + 10, y + 19, money(value), 11, bold=True)
    else:  # a small summary table on the left
        page.text(m, y, "Your account summary", 10, fill=brand, bold=True)
        for i, (label, value) in enumerate(summary):
            page.text(m + 4, y + 16 + i * 12.5, label, 8.5)
            page.text(m + 220, y + 16 + i * 12.5, money(value), 8.5, align="right", bold=i == 3)
    y = table_top
    style = r.choice(("shaded", "shaded", "rules", "columns"))
    size = 7.5
    right = [w - m - 170, w - m - 90, w - m - 6]
    head_fill = brand if r.random() < 0.6 else SHADE
    head_ink = WHITE if head_fill == brand else INK
    page.rect(m, y, w - m, y + row_h + 2, fill=head_fill)
    page.text(m + 6, y + 3, "Date", 8, fill=head_ink, bold=True)
    page.text(m + 58, y + 3, "Description", 8, fill=head_ink, bold=True)
    for x, head in zip(right, ("Paid out", "Paid in", "Balance"), strict=True):
        page.text(x, y + 3, head, 8, fill=head_ink, bold=True, align="right")
    top = y
    y += row_h + 2
    page.text(m + 58, y + row_h * 0.2, "BALANCE BROUGHT FORWARD", size, bold=True)
    page.text(right[2], y + row_h * 0.2, money(opening), size, align="right")
    y += row_h
    for i, (date, text, amount, credit, running) in enumerate(rows):
        if style == "shaded" and i % 2 == 0:
            page.rect(m, y, w - m, y + row_h, fill=tint(brand, 0.9))
        page.text(m + 6, y + row_h * 0.2, date, size)
        page.text(m + 58, y + row_h * 0.2, text, size)
        page.text(right[1] if credit else right[0], y + row_h * 0.2, money(amount), size, align="right")
        page.text(right[2], y + row_h * 0.2, money(running), size, align="right")
        y += row_h
        if style == "rules":
            page.line(m, y, w - m, y, fill=RULE, width=0.4)
    if style == "columns":
        for x in [m + 52, *(r_ - 62 for r_ in right)]:
            page.line(x, top, x, y, fill=RULE, width=0.5)
        page.rect(m, top, w - m, y, outline=RULE, width=0.6)
    page.paragraph(m, 792 - m - 26, w - 2 * m - 80, prose(r, 2), 6.5, fill=GREY, leading=1.3)
    page.text(w - m, 792 - m - 26, f"Page 1 of {r.randint(2, 6)}", 7.5, fill=GREY, align="right")
    return page, WHITE
