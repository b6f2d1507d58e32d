"""Documents as pages: one image, the pages of a multi-page TIFF, or the pages of a PDF.

A document is recognised by its content, never by its key's extension: `%PDF-` in the first
1,024 bytes (where the PDF specification lets the header start) makes a PDF, an image with more
than one frame in a TIFF container makes a multi-page TIFF, anything else is one image decoded by
docclass.images exactly as before. Pages are produced one at a time, so a document holds at most
one decoded page besides its bytes.

PDF pages are rendered with PDFium (pypdfium2): so that the longer side fits the model's limit,
and at no more than 300 dpi (a scan's resolution: a small page is not blown up). Forms are not
drawn and nothing in the PDF is run: PDFium as built for pypdfium2 has no JavaScript engine, and
form handling is never initialised. PDFium runs in a process of its own (docclass.pdf_sandbox),
with a deadline and a memory limit per page: a page that would take longer than PAGE_SECONDS or
more memory than the document's budget is refused, and the function goes on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from PIL import Image

from docclass.errors import DocumentTooLarge, UnreadableImage
from docclass.images import FIXED_DECODE_NEED, MAX_PIXELS, MAX_SIDE, fit_within, frame_count, load_image
from docclass.memory import MemoryBudget
from docclass.pdf_sandbox import (
    PAGE_SECONDS,
    SANDBOX,
    DocumentError,
    SandboxDied,
    SandboxError,
    SandboxTimeout,
)

DocumentKind = Literal["image", "tiff", "pdf"]
T = TypeVar("T")

# The resolution of a careful scan; a PDF page is never rendered finer, however small it is.
MAX_RENDER_DPI = 300
_POINTS_PER_INCH = 72
# Near-blank detection, on a grey copy of the page at most _BLANK_SIDE px long, without its margins
# (a scanner's dark edges and punch holes are not content): a pixel is ink when it is this much darker
# than the paper (the 90th percentile of brightness), and a page with less ink than the fraction
# below is near-blank. Bleed-through from the back of thin paper and scanner noise stay under the
# contrast; one line of a heading is about 0.1% of a letter page, a page number far less.
_BLANK_SIDE = 512
_BLANK_MARGIN = 0.05
_INK_CONTRAST = 64
BLANK_INK_FRACTION = 0.001


@dataclass(frozen=True)
class Page:
    """One page of a document: its number (from 1) and the page as the model will see it."""

    number: int
    image: Image.Image


class Document:
    """A document's pages, rendered or decoded one at a time; close() when done (or use `with`)."""

    kind: DocumentKind = "image"

    def __init__(
        self,
        data: bytes,
        page_count: int,
        budget: MemoryBudget | None,
        max_side: int,
        max_pixels: int | None = None,
    ) -> None:
        self.data = data
        self.page_count = page_count
        self.budget = budget
        self.max_side = max_side
        self.max_pixels = max_pixels

    def page(self, number: int) -> Image.Image:
        """Page `number` (from 1) as an RGB image within max_side (and max_pixels, if set)."""
        return load_image(self.data, max_side=self.max_side, budget=self.budget, max_pixels=self.max_pixels)

    def pages(self, limit: int | None = None) -> Iterator[Page]:
        """The first `limit` pages (all without a limit), one at a time."""
        last = self.page_count if limit is None else min(limit, self.page_count)
        for number in range(1, last + 1):
            yield Page(number, self.page(number))

    def close(self) -> None:
        """Release what the document holds besides its bytes."""

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TiffDocument(Document):
    """A TIFF with more than one page (frame): each page decoded as one image is."""

    kind: DocumentKind = "tiff"

    def page(self, number: int) -> Image.Image:
        return load_image(
            self.data,
            max_side=self.max_side,
            budget=self.budget,
            frame=number - 1,
            max_pixels=self.max_pixels,
        )


