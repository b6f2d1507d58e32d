"""Documents as pages: one image, the pages of a multi-page TIFF, or the pages of a PDF.

A document is recognised by its content, never by its key's extension: `%PDF-` in the first
1,024 bytes (where the PDF specification lets the header start) makes a PDF, an image with more
than one frame in a TIFF container makes a multi-page TIFF, anything else is one image decoded by
docclass.images exactly as before. Pages are produced one at a time, so a document holds at most
one decoded page besides its bytes.

PDF pages are rendered with PDFium (pypdfium2): so that the longer side fits the model's limit,
and at no more than 300 dpi (a scan's resolution: a small page is not blown up). Forms are not
drawn and nothing in the PDF is run: PDFium as built for pypdfium2 has no JavaScript engine, and
form handling is never initialised. PDFium is not thread-safe (pypdfium2's documentation says to
serialise every call), so one lock guards all of them: the gallery embeds on several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from PIL import Image

from docclass.errors import UnreadableImage
from docclass.images import FIXED_DECODE_NEED, MAX_PIXELS, MAX_SIDE, frame_count, load_image
from docclass.memory import MemoryBudget

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

# An image drawn over at least this share of its page makes the page a scan.
_SCAN_COVER = 0.8

_PDFIUM_LOCK = threading.RLock()


@dataclass(frozen=True)
class Page:
    """One page of a document: its number (from 1) and the page as the model will see it."""

    number: int
    image: Image.Image


class Document:
    """A document's pages, rendered or decoded one at a time; close() when done (or use `with`)."""

    kind: DocumentKind = "image"

    def __init__(self, data: bytes, page_count: int, budget: MemoryBudget | None, max_side: int) -> None:
        self.data = data
        self.page_count = page_count
        self.budget = budget
        self.max_side = max_side

    def page(self, number: int) -> Image.Image:
        """Page `number` (from 1) as an RGB image whose longer side is at most max_side."""
        return load_image(self.data, max_side=self.max_side, budget=self.budget)

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
        return load_image(self.data, max_side=self.max_side, budget=self.budget, frame=number - 1)


