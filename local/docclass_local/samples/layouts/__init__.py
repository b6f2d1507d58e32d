"""The eight document layouts: one module per class, each with draw(r, dpi) -> (page, background)."""

from __future__ import annotations

import random
from collections.abc import Callable

from docclass_local.samples.layouts import (
    bank_statement,
    form,
    id_card,
    invoice,
    letter,
    memo,
    receipt,
    resume,
)
from docclass_local.samples.page import RGB, Page

# A layout draws one clean page from its random source at a dpi, and names the colour around it
# (white, or the scanner lid around a small card).
Drawer = Callable[[random.Random, int], tuple[Page, RGB]]

DRAWERS: dict[str, Drawer] = {
    "invoice": invoice.draw,
    "receipt": receipt.draw,
    "bank_statement": bank_statement.draw,
    "letter": letter.draw,
    "form": form.draw,
    "id_card": id_card.draw,
    "memo": memo.draw,
    "resume": resume.draw,
}
