"""An internal memo: MEMORANDUM header, To/From/Date/Subject block and prose."""

from __future__ import annotations

import random

from docclass_local.samples.elements import paper_colour
from docclass_local.samples.page import BRANDS, GREY, INK, LETTER, RGB, WHITE, Page
from docclass_local.samples.vocabulary import (
    FIRST_NAMES,
    JOBS,
    company_name,
    date_text,
    person_name,
    prose,
    sentence,
)


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    page = Page(LETTER, dpi, paper_colour(r))
    w, m = LETTER[0], r.uniform(54, 76)
    brand = r.choice(BRANDS)
    style = r.randrange(3)
    company = company_name(r)
    y = m
    if style == 0:
        page.text(m, y, company.upper(), 8.5, fill=GREY, bold=True)
        page.text(m, y + 16, "MEMORANDUM", r.uniform(24, 30), bold=True)
        y += 62
    elif style == 1:
        page.text(w / 2, y, "MEMO", r.uniform(34, 42), bold=True, align="center")
        y += 52
        page.line(m, y, w - m, y, width=1.6)
        page.line(m, y + 4, w - m, y + 4, width=0.6)
        y += 20
    else:
        page.rect(0, 0, w, 10, fill=brand)
        page.text(m, y, "Internal Memo", r.uniform(20, 26), fill=brand, bold=True)
        page.text(w - m, y + 6, company, 9, fill=GREY, align="right")
        y += 48
    rows = [
        ("TO:", person_name(r) + r.choice(("", ", " + r.choice(JOBS), "; all staff"))),
        ("FROM:", f"{person_name(r)}, {r.choice(JOBS)}"),
    ]
    if r.random() < 0.5:
        rows.append(("CC:", f"{person_name(r)}; {person_name(r)}"))
    rows += [("DATE:", date_text(r)), (r.choice(("SUBJECT:", "RE:")), sentence(r, 3, 7)[:-1])]
    for label, value in rows:
        page.text(m, y, label, 10, bold=True)
        page.text(m + 72, y, value, 10)
        y += 19
    y += 4
    page.line(m, y, w - m, y, width=r.choice((0.6, 1.2, 2.4)))
    y += 22
    if r.random() < 0.3:
        page.rect(w - m - 118, m - 4, w - m, m + 22, outline=(178, 34, 40), width=1.6)
        page.text(w - m - 59, m + 3, "CONFIDENTIAL", 11, fill=(178, 34, 40), bold=True, align="center")
    size = r.uniform(9.5, 11)
    bullets = r.random() < 0.6
    for i in range(r.randint(2, 5)):
        if y > 792 - m - 120:
            break
        y = page.paragraph(m, y, w - 2 * m, prose(r, r.randint(1, 5)), size, leading=1.45) + size
        if bullets and i == 0:
            numbered = r.random() < 0.5
            for j in range(r.randint(3, 5)):
                marker = f"{j + 1}." if numbered else ""
                if numbered:
                    page.text(m + 14, y, marker, size)
                else:
                    page.ellipse(m + 16, y + size * 0.3, m + 16 + size * 0.35, y + size * 0.65, fill=INK)
                y = page.paragraph(m + 30, y, w - 2 * m - 30, sentence(r, 5, 14), size, leading=1.4) + 3
            y += size
    initials = "".join(part[0] for part in rows[1][1].split(",")[0].split())
    page.text(m, y + 6, initials + "/" + r.choice(FIRST_NAMES)[:2].lower(), 9, fill=GREY)
    if r.random() < 0.5:
        page.text(m, y + 22, f"Attachments: {r.randint(1, 4)}", 9, fill=GREY)
    return page, WHITE
