"""Generated words for the sample documents: names, companies, addresses, dates, amounts, prose."""

from __future__ import annotations

import random


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


def person_name(r: random.Random) -> str:
    """A first and last name."""
    return f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}"


def company_name(r: random.Random) -> str:
    """A made-up company name: a stem, a trade and often a legal suffix."""
    return " ".join(part for part in (r.choice(STEMS), r.choice(TRADES), r.choice(SUFFIXES)) if part)


def address_lines(r: random.Random) -> list[str]:
    """A street line and a city line."""
    lines = [f"{r.randint(1, 2400)} {r.choice(STREETS)} {r.choice(STREET_KINDS)}"]
    if r.random() < 0.3:
        lines.append(f"Suite {r.randint(100, 950)}")
    lines.append(f"{r.choice(CITIES)}, {r.choice(REGIONS)} {r.randint(10000, 99999)}")
    return lines


def phone_number(r: random.Random) -> str:
    """A phone number in one fixed style."""
    return f"({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}"


def date_text(r: random.Random, style: int | None = None) -> str:
    """A date in one of several written styles (style picks one)."""
    year, month, day = r.randint(2019, 2025), r.randint(1, 12), r.randint(1, 28)
    style = r.randrange(4) if style is None else style
    if style == 0:
        return f"{day} {MONTHS[month - 1]} {year}"
    if style == 1:
        return f"{MONTHS[month - 1]} {day}, {year}"
    if style == 2:
        return f"{month:02d}/{day:02d}/{year}"
    return f"{year}-{month:02d}-{day:02d}"


def money(value: float) -> str:
    """An amount with thousands separators and cents."""
    return f"{value:,.2f}"


def sentence(r: random.Random, low: int = 6, high: int = 17) -> str:
    """A plausible-looking business sentence of low to high words."""
    words = []
    for _ in range(r.randint(low, high)):
        pool = r.choices((GLUE, NOUNS, VERBS, ADJECTIVES), weights=(4, 4, 2, 1))[0]
        words.append(r.choice(pool))
    if len(words) > 7 and r.random() < 0.4:
        words[r.randint(3, len(words) - 3)] += ","
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def prose(r: random.Random, sentences: int) -> str:
    """A paragraph of generated sentences."""
    return " ".join(sentence(r) for _ in range(sentences))