class PdfDocument(Document):
    """A PDF: each page rendered by PDFium to fit max_side, in the sandbox process (pdf_sandbox),
    forms not drawn, nothing executed."""

    kind: DocumentKind = "pdf"

    def __init__(
        self,
        data: bytes,
        budget: MemoryBudget | None,
        max_side: int,
        page_seconds: float | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self._sandbox = SANDBOX
        self._id = self._sandbox.new_id()
        self._generation = 0
        self._path: str | None = self._sandbox.file_for(data)
        self.page_seconds = PAGE_SECONDS if page_seconds is None else page_seconds
        super().__init__(data, 0, budget, max_side, max_pixels)
        try:
            self.page_count = self._open("open the PDF")
        except BaseException:
            self.close()
            raise
        if self.page_count < 1:
            self.close()
            raise UnreadableImage("PDF has no pages")

    def _allowance(self) -> int | None:
        """What the sandbox may take for this document: its budget less the bytes the function holds."""
        return None if self.budget is None else self.budget.per_document - len(self.data)

    def _open(self, what: str) -> int:
        header = {"op": "open", "id": self._id, "path": self._path, "allowance": self._allowance()}
        try:
            answer, _, self._generation = self._call(header, what)
        except DocumentError as exc:
            raise UnreadableImage(_open_error(exc.answer)) from None
        return int(answer["pages"])

    def _call(
        self, header: dict[str, Any], what: str, timeout: float | None = None
    ) -> tuple[dict[str, Any], bytes, int]:
        """A request to the sandbox; its failures as the document's (DocumentError: PDFium's refusal)."""
        seconds = self.page_seconds if timeout is None else timeout
        try:
            return self._sandbox.call(header, timeout=seconds)
        except SandboxTimeout:
            raise UnreadableImage(
                f"cannot {what}: PDFium did not finish within {seconds:g} s (the content is too "
                "complex to draw in the time a document has)"
            ) from None
        except SandboxDied as exc:
            if exc.out_of_memory and self.budget is not None:
                raise DocumentTooLarge(
                    f"cannot {what}: PDFium ran out of memory ({self.budget.describe()})"
                ) from None
            raise UnreadableImage(f"cannot {what}: {exc}") from None

    def _request(
        self, header: dict[str, Any], what: str, timeout: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """A request about this open document; reopens it first if the sandbox was restarted."""
        with self._sandbox.lock:
            if self._generation != self._sandbox.generation:
                self._open(what)
            answer, body, _ = self._call(
                {**header, "id": self._id, "allowance": self._allowance()}, what, timeout
            )
        return answer, body

    def page(self, number: int) -> Image.Image:
        what = f"draw page {number} of the PDF"
        header = {
            "op": "page",
            "number": number,
            "max_side": self.max_side,
            "max_area": self.max_pixels,
            "max_dpi": MAX_RENDER_DPI,
            "max_pixels": MAX_PIXELS,
            "fixed_need": FIXED_DECODE_NEED,
            "max_need": None if self.budget is None else self.budget.per_document - len(self.data),
        }
        try:
            answer, pixels = self._request(header, what)
        except DocumentError as exc:
            if exc.answer.get("memory") and self.budget is not None:
                raise DocumentTooLarge(f"cannot {what}: out of memory ({self.budget.describe()})") from None
            raise UnreadableImage(f"cannot read page {number} of the PDF: {exc}") from None
        if "refused" in answer:
            raise UnreadableImage(f"page {number} of the PDF {answer['refused']}")
        if "over_budget" in answer:
            assert self.budget is not None
            self.budget.check_decode(
                int(answer["over_budget"]),
                len(self.data),
                f"page {number} of the PDF, rendered at {answer['width']}x{answer['height']} px",
            )
        size = (int(answer["width"]), int(answer["height"]))
        mode = str(answer["mode"])
        image = Image.frombuffer(
            _PIL_MODES.get(mode, mode), size, pixels, "raw", mode, int(answer["stride"]), 1
        )
        image = image.convert("RGB")
        fitted = fit_within(image.size, self.max_side, self.max_pixels)
        if fitted != image.size:  # rounding up by PDFium: one pixel at most
            image = image.resize(fitted, Image.Resampling.HAMMING)
        return image

    def extract(self, first: int, last: int) -> bytes:
        """Pages first..last (from 1) as a PDF of their own: the pages' objects copied, not re-rendered."""
        what = f"copy pages {first}-{last} of the PDF"
        try:
            # Copying pages takes time in proportion to their bytes (2.5 s for 43 MB here).
            seconds = self.page_seconds * 2 + len(self.data) / _EXTRACT_BYTES_PER_SECOND
            _, body = self._request({"op": "extract", "first": first, "last": last}, what, seconds)
        except DocumentError as exc:
            raise UnreadableImage(f"cannot {what}: {exc}") from None
        return body

    def close(self) -> None:
        path, self._path = self._path, None
        if path is None:
            return
        with self._sandbox.lock:
            if self._generation and self._generation == self._sandbox.generation:
                # The worker may be gone, and the document with it.
                with contextlib.suppress(SandboxError, DocumentError):
                    self._sandbox.call({"op": "close", "id": self._id}, timeout=self.page_seconds)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# A floor under the speed of copying pages out of a PDF, for the extract deadline (measured: 17 MB/s
# on these machines; Lambda at 1024 MB has about 0.6 of a vCPU).
_EXTRACT_BYTES_PER_SECOND = 2_000_000

# Pillow's mode for each raw mode PDFium's bitmaps come in (rev_byteorder: RGB order).
_PIL_MODES = {
    "RGBX": "RGB",
    "RGBA": "RGBA",
    "RGB": "RGB",
    "L": "L",
    "BGR": "RGB",
    "BGRX": "RGB",
    "BGRA": "RGBA",
}


def _open_error(answer: dict[str, Any]) -> str:
    """What a PDF that PDFium will not open is, in words a user can act on."""
    kind = answer.get("kind")
    if kind == "password":
        return "PDF is encrypted (it needs a password to open); save an unprotected copy"
    if kind == "security":
        return "PDF uses an unsupported security handler"
    if kind == "empty":
        return "PDF has no pages"
    return f"cannot open PDF (damaged or not a PDF): {answer.get('error')}"


def looks_like_pdf(data: bytes) -> bool:
    """True when the PDF header is in the first 1,024 bytes (the specification tolerates bytes before it)."""
    return b"%PDF-" in data[:1024]


def open_document(
    data: bytes,
    *,
    budget: MemoryBudget | None = None,
    max_side: int = MAX_SIDE,
    page_seconds: float | None = None,
    max_pixels: int | None = None,
) -> Document:
    """The document's pages, recognised by content; UnreadableImage says why it cannot be read.

    Each page is drawn to fit max_side and max_pixels: the limits of the model that will see it.
    """
    if not data:
        raise UnreadableImage("empty object")
    if looks_like_pdf(data):
        return PdfDocument(data, budget, max_side, page_seconds, max_pixels)
    if data[:4] in (b"II*\x00", b"MM\x00*") and (count := frame_count(data)) > 1:
        return TiffDocument(data, count, budget, max_side, max_pixels)
    return Document(data, 1, budget, max_side, max_pixels)


def embed_pages(
    document: Document,
    limit: int,
    embed: Callable[[Image.Image], T],
    before_page: Callable[[int], None] | None = None,
) -> list[tuple[int, T | None]]:
    """(page number, embed(page)) for the first `limit` pages, None for a near-blank page.

    The rule the service and `docclass eval` share: pages are rendered one at a time; a near-blank
    page is not embedded; if every page looked at is near-blank, the first is embedded anyway, so
    that the document is decided as a single image would be. before_page(n) runs before page
    n > 1 is rendered and may raise to stop.
    """
    out: list[tuple[int, T | None]] = []
    for number in range(1, min(limit, document.page_count) + 1):
        if number > 1 and before_page is not None:
            before_page(number)
        page = document.page(number)
        out.append((number, None if is_near_blank(page) else embed(page)))
        del page
    if all(value is None for _, value in out):
        out[0] = (1, embed(document.page(1)))
    return out


def ink_fraction(page: Image.Image) -> float:
    """The share of the page, margins aside, that is clearly darker than its paper."""
    grey = page.convert("L")
    factor = max(1, -(-max(grey.size) // _BLANK_SIDE))
    if factor > 1:
        grey = grey.reduce(factor)
    width, height = grey.size
    dx, dy = int(width * _BLANK_MARGIN), int(height * _BLANK_MARGIN)
    pixels = np.asarray(grey, dtype=np.int16)[dy : height - dy or None, dx : width - dx or None]
    if pixels.size == 0:
        return 0.0
    paper = float(np.percentile(pixels, 90))
    return float(np.count_nonzero(pixels < paper - _INK_CONTRAST)) / pixels.size


def is_near_blank(page: Image.Image) -> bool:
    """True for a page with (almost) nothing on it, such as the empty back side of a scanned sheet."""
    return ink_fraction(page) < BLANK_INK_FRACTION