class PdfDocument(Document):
    """A PDF: each page rendered by PDFium to fit max_side, forms not drawn, nothing executed."""

    kind: DocumentKind = "pdf"

    def __init__(self, data: bytes, budget: MemoryBudget | None, max_side: int) -> None:
        import pypdfium2  # imported on the first PDF: images never pay for it

        self._pdfium = pypdfium2
        with _PDFIUM_LOCK:
            try:
                self._pdf = pypdfium2.PdfDocument(data)
            except pypdfium2.PdfiumError as exc:
                raise UnreadableImage(_open_error(pypdfium2, exc, data)) from exc
            count = len(self._pdf)
        if count < 1:
            self.close()
            raise UnreadableImage("PDF has no pages")
        super().__init__(data, count, budget, max_side)

    def page(self, number: int) -> Image.Image:
        with _PDFIUM_LOCK:
            try:
                page = self._pdf[number - 1]
            except self._pdfium.PdfiumError as exc:
                raise UnreadableImage(f"cannot read page {number} of the PDF: {exc}") from exc
            try:
                width_pt, height_pt = page.get_size()
                if not (width_pt > 0 and height_pt > 0):
                    raise UnreadableImage(
                        f"page {number} of the PDF has no size ({width_pt} x {height_pt} pt)"
                    )
                images, native = self._images(page, number, width_pt * height_pt)
                # A scanned page (one image over most of it) is rendered at the scan's own resolution
                # at most: more pixels would only be interpolated.
                scale = min(self.max_side / max(width_pt, height_pt), MAX_RENDER_DPI / _POINTS_PER_INCH)
                if native is not None:
                    scale = min(scale, native)
                # A hair under the exact ratio: PDFium rounds each side up, and 216 pt x 300/72 must be
                # 900 px, not 901.
                scale *= 1 - 1e-9
                width, height = _render_size(width_pt, height_pt, scale, self.max_side)
                if self.budget is not None:
                    # PDFium's bitmap (3 bytes a pixel), Pillow's RGB copy of it (4 bytes a pixel) and
                    # what decoding the page's images takes.
                    need = width * height * 7 + images + FIXED_DECODE_NEED
                    what = f"page {number} of the PDF, rendered at {width}x{height} px"
                    self.budget.check_decode(need, len(self.data), what)
                bitmap = page.render(scale=scale, may_draw_forms=False, rev_byteorder=True)
                try:
                    image = bitmap.to_pil().convert("RGB")
                finally:
                    bitmap.close()
            except self._pdfium.PdfiumError as exc:
                raise UnreadableImage(f"cannot render page {number} of the PDF: {exc}") from exc
            finally:
                page.close()
        if max(image.size) > self.max_side:  # rounding up by PDFium: one pixel at most
            image.thumbnail((self.max_side, self.max_side))
        return image

    def _images(self, page: Any, number: int, page_area: float) -> tuple[int, float | None]:
        """Bytes PDFium may take to decode the page's images, and the scan's scale (pixels per point)
        if one image covers most of the page; refuses an image over MAX_PIXELS.

        Measured on these machines (a 16000 x 16000 grey or 12000 x 12000 RGB image on a letter
        page, rendered at 2048 px): PDFium decodes Flate and DCT images a row at a time while it
        downsamples them (35-94 MB beyond the interpreter), while a JPEG 2000 (JPXDecode) image took
        179 MB for 144 M pixels; it is counted at 1.25 bytes a pixel. An image past Pillow's own
        bomb limit is refused outright, as an image file of that size would be.
        """
        need = 0
        native: float | None = None
        for image in page.get_objects(filter=[self._pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=4):
            try:
                width, height = image.get_px_size()
                filters = image.get_filters()
                left, bottom, right, top = image.get_bounds()
            except self._pdfium.PdfiumError:
                continue  # an image PDFium cannot size is one it will not draw either
            if width * height > MAX_PIXELS:
                raise UnreadableImage(
                    f"page {number} of the PDF holds an image too large: {width}x{height} px "
                    f"(limit {MAX_PIXELS} px)"
                )
            if "JPXDecode" in filters:
                need += width * height * 5 // 4
            drawn = (right - left) * (top - bottom)
            if drawn >= _SCAN_COVER * page_area and right > left:
                scale = max(width, height) / max(right - left, top - bottom)
                native = scale if native is None else max(native, scale)
        return need, native

    def extract(self, first: int, last: int) -> bytes:
        """Pages first..last (from 1) as a PDF of their own: the pages' objects copied, not re-rendered."""
        import io

        with _PDFIUM_LOCK:
            part = self._pdfium.PdfDocument.new()
            try:
                part.import_pages(self._pdf, list(range(first - 1, last)))
                out = io.BytesIO()
                part.save(out)
            except self._pdfium.PdfiumError as exc:
                raise UnreadableImage(f"cannot copy pages {first}-{last} of the PDF: {exc}") from exc
            finally:
                part.close()
        return out.getvalue()

    def close(self) -> None:
        pdf = getattr(self, "_pdf", None)
        if pdf is not None:
            with _PDFIUM_LOCK:
                pdf.close()
            self._pdf = None


def looks_like_pdf(data: bytes) -> bool:
    """True when the PDF header is in the first 1,024 bytes (the specification tolerates bytes before it)."""
    return b"%PDF-" in data[:1024]


def open_document(data: bytes, *, budget: MemoryBudget | None = None, max_side: int = MAX_SIDE) -> Document:
    """The document's pages, recognised by content; UnreadableImage says why it cannot be read."""
    if not data:
        raise UnreadableImage("empty object")
    if looks_like_pdf(data):
        return PdfDocument(data, budget, max_side)
    if data[:4] in (b"II*\x00", b"MM\x00*") and (count := frame_count(data)) > 1:
        return TiffDocument(data, count, budget, max_side)
    return Document(data, 1, budget, max_side)


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


def _render_size(width_pt: float, height_pt: float, scale: float, max_side: int) -> tuple[int, int]:
    """The bitmap PDFium renders at scale (it rounds each side up), at most max_side + 1."""
    return (
        max(1, min(max_side + 1, -(-int(width_pt * scale * 1000) // 1000))),
        max(1, min(max_side + 1, -(-int(height_pt * scale * 1000) // 1000))),
    )


def _open_error(pypdfium2: Any, exc: Exception, data: bytes) -> str:
    """What a PDF that PDFium will not open is, in words a user can act on."""
    raw = pypdfium2.raw
    code = getattr(exc, "err_code", None)
    if code == raw.FPDF_ERR_PASSWORD:
        return "PDF is encrypted (it needs a password to open); save an unprotected copy"
    if code == raw.FPDF_ERR_SECURITY:
        return "PDF uses an unsupported security handler"
    # pypdfium2 refuses a document of no pages with PDFium's last error, which is then stale: open
    # it through the raw API to tell an empty document from a damaged one.
    handle = raw.FPDF_LoadMemDocument64(data, len(data), None)
    if handle:
        try:
            if raw.FPDF_GetPageCount(handle) == 0:
                return "PDF has no pages"
        finally:
            raw.FPDF_CloseDocument(handle)
    return f"cannot open PDF (damaged or not a PDF): {exc}"
