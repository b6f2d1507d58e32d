"""A business letter: one of three letterheads, addresses, prose and a signature."""

from __future__ import annotations

import random

from docclass_local.samples.elements import logo, paper_colour, signature
from docclass_local.samples.page import BRANDS, GREY, LETTER, PEN_INKS, RGB, WHITE, Page
from docclass_local.samples.vocabulary import (
    CITIES,
    JOBS,
    address_lines,
    company_name,
    date_text,
    person_name,
    phone_number,
    prose,
    sentence,
)


def _letterhead(page: Page, r: random.Random, m: float, brand: RGB, company: str) -> tuple[float, float]:
    """Three letterhead styles; return where the letter body may start (y) and its left indent."""
    w = page.width
    style = r.randrange(3)
    lines = [*address_lines(r), phone_number(r)]
    if style == 0:  # centred name, tagline, rule
        page.text(w / 2, m, company.upper(), r.uniform(15, 19), fill=brand, bold=True, align="center")
        page.text(w / 2, m + 24, "  |  ".join(lines), 7.5, fill=GREY, align="center")
        page.line(m, m + 38, w - m, m + 38, fill=brand, width=r.choice((0.6, 1.5)))
        return m + 62, 0.0
    if style == 1:  # logo and name left, address column right
        logo(page, r, m, m, 38, brand, company)
        page.text(m + 48, m + 10, company, 14, bold=True)
        for i, line in enumerate(lines):
            page.text(w - m, m + i * 10, line, 7.5, fill=GREY, align="right")
        return m + 70, 0.0
    page.rect(0, 0, 20, page.height, fill=brand)  # a colour bar down the left edge
    page.text(m + 8, m, company, 16, fill=brand, bold=True)
    page.text(m + 8, m + 22, lines[0] + ", " + lines[-2], 7.5, fill=GREY)
    return m + 58, 8.0


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    page = Page(LETTER, dpi, paper_colour(r))
    w, m = LETTER[0], r.uniform(56, 80)
    brand = r.choice(BRANDS)
    company = company_name(r)
    y, indent = _letterhead(page, r, m, brand, company)
    left = m + indent
    date_right = r.random() < 0.4
    y += r.uniform(6, 30)
    page.text(
        w - m if date_right else left,
        y,
        date_text(r, r.choice((0, 1))),
        10,
        align="right" if date_right else "left",
    )
    y += 28
    recipient = person_name(r)
    for line in [recipient, company_name(r), *address_lines(r)]:
        page.text(left, y, line, 10)
        y += 13
    y += 16
    if r.random() < 0.5:
        page.text(left, y, f"Re: {sentence(r, 3, 7)[:-1]}", 10, bold=True)
        y += 24
    title = r.choice(("Mr.", "Ms.", "Dr.", "Mrs."))
    page.text(left, y, f"Dear {title} {recipient.split()[1]},", 10)
    y += 22
    size = r.uniform(9.5, 11)
    justify = r.random() < 0.5
    for _ in range(r.randint(2, 5)):
        text = prose(r, r.randint(1, 6))
        if y + size * 1.45 * len(page.wrap(text, w - left - m, size)) > 792 - m - 110:
            break
        y = page.paragraph(left, y, w - left - m, text, size, leading=1.45, justify=justify) + size * 0.9
    y += 6
    page.text(left, y, r.choice(("Sincerely,", "Kind regards,", "Yours faithfully,", "Best regards,")), 10)
    signature(page, r, left, y + 44, 150, r.choice(PEN_INKS))
    y += 58
    page.text(left, y, person_name(r), 10, bold=True)
    page.text(left, y + 13, r.choice(JOBS), 9, fill=GREY)
    if r.random() < 0.5:
        page.text(
            w / 2,
            792 - 30,
            f"Registered in {r.choice(CITIES)}  No. {r.randint(10**6, 10**7)}  |  {company}",
            6.5,
            fill=GREY,
            align="center",
        )
    return page, WHITE
