"""A resume: name and contacts, then experience, education and skills."""

from __future__ import annotations

import random

from docclass_local.samples.elements import paper_colour
from docclass_local.samples.page import BRANDS, GREY, INK, LETTER, RGB, WHITE, Page, tint
from docclass_local.samples.vocabulary import (
    CITIES,
    DEGREES,
    JOBS,
    SKILLS,
    address_lines,
    company_name,
    person_name,
    phone_number,
    prose,
    sentence,
)


def draw(r: random.Random, dpi: int) -> tuple[Page, RGB]:
    """One clean page of this class and the colour around it (see the module docstring)."""
    page = Page(LETTER, dpi, paper_colour(r))
    w, m = LETTER[0], r.uniform(40, 58)
    brand = r.choice(BRANDS)
    style = r.randrange(3)
    name = person_name(r)
    contact = [
        phone_number(r),
        f"{name.split()[0].lower()}.{name.split()[1].lower()}@example.com",
        address_lines(r)[-1],
    ]
    jobs = r.sample(JOBS, k=3)

    def heading(x: float, y: float, width: float, text: str) -> float:
        page.text(x, y, text.upper(), 10, fill=brand, bold=True)
        page.line(x, y + 15, x + width, y + 15, fill=brand, width=0.8)
        return y + 24

    def experience(x: float, y: float, width: float, limit: float) -> float:
        for job in jobs:
            if y > limit:
                break
            page.text(x, y, job, 9.5, bold=True)
            page.text(
                x + width,
                y,
                f"{r.randint(2008, 2018)} - {r.choice(('present', str(r.randint(2019, 2025))))}",
                8.5,
                fill=GREY,
                align="right",
            )
            page.text(x, y + 13, f"{company_name(r)}, {r.choice(CITIES)}", 8.5, fill=GREY)
            y += 28
            for _ in range(r.randint(2, 4)):
                page.ellipse(x + 4, y + 3.5, x + 7, y + 6.5, fill=INK)
                y = page.paragraph(x + 13, y, width - 13, sentence(r, 6, 16), 8.5, leading=1.35) + 2
            y += 8
        return y

    def education(x: float, y: float, width: float) -> float:
        for _ in range(r.randint(1, 2)):
            page.text(x, y, r.choice(DEGREES), 9.5, bold=True)
            page.text(x + width, y, str(r.randint(1998, 2016)), 8.5, fill=GREY, align="right")
            page.text(x, y + 13, f"University of {r.choice(CITIES)}", 8.5, fill=GREY)
            y += 32
        return y

    if style == 1:  # shaded sidebar with contact and skills, main column on the right
        side = r.uniform(170, 200)
        page.rect(0, 0, side, 792, fill=tint(brand, 0.86))
        page.rect(0, 0, side, 96, fill=brand)
        first, last = name.split()
        page.text(m * 0.6, 28, first, 18, fill=WHITE, bold=True)
        page.text(m * 0.6, 52, last, 18, fill=WHITE, bold=True)
        y = 120.0
        sx, sw = m * 0.6, side - m * 1.2
        y = heading(sx, y, sw, "Contact")
        for line in contact:
            page.text(sx, y, line, 7.5)
            y += 13
        y = heading(sx, y + 14, sw, "Skills")
        for skill in r.sample(SKILLS, k=r.randint(5, 9)):
            page.text(sx, y, skill, 8.5)
            page.rect(sx, y + 12, sx + sw, y + 15, fill=WHITE)
            page.rect(sx, y + 12, sx + sw * r.uniform(0.4, 1.0), y + 15, fill=brand)
            y += 22
        x, width = side + 24, w - side - 24 - m
        y = heading(x, 40, width, "Profile")
        y = page.paragraph(x, y, width, prose(r, r.randint(2, 4)), 9, leading=1.4) + 12
        y = heading(x, y, width, "Experience")
        y = experience(x, y, width, 792 - m - 120)
        y = heading(x, y + 4, width, "Education")
        education(x, y, width)
        return page, WHITE
    if style == 0:  # centred header, one column
        page.text(w / 2, m, name.upper(), r.uniform(20, 26), bold=True, align="center")
        page.text(w / 2, m + 32, "  |  ".join(contact), 8, fill=GREY, align="center")
        page.text(w / 2, m + 46, r.choice(JOBS), 10, fill=brand, align="center")
        y = m + 74
    else:  # name left, contact stacked right
        page.text(m, m, name, r.uniform(22, 28), fill=brand, bold=True)
        page.text(m, m + 32, r.choice(JOBS), 11, fill=GREY)
        for i, line in enumerate(contact):
            page.text(w - m, m + i * 12, line, 8, align="right")
        page.line(m, m + 54, w - m, m + 54, width=2.0, fill=brand)
        y = m + 72
    width = w - 2 * m
    y = heading(m, y, width, "Summary")
    y = page.paragraph(m, y, width, prose(r, r.randint(2, 3)), 9, leading=1.4) + 10
    y = heading(m, y, width, "Experience")
    y = experience(m, y, width, 792 - m - 170)
    y = heading(m, y + 2, width, "Education")
    y = education(m, y, width)
    y = heading(m, y, width, "Skills")
    page.paragraph(m, y, width, "  -  ".join(r.sample(SKILLS, k=r.randint(6, 10))), 9)
    return page, WHITE
