"""docclass_local.samples: deterministic scanned-looking business documents, drawn from code.

The demo, the tests and the benchmarks use these pages instead of binary fixtures. Every class has
several layouts, generated text and scanner artefacts (skew, blur, uneven light, noise, specks), so
telling the classes apart is a real job; the same (label, seed, dpi) gives the same pixels in every
process, because all randomness comes from seeds derived from the label and seed, never `hash()`.
"""

from __future__ import annotations

import io
import math
import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont, features

__all__ = ["CLASSES", "documents", "encode", "generate", "render"]

CLASSES: tuple[str, ...] = (
    "invoice",
    "receipt",
    "bank_statement",
    "letter",
    "form",
    "id_card",
    "memo",
    "resume",
)

RGB = tuple[int, int, int]
Drawer = Callable[[random.Random, int], tuple["_Page", RGB]]

# Geometry in points (1/72 in): a letter page is 612 x 792 pt, i.e. 8.5 x 11 in.
LETTER = (612.0, 792.0)
RECEIPT_WIDTH = 223.2  # 3.1 in, a common thermal roll
ID_CARD = (242.64, 153.0)  # ID-1: 3.37 x 2.125 in
ID_MARGIN = 21.6  # 0.3 in of desk or scanner lid around the card
MIN_DPI, MAX_DPI = 50, 600
SEED_STRIDE = 10_000  # sample i of generate(seed=s) is render(label, s * SEED_STRIDE + i)

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

# --- a small generated vocabulary --------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Amelia Arjun Beatriz Carlos Chen Dana Elena Farid Grace Hana Ines Jonas Kofi Laila Marco Mei "
    "Nadia Omar Priya Quinn Rafael Sara Tomas Uma Victor Wen Yusuf Zoe Aaron Bianca Diego Esther "
    "Felix Greta Hugo Ivana Jamal Keiko Liam Maya"
)
LAST_NAMES = _words(
    "Abbott Alvarez Bennett Brooks Castillo Chowdhury Dalton Eriksen Ferreira Fischer Gallagher "
    "Haddad Ishikawa Jensen Kowalski Lindqvist Mahoney Marsh Novak Okafor Patel Quintero Reyes Sato "
    "Schneider Tanaka Underwood Varga Walsh Whitaker Young Zimmer Hale Moreau Nakamura Olsen Petrov "
    "Rossi Singh Thornton"
)
STEMS = _words(
    "Alder Apex Bluewater Brightline Cedar Copperfield Crescent Evergreen Fairmont Granite Harbor "
    "Ironwood Juniper Keystone Lakeside Meridian Northgate Oakridge Pinecrest Quarry Redwood "
    "Riverbend Sterling Summit Tidewater Union Valley Westbrook Willow Zenith"
)
TRADES = (
    "Logistics",
    "Supply Co.",
    "Consulting",
    "Partners",
    "Engineering",
    "Analytics",
    "Print & Design",
    "Foods",
    "Medical Group",
    "Legal Services",
    "Builders",
    "Software",
    "Freight",
    "Energy",
    "Outfitters",
    "Holdings",
)
SUFFIXES = ("Ltd", "Inc.", "LLC", "GmbH", "Corp.", "& Sons", "", "")
STREETS = _words("Maple Oak Harbor Mill Station Church Park River Hill Elm Market King Bridge Garden Chapel")
STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Way", "Drive", "Boulevard", "Court", "Place")
CITIES = _words(
    "Riverside Fairview Georgetown Franklin Clinton Salem Madison Ashland Burlington Dover Kingston "
    "Milton Newport Oxford Bristol Lancaster Hudson Marion Auburn Dayton"
)
REGIONS = ("CA", "NY", "TX", "WA", "IL", "OH", "MA", "OR", "CO", "GA", "MN", "NC")
MONTHS = _words("January February March April May June July August September October November December")
NOUNS = _words(
    "account agreement allocation approval audit balance budget client contract cost delivery "
    "department estimate forecast invoice margin meeting order payment policy portfolio project "
    "proposal quarter review revenue schedule service shipment statement supplier support team "
    "terms update vendor workflow inventory compliance procedure renewal migration capacity "
    "headcount pricing report milestone deadline requirement warehouse facility training customer"
)
VERBS = _words(
    "confirm review schedule approve submit provide include ensure deliver discuss request receive "
    "complete prepare reconcile extend reduce improve coordinate finalise allocate track share"
)
GLUE = _words("the the the of of and and to to for with on in by from our your this that all each new")
ADJECTIVES = _words(
    "annual quarterly revised current outstanding final pending additional internal regional "
    "standard updated detailed preliminary overall monthly"
)
SERVICES = (
    "Consulting hours",
    "Project management",
    "Site inspection",
    "Software licence (annual)",
    "Technical support - tier 2",
    "Freight handling",
    "Design revisions",
    "Installation labour",
    "Training session",
    "Data migration",
    "Hosting - monthly plan",
    "Maintenance visit",
    "Printing - brochures",
    "Office chairs",
    "Toner cartridges",
    "Safety equipment",
    "Cable assembly",
    "Packaging materials",
    "Travel expenses",
    "Calibration service",
)
GOODS = (
    "MILK 2L",
    "WHOLEGRAIN BREAD",
    "BANANAS 1.2KG",
    "COFFEE BEANS",
    "EGGS 12PK",
    "CHEDDAR 400G",
    "APPLES",
    "PENNE PASTA",
    "TOMATOES",
    "RICE 1KG",
    "GREEK YOGURT",
    "OLIVE OIL",
    "ORANGE JUICE",
    "CHICKEN THIGHS",
    "LETTUCE",
    "BUTTER",
    "OAT CEREAL",
    "SPARKLING WATER",
    "DISH SOAP",
    "BATTERIES AA",
    "NOTEBOOK A5",
    "GEL PENS",
    "SANDWICH",
    "LATTE LARGE",
    "BLUEBERRY MUFFIN",
    "CROISSANT",
    "GREEN TEA",
    "PAPER TOWELS",
)
SHOP_KINDS = ("MARKET", "GROCER", "CAFE", "PHARMACY", "HARDWARE", "BAKERY", "STATIONERY", "DELI")
TRANSACTIONS = (
    "CARD PAYMENT",
    "DIRECT DEBIT",
    "STANDING ORDER",
    "TRANSFER FROM",
    "TRANSFER TO",
    "ONLINE PAYMENT",
    "ATM WITHDRAWAL",
    "CONTACTLESS",
    "BILL PAYMENT",
)
FORM_TITLES = (
    "APPLICATION FORM",
    "CHANGE OF ADDRESS REQUEST",
    "NEW EMPLOYEE DETAILS",
    "EXPENSE CLAIM FORM",
    "PATIENT REGISTRATION",
    "VENDOR REGISTRATION FORM",
    "INSURANCE CLAIM FORM",
    "MEMBERSHIP APPLICATION",
)
FORM_SECTIONS = (
    "PERSONAL DETAILS",
    "CONTACT INFORMATION",
    "EMPLOYMENT",
    "PAYMENT DETAILS",
    "CLAIM DETAILS",
    "ADDITIONAL INFORMATION",
    "OFFICE USE ONLY",
)
FORM_FIELDS = (
    "Surname",
    "First name",
    "Date of birth",
    "Street address",
    "City",
    "Postcode",
    "Telephone",
    "Email",
    "Employee ID",
    "Department",
    "Start date",
    "Policy number",
    "Amount claimed",
    "Account number",
    "Nationality",
    "Occupation",
    "Emergency contact",
    "Relationship",
    "Reference no.",
    "Previous address",
)
CHOICES = (
    ("Title", ("Mr", "Mrs", "Ms", "Dr")),
    ("Previous claims", ("Yes", "No")),
    ("Employment", ("Full-time", "Part-time", "Contract")),
    ("Contact me by", ("Email", "Post", "Phone")),
    ("Marital status", ("Single", "Married", "Other")),
    ("Payment method", ("Cash", "Cheque", "Bank transfer")),
    ("Existing customer", ("Yes", "No")),
)
JOBS = (
    "Senior Accountant",
    "Project Manager",
    "Operations Analyst",
    "Software Engineer",
    "Marketing Coordinator",
    "Logistics Supervisor",
    "HR Generalist",
    "Data Analyst",
    "Sales Manager",
    "Office Administrator",
)
DEGREES = (
    "B.Sc. Economics",
    "MBA",
    "B.A. Communications",
    "M.Sc. Computer Science",
    "B.Eng. Mechanical Engineering",
    "Diploma in Accounting",
)
SKILLS = (
    "Budgeting",
    "SQL",
    "Negotiation",
    "Forecasting",
    "Python",
    "Team leadership",
    "Excel modelling",
    "Procurement",
    "Public speaking",
    "Scheduling",
    "Reporting",
    "Customer service",
    "Contract law",
    "Logistics planning",
)
LANDS = ("VELORIA", "NORLAND", "ESTMARK", "CALDERA", "ARVENIA", "LOMBRIA")
CARD_TITLES = ("IDENTITY CARD", "DRIVER LICENSE", "RESIDENCE PERMIT", "EMPLOYEE BADGE", "STUDENT CARD")


