"""An invoice: seller and buyer blocks, a table of lines, totals and payment terms."""

from __future__ import annotations

import random

from docclass_local.samples.elements import label_values, logo, paper_colour
from docclass_local.samples.page import BRANDS, GREY, INK, LETTER, RGB, RULE, SHADE, WHITE, Page, tint
from docclass_local.samples.vocabulary import (
    SERVICES,
    STEMS,
    address_lines,
    company_name,
    date_text,
    money,
    person_name,
    phone_number,
    prose,
)


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    page = Page(LETTER, dpi, paper_colour(r))
    w, m = LETTER[0], r.uniform(40, 62)
    brand = r.choice(BRANDS)
    company = company_name(r)
    title = r.choice(("INVOICE", "INVOICE", "TAX INVOICE", "Invoice"))
    header = r.randrange(3)
    lines = [*address_lines(r), phone_number(r)]
    if header == 2:  # a full-width colour band carrying the title and the seller
        band = r.uniform(76, 96)
        page.rect(0, 0, w, band, fill=brand)
        page.text(m, band * 0.3, title, r.uniform(24, 30), fill=WHITE, bold=True)
        page.text(w - m, 16, company, 12, fill=WHITE, bold=True, align="right")
        for i, line in enumerate(lines):
            page.text(w - m, 34 + i * 11, line, 8, fill=tint(brand, 0.75), align="right")
        y = band + 26
    else:  # the logo block top-left (title right) or top-right (title left)
        size = r.uniform(36, 50)
        logo_x = m if header == 0 else w - m - size
        logo(page, r, logo_x, m, size, brand, company)
        text_x = m + size + 10 if header == 0 else w - m - size - 10
        align = "left" if header == 0 else "right"
        page.text(text_x, m + 2, company, 12.5, bold=True, align=align)
        for i, line in enumerate(lines):
            page.text(text_x, m + 19 + i * 11, line, 8, fill=GREY, align=align)
        title_x, title_align = (w - m, "right") if header == 0 else (m, "left")
        page.text(
            title_x, m, title, r.uniform(22, 32), fill=r.choice((brand, INK)), bold=True, align=title_align
        )
        y = m + 30 + len(lines) * 11 + 22
    meta = [
        ("Invoice no.", f"{r.choice('ABCDFGHK')}{r.randint(1000, 99999)}"),
        ("Date", date_text(r)),
        ("Due date", date_text(r)),
    ]
    if r.random() < 0.6:
        meta.append(("PO number", f"PO-{r.randint(10000, 99999)}"))
    if r.random() < 0.5:
        meta.append(("Customer ID", f"C{r.randint(100, 9999):04d}"))
    meta_left = r.random() < 0.4
    page.text(m if not meta_left else w / 2 + 20, y, "BILL TO", 8, fill=brand, bold=True)
    bill = [person_name(r), company_name(r), *address_lines(r)]
    for i, line in enumerate(bill):
        page.text(m if not meta_left else w / 2 + 20, y + 13 + i * 11.5, line, 9)
    meta_x = w / 2 + 40 if not meta_left else m
    label_values(page, meta_x, y, meta, 9, 1.45, 78)
    y += max(13 + len(bill) * 11.5, len(meta) * 13) + 26

    # Line items: grid, horizontal rules or alternate shading; with or without an item-code column.
    style = r.choice(("grid", "rules", "shaded"))
    code_col = r.random() < 0.4
    cols = [m + 8] + ([m + 62] if code_col else [])
    right = [w - m - 190, w - m - 100, w - m - 8]
    heads = (["Item"] if code_col else []) + ["Description"]
    row_h = r.uniform(17, 22)
    rows = r.randint(4, 14)
    head_fill = r.choice((brand, SHADE, None))
    if head_fill:
        page.rect(m, y, w - m, y + row_h, fill=head_fill)
    head_ink = WHITE if head_fill == brand else INK
    for x, head in zip(cols, heads, strict=True):
        page.text(x, y + row_h * 0.25, head, 8.5, fill=head_ink, bold=True)
    for x, head in zip(right, ("Qty", "Unit price", "Amount"), strict=True):
        page.text(x, y + row_h * 0.25, head, 8.5, fill=head_ink, bold=True, align="right")
    if not head_fill:
        page.line(m, y + row_h, w - m, y + row_h, width=1.4)
    top = y
    y += row_h
    subtotal = 0.0
    for i in range(rows):
        if style == "shaded" and i % 2:
            page.rect(m, y, w - m, y + row_h, fill=tint(brand, 0.9))
        qty = r.choice((1, 1, 2, 3, 4, 5, 10, 12, 20))
        price = round(r.uniform(8, 950), 2)
        subtotal += qty * price
        if code_col:
            page.text(cols[0], y + row_h * 0.27, f"{r.randint(100, 999)}-{r.randint(10, 99)}", 8.5, fill=GREY)
        page.text(cols[-1], y + row_h * 0.27, r.choice(SERVICES), 8.5)
        for x, value in zip(right, (str(qty), money(price), money(qty * price)), strict=True):
            page.text(x, y + row_h * 0.27, value, 8.5, align="right")
        y += row_h
        if style in ("grid", "rules"):
            page.line(m, y, w - m, y, fill=RULE if style == "rules" else INK, width=0.6)
    if style == "grid":
        page.rect(m, top, w - m, y, outline=INK, width=0.8)
        for x in ([cols[1] - 8] if code_col else []) + [r_ - 60 for r_ in right]:
            page.line(x, top, x, y, width=0.6)
    tax_rate = r.choice((0.0, 5.0, 7.5, 8.25, 10.0, 20.0))
    tax = subtotal * tax_rate / 100
    totals = [("Subtotal", money(subtotal)), (f"Tax ({tax_rate:g}%)", money(tax))]
    if r.random() < 0.4:
        totals.append(("Shipping", money(r.uniform(10, 120))))
    total = f"{r.choice(('$', 'USD ', ''))}{money(subtotal + tax)}"
    y += 16
    box_left = r.random() < 0.3
    bx0 = m if box_left else w - m - 210
    for label, value in totals:
        page.text(bx0 + 10, y, label, 9)
        page.text(bx0 + 200, y, value, 9, align="right")
        y += 14
    boxed = r.choice(("band", "outline", "plain"))
    if boxed == "band":
        page.rect(bx0, y - 3, bx0 + 210, y + 19, fill=brand)
    elif boxed == "outline":
        page.rect(bx0, y - 3, bx0 + 210, y + 19, outline=INK, width=1.2)
    total_ink = WHITE if boxed == "band" else INK
    page.text(bx0 + 10, y + 2, "TOTAL DUE", 10.5, fill=total_ink, bold=True)
    page.text(bx0 + 200, y + 2, total, 10.5, fill=total_ink, bold=True, align="right")
    notes_x = w - m - 250 if box_left else m
    ny = y - 14 * len(totals)
    page.text(notes_x, ny, "Payment terms", 8.5, bold=True)
    page.paragraph(notes_x, ny + 13, 240 if not box_left else 250, prose(r, r.randint(1, 3)), 7.5, fill=GREY)
    footer = 792 - m - 20
    if r.random() < 0.7:
        page.line(m, footer - 8, w - m, footer - 8, fill=RULE, width=0.5)
        bank = f"Bank transfer to {r.choice(STEMS)} Bank  |  Account {r.randint(10**7, 10**8 - 1)}  |  Ref: invoice number"
        page.text(w / 2, footer, bank, 7.5, fill=GREY, align="center")
    if r.random() < 0.6:
        page.text(
            m,
            footer - 34,
            r.choice(("Thank you for your business!", "Thank you.", "We appreciate your prompt payment.")),
            10,
            fill=brand,
        )
    return page, WHITE