def _name(r: random.Random) -> str:
    return f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}"


def _company(r: random.Random) -> str:
    return " ".join(part for part in (r.choice(STEMS), r.choice(TRADES), r.choice(SUFFIXES)) if part)


def _address(r: random.Random) -> list[str]:
    lines = [f"{r.randint(1, 2400)} {r.choice(STREETS)} {r.choice(STREET_KINDS)}"]
    if r.random() < 0.3:
        lines.append(f"Suite {r.randint(100, 950)}")
    lines.append(f"{r.choice(CITIES)}, {r.choice(REGIONS)} {r.randint(10000, 99999)}")
    return lines


def _phone(r: random.Random) -> str:
    return f"({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}"


def _date(r: random.Random, style: int | None = None) -> str:
    year, month, day = r.randint(2019, 2025), r.randint(1, 12), r.randint(1, 28)
    style = r.randrange(4) if style is None else style
    if style == 0:
        return f"{day} {MONTHS[month - 1]} {year}"
    if style == 1:
        return f"{MONTHS[month - 1]} {day}, {year}"
    if style == 2:
        return f"{month:02d}/{day:02d}/{year}"
    return f"{year}-{month:02d}-{day:02d}"


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _sentence(r: random.Random, low: int = 6, high: int = 17) -> str:
    words = []
    for _ in range(r.randint(low, high)):
        pool = r.choices((GLUE, NOUNS, VERBS, ADJECTIVES), weights=(4, 4, 2, 1))[0]
        words.append(r.choice(pool))
    if len(words) > 7 and r.random() < 0.4:
        words[r.randint(3, len(words) - 3)] += ","
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def _text(r: random.Random, sentences: int) -> str:
    return " ".join(_sentence(r) for _ in range(sentences))


def _tint(colour: RGB, amount: float) -> RGB:
    """The colour mixed with white: amount 0 is the colour, 1 is white."""
    return tuple(round(c + (255 - c) * amount) for c in colour)  # type: ignore[return-value]


# --- text: glyphs rasterised once per process, lines composed with numpy ------------------------


def _scalable_fonts() -> bool:
    try:
        ImageFont.load_default(size=12)
    except (ImportError, OSError):  # Pillow built without FreeType: only the bitmap font exists
        return False
    return True


_SCALABLE = _scalable_fonts()


class _Glyphs:
    """One font size's glyphs as uint8 masks; drawing text costs numpy copies, not FreeType calls."""

    def __init__(self, px: int, bold: bool, scalable: bool) -> None:
        self.scalable = scalable
        self.cache: dict[str, tuple[np.ndarray | None, int, int, float]] = {}
        if scalable:
            self.font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size=px)
            self.stroke = max(1, round(px / 26)) if bold else 0
            ascent, descent = self.font.getmetrics()  # type: ignore[union-attr]
        else:
            # The bitmap fallback is a 6x11 cell: stretch it to roughly the scalable font's shape.
            self.font = ImageFont.load_default_imagefont()
            self.stroke = 1 if bold else 0
            self.sx, self.sy = px * 0.52 / 6, px * 1.15 / 11
            ascent, descent = round(11 * self.sy), 0
        self.pad = self.stroke + 2
        self.height = ascent + descent + 2 * self.pad

    def glyph(self, ch: str) -> tuple[np.ndarray | None, int, int, float]:
        found = self.cache.get(ch)
        if found is None:
            found = self.cache[ch] = self._raster(ch)
        return found

    def _raster(self, ch: str) -> tuple[np.ndarray | None, int, int, float]:
        font = self.font
        if isinstance(font, ImageFont.FreeTypeFont):
            left, top, right, bottom = font.getbbox(ch, anchor="la", stroke_width=self.stroke)
            advance = font.getlength(ch) + self.stroke
            if right <= left or bottom <= top:
                return None, 0, 0, advance
            cell = Image.new("L", (int(right - left), int(bottom - top)), 0)
            ImageDraw.Draw(cell).text(
                (-left, -top), ch, font=font, fill=255, anchor="la", stroke_width=self.stroke, stroke_fill=255
            )
            return np.asarray(cell), int(left), int(top), advance
        cell = Image.new("L", (6, 11), 0)
        ImageDraw.Draw(cell).text((0, 0), ch, font=font, fill=255)
        mask = np.asarray(cell)
        if self.stroke:
            mask = np.maximum(mask, np.roll(mask, 1, axis=1))
        size = (max(1, round(6 * self.sx)), max(1, round(11 * self.sy)))
        scaled = Image.fromarray(mask).resize(size, Image.Resampling.BILINEAR)
        return np.asarray(scaled), 0, 0, 6 * self.sx

    def width(self, text: str) -> float:
        return sum(self.glyph(ch)[3] for ch in text)

    def render(self, text: str, space_extra: float = 0.0) -> tuple[np.ndarray, float]:
        """The text as a coverage mask whose origin is (pad, pad) from the pen's top-left corner."""
        glyphs = [self.glyph(ch) for ch in text]
        width = sum(g[3] for g in glyphs) + space_extra * text.count(" ")
        out = np.zeros((self.height, int(width) + 2 * self.pad + 2), np.uint8)
        pen = float(self.pad)
        for ch, (mask, left, top, advance) in zip(text, glyphs, strict=True):
            if mask is not None:
                x, y = max(0, int(pen + left + 0.5)), top + self.pad
                region = out[y : y + mask.shape[0], x : x + mask.shape[1]]
                np.maximum(region, mask[: region.shape[0], : region.shape[1]], out=region)
            pen += advance + (space_extra if ch == " " else 0.0)
        return out, width


@lru_cache(maxsize=256)
def _glyphs(px: int, bold: bool, scalable: bool) -> _Glyphs:
    return _Glyphs(px, bold, scalable)


# --- the drawing surface ------------------------------------------------------------------------


class _Page:
    """An RGB page addressed in points, so layouts are the same at every dpi."""

    def __init__(self, size: tuple[float, float], dpi: int, paper: RGB) -> None:
        self.k = dpi / 72
        self.width, self.height = size
        self.image = Image.new("RGB", (self.px(size[0]), self.px(size[1])), paper)
        self.draw = ImageDraw.Draw(self.image)

    def px(self, value: float) -> int:
        return round(value * self.k)

    def _font(self, size: float, bold: bool) -> _Glyphs:
        return _glyphs(max(4, round(size * self.k)), bold, _SCALABLE)

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


# --- shared page elements -----------------------------------------------------------------------


def _paper(r: random.Random) -> RGB:
    base = r.randint(244, 253)
    return (base, base - r.randint(0, 3), base - r.randint(0, 8))


def _logo(page: _Page, r: random.Random, x: float, y: float, size: float, colour: RGB, initials: str) -> None:
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


def _handwriting(
    page: _Page, r: random.Random, x: float, base: float, width: float, size: float, ink: RGB
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


def _signature(page: _Page, r: random.Random, x: float, y: float, width: float, ink: RGB) -> None:
    """A scribbled signature: two loopy words and an underline flourish, baseline at y."""
    size = r.uniform(14, 20)
    end = _handwriting(page, r, x, y, width * r.uniform(0.35, 0.5), size, ink)
    _handwriting(page, r, end, y + r.uniform(-2, 2), width * r.uniform(0.3, 0.45), size * 0.9, ink)
    t = np.linspace(0, 1, 24)
    flourish = np.column_stack(
        (x + width * 0.05 + width * 0.85 * t, y + 5 + 4 * np.sin(np.pi * t * r.uniform(1, 2)))
    )
    page.polyline(flourish, fill=ink, width=1.0)


def _barcode(
    page: _Page, r: random.Random, x: float, y: float, width: float, height: float, ink: RGB
) -> None:
    module = max(0.55, 1 / page.k)
    cursor = x
    while cursor < x + width - 3 * module:
        bar = module * r.choice((1, 1, 2, 3))
        page.rect(cursor, y, cursor + bar * 0.999, y + height, fill=ink)
        cursor += bar + module * r.choice((1, 1, 2, 3))


def _qr(page: _Page, r: random.Random, x: float, y: float, size: float, ink: RGB) -> None:
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


def _portrait(page: _Page, r: random.Random, x0: float, y0: float, x1: float, y1: float) -> None:
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


def _fields(
    page: _Page, x: float, y: float, rows: list[tuple[str, str]], size: float, gap: float, label_w: float
) -> float:
    """Label/value pairs in two columns; return the y below them."""
    for label, value in rows:
        page.text(x, y, label, size, fill=GREY)
        page.text(x + label_w, y, value, size, bold=True)
        y += size * gap
    return y


# --- the document classes ------------------------------------------------------------------------


def _invoice(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    page = _Page(LETTER, dpi, _paper(r))
    w, m = LETTER[0], r.uniform(40, 62)
    brand = r.choice(BRANDS)
    company = _company(r)
    title = r.choice(("INVOICE", "INVOICE", "TAX INVOICE", "Invoice"))
    header = r.randrange(3)
    lines = [*_address(r), _phone(r)]
    if header == 2:  # a full-width colour band carrying the title and the seller
        band = r.uniform(76, 96)
        page.rect(0, 0, w, band, fill=brand)
        page.text(m, band * 0.3, title, r.uniform(24, 30), fill=WHITE, bold=True)
        page.text(w - m, 16, company, 12, fill=WHITE, bold=True, align="right")
        for i, line in enumerate(lines):
            page.text(w - m, 34 + i * 11, line, 8, fill=_tint(brand, 0.75), align="right")
        y = band + 26
    else:  # the logo block top-left (title right) or top-right (title left)
        size = r.uniform(36, 50)
        logo_x = m if header == 0 else w - m - size
        _logo(page, r, logo_x, m, size, brand, company)
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
        ("Date", _date(r)),
        ("Due date", _date(r)),
    ]
    if r.random() < 0.6:
        meta.append(("PO number", f"PO-{r.randint(10000, 99999)}"))
    if r.random() < 0.5:
        meta.append(("Customer ID", f"C{r.randint(100, 9999):04d}"))
    meta_left = r.random() < 0.4
    page.text(m if not meta_left else w / 2 + 20, y, "BILL TO", 8, fill=brand, bold=True)
    bill = [_name(r), _company(r), *_address(r)]
    for i, line in enumerate(bill):
        page.text(m if not meta_left else w / 2 + 20, y + 13 + i * 11.5, line, 9)
    meta_x = w / 2 + 40 if not meta_left else m
    _fields(page, meta_x, y, meta, 9, 1.45, 78)
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
            page.rect(m, y, w - m, y + row_h, fill=_tint(brand, 0.9))
        qty = r.choice((1, 1, 2, 3, 4, 5, 10, 12, 20))
        price = round(r.uniform(8, 950), 2)
        subtotal += qty * price
        if code_col:
            page.text(cols[0], y + row_h * 0.27, f"{r.randint(100, 999)}-{r.randint(10, 99)}", 8.5, fill=GREY)
        page.text(cols[-1], y + row_h * 0.27, r.choice(SERVICES), 8.5)
        for x, value in zip(right, (str(qty), _money(price), _money(qty * price)), strict=True):
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
    totals = [("Subtotal", _money(subtotal)), (f"Tax ({tax_rate:g}%)", _money(tax))]
    if r.random() < 0.4:
        totals.append(("Shipping", _money(r.uniform(10, 120))))
    total = f"{r.choice(('$', 'USD ', ''))}{_money(subtotal + tax)}"
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
    page.paragraph(notes_x, ny + 13, 240 if not box_left else 250, _text(r, r.randint(1, 3)), 7.5, fill=GREY)
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


def _receipt(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    paper = _paper(r)
    page = _Page((RECEIPT_WIDTH, 1100), dpi, paper)
    w, m = RECEIPT_WIDTH, r.uniform(12, 18)
    fade = r.randint(20, 95)  # thermal print ranges from crisp to washed out
    ink: RGB = (fade, fade, fade + 4)
    variant = r.randrange(3)
    y = r.uniform(14, 24)
    shop = f"{r.choice(STEMS).upper()} {r.choice(SHOP_KINDS)}"
    if variant == 2:
        _logo(page, r, w / 2 - 16, y, 32, ink, shop)
        y += 40
    page.text(w / 2, y, shop, r.uniform(12, 15), fill=ink, bold=True, align="center")
    y += 20
    for line in [*_address(r), f"Tel {_phone(r)}"]:
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
    page.text(m, y, _date(r, 2), 7.5, fill=ink)
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
        page.text(w - m, y, _money(qty * price), 7.8, fill=ink, align="right")
        y += 10.5
        if variant == 1 and qty > 1:
            page.text(m + 10, y, f"{qty} x {_money(price)}", 7, fill=ink)
            y += 10
    separator()
    tax = subtotal * r.choice((0.05, 0.07, 0.0825, 0.1))
    for label, value in (("SUBTOTAL", subtotal), ("TAX", tax)):
        page.text(m, y, label, 7.8, fill=ink)
        page.text(w - m, y, _money(value), 7.8, fill=ink, align="right")
        y += 10.5
    y += 2
    page.text(m, y, "TOTAL", 11, fill=ink, bold=True)
    page.text(w - m, y, _money(subtotal + tax), 11, fill=ink, bold=True, align="right")
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
        page.text(w - m, y, _money(cash), 7.5, fill=ink, align="right")
        y += 10
        page.text(m, y, "CHANGE", 7.5, fill=ink)
        page.text(w - m, y, _money(cash - subtotal - tax), 7.5, fill=ink, align="right")
    y += 10
    separator()
    if variant == 2:
        _qr(page, r, w / 2 - 30, y + 2, 60, ink)
        y += 70
        page.text(w / 2, y, f"Points earned: {r.randint(1, 300)}", 7.5, fill=ink, align="center")
        y += 12
    else:
        _barcode(page, r, m + 10, y + 2, w - 2 * m - 20, 30, ink)
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


def _bank_statement(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    page = _Page(LETTER, dpi, _paper(r))
    w, m = LETTER[0], r.uniform(38, 52)
    brand = r.choice(BRANDS)
    bank = f"{r.choice(STEMS)} {r.choice(('Bank', 'Savings Bank', 'Trust', 'Credit Union', 'Financial'))}"
    header = r.randrange(3)
    title = r.choice(
        ("Statement of Account", "Account Statement", "Current Account Statement", "Monthly Statement")
    )
    if header == 0:
        _logo(page, r, m, m - 6, 34, brand, bank)
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
    holder = _name(r).upper()
    for i, line in enumerate([holder, *_address(r)]):
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
    _fields(page, bx, y, details, 8.5, 1.5, 82)
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
            page.rect(x + 2, y, x + cw - 2, y + 38, fill=_tint(brand, 0.88))
            page.text(x + 10, y + 6, label, 7.5, fill=GREY)
            page.text(x + 10, y + 19, _money(value), 11, bold=True)
    else:  # a small summary table on the left
        page.text(m, y, "Your account summary", 10, fill=brand, bold=True)
        for i, (label, value) in enumerate(summary):
            page.text(m + 4, y + 16 + i * 12.5, label, 8.5)
            page.text(m + 220, y + 16 + i * 12.5, _money(value), 8.5, align="right", bold=i == 3)
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
    page.text(right[2], y + row_h * 0.2, _money(opening), size, align="right")
    y += row_h
    for i, (date, text, amount, credit, running) in enumerate(rows):
        if style == "shaded" and i % 2 == 0:
            page.rect(m, y, w - m, y + row_h, fill=_tint(brand, 0.9))
        page.text(m + 6, y + row_h * 0.2, date, size)
        page.text(m + 58, y + row_h * 0.2, text, size)
        page.text(right[1] if credit else right[0], y + row_h * 0.2, _money(amount), size, align="right")
        page.text(right[2], y + row_h * 0.2, _money(running), size, align="right")
        y += row_h
        if style == "rules":
            page.line(m, y, w - m, y, fill=RULE, width=0.4)
    if style == "columns":
        for x in [m + 52, *(r_ - 62 for r_ in right)]:
            page.line(x, top, x, y, fill=RULE, width=0.5)
        page.rect(m, top, w - m, y, outline=RULE, width=0.6)
    page.paragraph(m, 792 - m - 26, w - 2 * m - 80, _text(r, 2), 6.5, fill=GREY, leading=1.3)
    page.text(w - m, 792 - m - 26, f"Page 1 of {r.randint(2, 6)}", 7.5, fill=GREY, align="right")
    return page, WHITE


def _letterhead(page: _Page, r: random.Random, m: float, brand: RGB, company: str) -> tuple[float, float]:
    """Three letterhead styles; return where the letter body may start (y) and its left indent."""
    w = page.width
    style = r.randrange(3)
    lines = [*_address(r), _phone(r)]
    if style == 0:  # centred name, tagline, rule
        page.text(w / 2, m, company.upper(), r.uniform(15, 19), fill=brand, bold=True, align="center")
        page.text(w / 2, m + 24, "  |  ".join(lines), 7.5, fill=GREY, align="center")
        page.line(m, m + 38, w - m, m + 38, fill=brand, width=r.choice((0.6, 1.5)))
        return m + 62, 0.0
    if style == 1:  # logo and name left, address column right
        _logo(page, r, m, m, 38, brand, company)
        page.text(m + 48, m + 10, company, 14, bold=True)
        for i, line in enumerate(lines):
            page.text(w - m, m + i * 10, line, 7.5, fill=GREY, align="right")
        return m + 70, 0.0
    page.rect(0, 0, 20, page.height, fill=brand)  # a colour bar down the left edge
    page.text(m + 8, m, company, 16, fill=brand, bold=True)
    page.text(m + 8, m + 22, lines[0] + ", " + lines[-2], 7.5, fill=GREY)
    return m + 58, 8.0


def _letter(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    page = _Page(LETTER, dpi, _paper(r))
    w, m = LETTER[0], r.uniform(56, 80)
    brand = r.choice(BRANDS)
    company = _company(r)
    y, indent = _letterhead(page, r, m, brand, company)
    left = m + indent
    date_right = r.random() < 0.4
    y += r.uniform(6, 30)
    page.text(
        w - m if date_right else left,
        y,
        _date(r, r.choice((0, 1))),
        10,
        align="right" if date_right else "left",
    )
    y += 28
    recipient = _name(r)
    for line in [recipient, _company(r), *_address(r)]:
        page.text(left, y, line, 10)
        y += 13
    y += 16
    if r.random() < 0.5:
        page.text(left, y, f"Re: {_sentence(r, 3, 7)[:-1]}", 10, bold=True)
        y += 24
    title = r.choice(("Mr.", "Ms.", "Dr.", "Mrs."))
    page.text(left, y, f"Dear {title} {recipient.split()[1]},", 10)
    y += 22
    size = r.uniform(9.5, 11)
    justify = r.random() < 0.5
    for _ in range(r.randint(2, 5)):
        text = _text(r, r.randint(1, 6))
        if y + size * 1.45 * len(page.wrap(text, w - left - m, size)) > 792 - m - 110:
            break
        y = page.paragraph(left, y, w - left - m, text, size, leading=1.45, justify=justify) + size * 0.9
    y += 6
    page.text(left, y, r.choice(("Sincerely,", "Kind regards,", "Yours faithfully,", "Best regards,")), 10)
    _signature(page, r, left, y + 44, 150, r.choice(PEN_INKS))
    y += 58
    page.text(left, y, _name(r), 10, bold=True)
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


def _checkbox(page: _Page, r: random.Random, x: float, y: float, label: str, ticked: bool, ink: RGB) -> float:
    page.rect(x, y, x + 9, y + 9, outline=INK, width=0.7)
    if ticked:
        mark = np.array([[x + 1.5, y + 4.5], [x + 4, y + 8], [x + 11, y - 2]]) + np.array(
            [r.uniform(-1, 1), r.uniform(-1, 1)]
        )
        page.polyline(mark, fill=ink, width=1.1)
    return x + 14 + page.text(x + 13, y + 0.5, label, 8) + 14


def _form(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    page = _Page(LETTER, dpi, _paper(r))
    w, m = LETTER[0], r.uniform(36, 54)
    brand = r.choice(BRANDS)
    pen = r.choice(PEN_INKS)
    fill_rate = r.uniform(0.3, 0.9)
    style = r.randrange(3)  # 0 boxed grid, 1 underlined fields, 2 mixed with comb boxes
    y = m
    if r.random() < 0.6:
        _logo(page, r, m, y, 26, brand, "F")
        page.text(m + 32, y + 7, _company(r), 9, bold=True)
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
            m, y, w - 2 * m, "Please complete in BLOCK CAPITALS. " + _text(r, r.randint(1, 2)), 7.5, fill=GREY
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
                        _handwriting(page, r, x0 + 8, y + 25, min(cw - 24, r.uniform(40, 180)), 12, pen)
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
                        _handwriting(
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
                        _handwriting(page, r, x0 + i * 15 + 3, y + 16, 9, 11, pen)
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
        m, y, w - 2 * m, "I declare that the information given is true and complete. " + _sentence(r), 7.5
    )
    y += 40
    page.text(m, y, "Signature", 8)
    page.line(m + 50, y + 11, m + 270, y + 11, width=0.6)
    page.text(m + 300, y, "Date", 8)
    page.line(m + 326, y + 11, w - m, y + 11, width=0.6)
    if r.random() < fill_rate:
        _signature(page, r, m + 60, y + 8, 170, pen)
        _handwriting(page, r, m + 336, y + 9, 90, 11, pen)
    return page, WHITE


def _id_card(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    backgrounds = ((58, 60, 66), (96, 78, 60), (44, 50, 62), (196, 196, 192), (120, 122, 128))
    background = r.choice(backgrounds)
    cw, ch = ID_CARD
    page = _Page((cw + 2 * ID_MARGIN, ch + 2 * ID_MARGIN), dpi, background)
    x0, y0 = ID_MARGIN, ID_MARGIN
    x1, y1 = x0 + cw, y0 + ch
    shade: RGB = (max(0, background[0] - 26), max(0, background[1] - 26), max(0, background[2] - 26))
    page.rect(x0 + 2, y0 + 3, x1 + 3, y1 + 4, fill=shade, radius=10)  # the card's shadow
    brand = r.choice(BRANDS)
    base = _tint(brand, r.uniform(0.84, 0.93))
    page.rect(x0, y0, x1, y1, fill=base, radius=9)
    t = np.linspace(0, 1, 60)
    for i in range(r.randint(4, 9)):  # guilloche-like security lines
        wave = np.column_stack(
            (x0 + 6 + (cw - 12) * t, y0 + 20 + i * 14 + 5 * np.sin(2 * np.pi * (t * r.uniform(2, 5) + i / 5)))
        )
        page.polyline(wave, fill=_tint(brand, 0.7), width=0.4)
    land = r.choice(LANDS)
    title = r.choice(CARD_TITLES)
    issuer = r.choice(
        (
            f"REPUBLIC OF {land}",
            f"STATE OF {land}",
            f"{r.choice(STEMS).upper()} UNIVERSITY",
            _company(r).upper(),
        )
    )
    layout = r.randrange(3)
    surname, given = r.choice(LAST_NAMES).upper(), r.choice(FIRST_NAMES).upper()
    fields = [
        ("SURNAME", surname),
        ("GIVEN NAMES", given),
        ("DATE OF BIRTH", _date(r, 2)),
        ("ID NO.", f"{r.choice('ABCXYZ')}{r.randint(10**7, 10**8 - 1)}"),
        ("EXPIRES", _date(r, 2)),
    ]
    if layout == 0:  # band on top, photo left
        page.rect(x0, y0, x1, y0 + 30, fill=brand, radius=9)
        page.rect(x0, y0 + 15, x1, y0 + 30, fill=brand)
        page.text(x0 + 10, y0 + 5, issuer, 8.5, fill=WHITE, bold=True)
        page.text(x0 + 10, y0 + 17, title, 6.5, fill=_tint(brand, 0.7))
        _portrait(page, r, x0 + 10, y0 + 38, x0 + 70, y0 + 116)
        fx, fy = x0 + 80, y0 + 38
        _signature(page, r, x0 + 150, y1 - 12, 70, INK)
    elif layout == 1:  # band down the left, photo right
        page.rect(x0, y0, x0 + 28, y1, fill=brand, radius=9)
        page.rect(x0 + 14, y0, x0 + 28, y1, fill=brand)
        _logo(page, r, x0 + 5, y0 + 8, 18, WHITE, land)
        page.text(x0 + 36, y0 + 8, title, 9.5, fill=brand, bold=True)
        page.text(x0 + 36, y0 + 21, issuer, 6, fill=GREY)
        _portrait(page, r, x1 - 72, y0 + 34, x1 - 12, y0 + 112)
        fx, fy = x0 + 36, y0 + 36
        _signature(page, r, x1 - 74, y1 - 12, 60, INK)
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
        _portrait(page, r, x1 - 64, y0 + 10, x1 - 12, y0 + 78)
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


def _memo(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    page = _Page(LETTER, dpi, _paper(r))
    w, m = LETTER[0], r.uniform(54, 76)
    brand = r.choice(BRANDS)
    style = r.randrange(3)
    company = _company(r)
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
        ("TO:", _name(r) + r.choice(("", ", " + r.choice(JOBS), "; all staff"))),
        ("FROM:", f"{_name(r)}, {r.choice(JOBS)}"),
    ]
    if r.random() < 0.5:
        rows.append(("CC:", f"{_name(r)}; {_name(r)}"))
    rows += [("DATE:", _date(r)), (r.choice(("SUBJECT:", "RE:")), _sentence(r, 3, 7)[:-1])]
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
        y = page.paragraph(m, y, w - 2 * m, _text(r, r.randint(1, 5)), size, leading=1.45) + size
        if bullets and i == 0:
            numbered = r.random() < 0.5
            for j in range(r.randint(3, 5)):
                marker = f"{j + 1}." if numbered else ""
                if numbered:
                    page.text(m + 14, y, marker, size)
                else:
                    page.ellipse(m + 16, y + size * 0.3, m + 16 + size * 0.35, y + size * 0.65, fill=INK)
                y = page.paragraph(m + 30, y, w - 2 * m - 30, _sentence(r, 5, 14), size, leading=1.4) + 3
            y += size
    initials = "".join(part[0] for part in rows[1][1].split(",")[0].split())
    page.text(m, y + 6, initials + "/" + r.choice(FIRST_NAMES)[:2].lower(), 9, fill=GREY)
    if r.random() < 0.5:
        page.text(m, y + 22, f"Attachments: {r.randint(1, 4)}", 9, fill=GREY)
    return page, WHITE


def _resume(r: random.Random, dpi: int) -> tuple[_Page, RGB]:
    page = _Page(LETTER, dpi, _paper(r))
    w, m = LETTER[0], r.uniform(40, 58)
    brand = r.choice(BRANDS)
    style = r.randrange(3)
    name = _name(r)
    contact = [_phone(r), f"{name.split()[0].lower()}.{name.split()[1].lower()}@example.com", _address(r)[-1]]
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
            page.text(x, y + 13, f"{_company(r)}, {r.choice(CITIES)}", 8.5, fill=GREY)
            y += 28
            for _ in range(r.randint(2, 4)):
                page.ellipse(x + 4, y + 3.5, x + 7, y + 6.5, fill=INK)
                y = page.paragraph(x + 13, y, width - 13, _sentence(r, 6, 16), 8.5, leading=1.35) + 2
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
        page.rect(0, 0, side, 792, fill=_tint(brand, 0.86))
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
        y = page.paragraph(x, y, width, _text(r, r.randint(2, 4)), 9, leading=1.4) + 12
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
    y = page.paragraph(m, y, width, _text(r, r.randint(2, 3)), 9, leading=1.4) + 10
    y = heading(m, y, width, "Experience")
    y = experience(m, y, width, 792 - m - 170)
    y = heading(m, y + 2, width, "Education")
    y = education(m, y, width)
    y = heading(m, y, width, "Skills")
    page.paragraph(m, y, width, "  -  ".join(r.sample(SKILLS, k=r.randint(6, 10))), 9)
    return page, WHITE


_DRAWERS: dict[str, Drawer] = {
    "invoice": _invoice,
    "receipt": _receipt,
    "bank_statement": _bank_statement,
    "letter": _letter,
    "form": _form,
    "id_card": _id_card,
    "memo": _memo,
    "resume": _resume,
}


# --- the scanner --------------------------------------------------------------------------------


def _blemish(page: _Page, r: random.Random, background: RGB) -> RGB:
    """Dust specks, punch holes and a fold crease on some pages; return the scanner's fill colour."""
    if r.random() < 0.45:
        for _ in range(r.randint(3, 40)):
            x, y, s = r.uniform(0, page.width), r.uniform(0, page.height), r.uniform(0.3, 1.3)
            grey = r.randint(20, 120)
            page.ellipse(x, y, x + s, y + s * r.uniform(0.6, 1.4), fill=(grey, grey, grey))
    if page.height < LETTER[1] or background != WHITE:
        return background
    lid = r.randint(150, 215)
    if r.random() < 0.15:  # two punched holes show the darker scanner lid through the page
        for y in (page.height * 0.28, page.height * 0.72):
            x = r.uniform(20, 30)
            page.ellipse(x - 9, y - 9, x + 9, y + 9, fill=(lid, lid, lid))
    if r.random() < 0.2:  # a letter folded in three leaves a faint crease
        y = page.height * r.choice((1 / 3, 2 / 3)) + r.uniform(-6, 6)
        crease = _tint(INK, r.uniform(0.72, 0.82))
        page.line(0, y, page.width, y + r.uniform(-2, 2), fill=crease, width=0.5)
    return (lid, lid, lid) if r.random() < 0.3 else background


def _ycbcr(colour: RGB) -> tuple[float, float, float]:
    red, green, blue = colour
    return (
        0.299 * red + 0.587 * green + 0.114 * blue,
        128 - 0.168736 * red - 0.331264 * green + 0.5 * blue,
        128 + 0.5 * red - 0.418688 * green - 0.081312 * blue,
    )


def _shear(plane: np.ndarray, slope: float, axis: int) -> np.ndarray:
    """Shift each row (axis 1) or column (axis 0) by slope * its index, linearly interpolated.

    Pillow's bilinear rotate of a 150-dpi RGB page took about 50 ms here; two numpy shears of
    the luma plane take a few. Rows that share an integer shift are moved as one block.
    """
    n = plane.shape[0] if axis == 1 else plane.shape[1]
    shifts = slope * np.arange(n, dtype=np.float64)
    shifts -= shifts.min()
    whole = np.floor(shifts).astype(np.int64)
    frac = (shifts - whole).astype(np.float32)
    extra = int(whole.max()) + 1
    h, w = plane.shape
    out = np.zeros((h, w + extra) if axis == 1 else (h + extra, w), np.float32)
    cuts = np.flatnonzero(np.diff(whole)) + 1
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
        s = int(whole[start])
        if axis == 1:
            block = plane[start:stop]
            moved = block * frac[start:stop, None]
            out[start:stop, s : s + w] += block - moved
            out[start:stop, s + 1 : s + 1 + w] += moved
        else:
            block = plane[:, start:stop]
            moved = block * frac[None, start:stop]
            out[s : s + h, start:stop] += block - moved
            out[s + 1 : s + 1 + h, start:stop] += moved
    return out


def _rotate(plane: np.ndarray, angle: float, background: float) -> np.ndarray:
    """Rotate by a small angle (radians) as two shears, growing the canvas and filling it with background."""
    s = math.sin(angle)
    shifted = _shear(plane - np.float32(background), -s, axis=1)
    return _shear(shifted, s, axis=0) + np.float32(background)


def _profile(r: random.Random, n: int, low: float) -> np.ndarray:
    """A smooth 1-D light profile between low and 1, sometimes with a shadow along one edge."""
    knots = np.linspace(0, n - 1, r.randint(3, 6))
    values = np.array([r.uniform(low, 1.0) for _ in knots])
    profile = np.interp(np.arange(n), knots, values).astype(np.float32)
    if r.random() < 0.15:
        edge = np.exp(-np.arange(n, dtype=np.float32) / (n * r.uniform(0.01, 0.04))) * r.uniform(0.15, 0.4)
        profile *= 1 - (edge if r.random() < 0.5 else edge[::-1])
    return profile


def _scan(
    page: Image.Image, r: random.Random, noise: np.random.Generator, background: RGB, dpi: int
) -> Image.Image:
    """Skew, soften, unevenly light and add sensor noise to a clean page, as a cheap scanner would."""
    angle = math.radians(r.uniform(-1.5, 1.5))
    soften = np.float32(r.uniform(0.1, 0.3))
    sigma = r.uniform(2.0, 6.0)
    black, white = r.uniform(10, 40), r.uniform(238, 255)
    y_bg, cb_bg, cr_bg = _ycbcr(background)

    # Luma at full resolution: a 3-tap blur along each axis (optics), then the skew.
    luma = np.asarray(page.convert("L")).astype(np.float32)
    luma *= soften
    blurred = luma * ((1 - 2 * soften) / soften)
    blurred[:, 1:] += luma[:, :-1]
    blurred[:, :-1] += luma[:, 1:]
    blurred *= soften
    luma = blurred * ((1 - 2 * soften) / soften)
    luma[1:] += blurred[:-1]
    luma[:-1] += blurred[1:]
    luma = _rotate(luma, angle, y_bg)
    h, w = luma.shape

    luma *= _profile(r, h, 0.9)[:, None]
    luma *= _profile(r, w, 0.92)[None, :]
    scale = np.float32(sigma / 104.0)  # two summed uniform bytes: triangular noise, sd about 104
    grain = np.frombuffer(noise.bytes(2 * h * w), np.uint8).reshape(2, h, w)
    jitter = grain[0].astype(np.float32)
    jitter += grain[1]
    jitter *= scale
    luma *= np.float32((white - black) / 255)
    luma += jitter
    luma += np.float32(black - 255 * scale + 0.5)

    np.clip(luma, 0, 255, out=luma)
    y_plane = Image.fromarray(luma.astype(np.uint8))

    # Colour at 1/f resolution, as JPEG keeps it anyway. Each RGB channel is luma plus an offset
    # (R-Y, G-Y, B-Y) stored as uint8 around 128 and added back with ImageChops; Pillow's YCbCr
    # merge plus bilinear chroma upscaling cost more than the whole luma path.
    f = max(1, round(dpi / 75))
    _, cb_band, cr_band = page.reduce(f).convert("YCbCr").split()
    cb = _rotate(np.asarray(cb_band).astype(np.float32) - 128, angle, cb_bg - 128)
    cr = _rotate(np.asarray(cr_band).astype(np.float32) - 128, angle, cr_bg - 128)
    channels = []
    for offset in (1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb):
        offset += 128.5
        np.clip(offset, 0, 255, out=offset)
        plane = Image.fromarray(offset.astype(np.uint8)).resize((w, h), Image.Resampling.NEAREST)
        channels.append(ImageChops.add(y_plane, plane, 1.0, -128))
    return Image.merge("RGB", channels)


# --- public API ---------------------------------------------------------------------------------


def _check_label(label: str) -> None:
    if label not in _DRAWERS:
        raise ValueError(f"unknown document class {label!r}; valid classes: {', '.join(CLASSES)}")


def render(label: str, seed: int, *, dpi: int = 150) -> Image.Image:
    """One scanned-looking page of the class `label` as an RGB image; same arguments, same pixels."""
    _check_label(label)
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be between {MIN_DPI} and {MAX_DPI}, got {dpi}")
    key = f"{label}:{seed}"
    r = random.Random(key)  # noqa: S311 - reproducible layouts, not secrets
    page, background = _DRAWERS[label](r, dpi)
    background = _blemish(page, r, background)
    noise = np.random.default_rng(zlib.crc32(key.encode()))
    return _scan(page.image, r, noise, background, dpi)


_FORMATS = {"JPEG": "JPEG", "JPG": "JPEG", "PNG": "PNG", "TIFF": "TIFF", "TIF": "TIFF"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif"}


def _format(fmt: str) -> str:
    found = _FORMATS.get(fmt.upper().lstrip("."))
    if found is None:
        raise ValueError(f"unsupported format {fmt!r}; use one of JPEG, PNG, TIFF")
    return found


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    """The image as JPEG, PNG or TIFF file bytes (JPEG adds the usual compression artefacts)."""
    kind = _format(fmt)
    buffer = io.BytesIO()
    if kind == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    elif kind == "TIFF":
        image.save(buffer, "TIFF", compression="tiff_lzw" if features.check("libtiff") else None)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _plan(per_class: int, seed: int, classes: Sequence[str]) -> list[tuple[str, int, int]]:
    """(label, index, render seed) for every sample, after checking the arguments."""
    if not 0 <= per_class <= SEED_STRIDE:
        raise ValueError(f"per_class must be between 0 and {SEED_STRIDE}, got {per_class}")
    for label in classes:
        _check_label(label)
    return [(label, i, seed * SEED_STRIDE + i) for label in classes for i in range(per_class)]


def generate(
    out_dir: Path,
    *,
    per_class: int = 8,
    seed: int = 0,
    dpi: int = 150,
    fmt: str = "jpg",
    classes: Sequence[str] = CLASSES,
) -> list[tuple[str, Path]]:
    """Write out_dir/<label>/<label>-<NNN>.<ext> for each class; return the (label, path) pairs."""
    kind = _format(fmt)
    written = []
    for label, i, sample_seed in _plan(per_class, seed, classes):
        folder = Path(out_dir) / label
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label}-{i:03d}.{_EXTENSIONS[kind]}"
        path.write_bytes(encode(render(label, sample_seed, dpi=dpi), kind))
        written.append((label, path))
    return written


def documents(
    per_class: int, seed: int = 0, dpi: int = 150, classes: Sequence[str] = CLASSES
) -> Iterator[tuple[str, str, bytes]]:
    """(label, file name, JPEG bytes) for per_class pages of each class, without touching the disk."""
    plan = _plan(per_class, seed, classes)  # checked now, not at the first next()
    return ((label, f"{label}-{i:03d}.jpg", encode(render(label, s, dpi=dpi))) for label, i, s in plan)
