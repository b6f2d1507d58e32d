"""docclass.pages: documents recognised by content, rendered a page at a time within the model's limit."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pypdfium2
import pytest
from pdfs import drawing_bomb_pdf, encrypted_text_pdf, huge_image_pdf, scripted_form_pdf, text_page_pdf
from PIL import Image

from conftest import blank_scan, draw_document, draw_page
from docclass.errors import DocumentTooLarge, UnreadableImage
from docclass.images import MAX_SIDE
from docclass.memory import MB, MemoryBudget
from docclass.pages import MAX_RENDER_DPI, is_near_blank, open_document
from docclass.pdf_sandbox import Sandbox


def pdf_of_page_sizes(*sizes_in_points: tuple[float, float]) -> bytes:
    """A PDF with empty pages of the given sizes (1 pt = 1/72 in), written by PDFium itself."""
    pdf = pypdfium2.PdfDocument.new()
    for width, height in sizes_in_points:
        pdf.new_page(width, height).close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind", "pages"),
    [
        pytest.param(draw_document(["letter", "invoice", "form"]), "pdf", 3, id="pdf"),
        pytest.param(b"\r\n" + draw_document(["letter"]), "pdf", 1, id="pdf-after-junk"),
        pytest.param(draw_document(["letter", None], fmt="TIFF"), "tiff", 2, id="multi-page-tiff"),
        pytest.param(draw_page("letter", fmt="TIFF"), "image", 1, id="single-page-tiff"),
        pytest.param(draw_page("invoice", fmt="PNG"), "image", 1, id="png"),
    ],
)
def test_documents_are_recognised_by_content(data: bytes, kind: str, pages: int):
    # given bytes whose key would say nothing (no extension is ever looked at)
    # when
    with open_document(data) as document:
        # then
        assert (document.kind, document.page_count) == (kind, pages)
        assert all(max(p.image.size) <= MAX_SIDE and p.image.mode == "RGB" for p in document.pages())


def test_a_pdf_page_is_rendered_to_fit_the_model_limit():
    # given a letter page (612 x 792 pt) and a 200 x 200 inch poster
    data = pdf_of_page_sizes((612, 792), (14_400, 14_400))
    # when
    with open_document(data) as document:
        letter, poster = (p.image for p in document.pages())
    # then both use the model's whole limit on their longer side, and no more
    assert max(letter.size) == MAX_SIDE and letter.size[0] == pytest.approx(MAX_SIDE * 612 / 792, abs=1)
    assert poster.size == (MAX_SIDE, MAX_SIDE)


def test_a_small_pdf_page_is_not_rendered_finer_than_a_scan():
    # given a 3 x 2 inch receipt
    data = pdf_of_page_sizes((216, 144))
    # when
    with open_document(data) as document:
        (page,) = (p.image for p in document.pages())
    # then 300 dpi at most, not stretched to 2048 px
    assert page.size == (3 * MAX_RENDER_DPI, 2 * MAX_RENDER_DPI)


def test_pages_past_the_limit_are_not_rendered():
    # given
    data = draw_document(["letter", "invoice", "form", "letter"])
    # when
    with open_document(data) as document:
        numbers = [p.number for p in document.pages(limit=2)]
        # then
        assert numbers == [1, 2]
        assert document.page_count == 4


def test_multi_page_tiff_pages_are_its_frames_in_order():
    # given pages that differ: a letter, then a blank back side
    data = draw_document(["letter", None], fmt="TIFF")
    # when
    with open_document(data) as document:
        first, second = (p.image for p in document.pages())
    # then
    assert not is_near_blank(first)
    assert is_near_blank(second)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "cannot open PDF (damaged", id="damaged"),
        pytest.param(draw_document(["letter"])[:400], "cannot open PDF (damaged", id="truncated"),
        pytest.param(pdf_of_page_sizes(), "PDF has no pages", id="zero-pages"),
    ],
)
def test_a_pdf_that_cannot_be_opened_says_why(data: bytes, reason: str):
    # when / then
    with pytest.raises(UnreadableImage, match=reason.replace("(", r"\(")):
        open_document(data)


def test_a_pdf_page_that_does_not_fit_the_budget_is_refused_before_rendering():
    # given a budget of 120 MB per document, and an object that takes nearly all of it
    budget = MemoryBudget("ClassifyFunction", 1024, 1024 - 120 - 48)
    data = pdf_of_page_sizes((612, 792)) + b" " * (100 * MB)
    # when / then
    with (
        open_document(data, budget=budget) as document,
        pytest.raises(DocumentTooLarge, match="page 1 of the PDF"),
    ):
        document.page(1)


def classify_budget() -> MemoryBudget:
    """ClassifyFunction's budget as deployed: 1024 MB, the runtime and index reserved."""
    return MemoryBudget("ClassifyFunction", 1024, 128 + 480 + 48)


def test_a_tiny_pdf_whose_page_expands_past_the_memory_budget_is_refused_and_the_next_one_renders():
    # given a 1 KB PDF whose one page loads ten million drawing operations (3.3 GB in one process)
    bomb = drawing_bomb_pdf(10_000, 1_000)
    assert len(bomb) < 2_000
    # when its page is drawn within ClassifyFunction's budget
    with (
        open_document(bomb, budget=classify_budget()) as document,
        pytest.raises(DocumentTooLarge, match="page 1 of the PDF: PDFium ran out of memory"),
    ):
        document.page(1)
    # then the next PDF is drawn as ever
    with open_document(text_page_pdf([["INVOICE"]]), budget=classify_budget()) as document:
        assert document.page(1).size == (1583, 2048)


def test_a_page_that_takes_longer_than_its_deadline_is_refused():
    # given a page of a million drawing operations (seconds to load), allowed a tenth of a second
    with (
        open_document(drawing_bomb_pdf(10_000, 100), page_seconds=0.1) as document,
        pytest.raises(UnreadableImage, match=r"page 1 of the PDF: PDFium did not finish within 0.1 s"),
    ):
        # when / then
        document.page(1)


def test_a_pdf_opened_before_the_renderer_was_stopped_is_reopened_and_drawn():
    # given a PDF open while another one stops the renderer
    with open_document(text_page_pdf([["INVOICE"], ["page two"]]), budget=classify_budget()) as kept:
        first = np.asarray(kept.page(1))
        with (
            open_document(drawing_bomb_pdf(10_000, 1_000), budget=classify_budget()) as bomb,
            pytest.raises(DocumentTooLarge),
        ):
            bomb.page(1)
        # when its pages are drawn again / then they are, as before
        assert np.array_equal(np.asarray(kept.page(1)), first)
        assert kept.page(2).size == first.shape[1::-1]
        assert len(kept.extract(1, 2)) > 0


def test_the_pdf_renderer_runs_without_the_functions_aws_credentials(monkeypatch):
    # given a function whose environment holds its role's credentials
    from docclass.pdf_sandbox import SANDBOX

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-functions-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-functions-token")
    SANDBOX.stop()
    # when a PDF is drawn
    with open_document(text_page_pdf([["INVOICE"]])) as document:
        document.page(1)
        worker = SANDBOX.worker()
        # then the process that parsed it never saw them
        with open(f"/proc/{worker.process.pid}/environ", "rb") as environ:
            names = {item.split(b"=", 1)[0] for item in environ.read().split(b"\0") if item}
    assert names == {b"PYTHONPATH", b"PATH", b"LANG"}
    # and this process's own /proc entries (its environment included) are closed to it: PR_GET_DUMPABLE
    import ctypes

    assert ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) == 0


def test_a_renderer_that_cannot_start_is_the_deployments_fault_not_the_documents(monkeypatch):
    # given a function whose PDF renderer cannot start
    from docclass.pdf_sandbox import SandboxUnavailable

    fresh = Sandbox()
    monkeypatch.setattr("docclass.pages.SANDBOX", fresh)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    # when / then: an error that is retried (and dead-lettered), never failed/ as a damaged PDF
    with pytest.raises(SandboxUnavailable, match="did not start"):
        open_document(text_page_pdf([["INVOICE"]]))
    assert not issubclass(SandboxUnavailable, UnreadableImage)


def test_a_pdf_that_cannot_be_written_for_the_renderer_leaves_no_partial_file(monkeypatch, tmp_path):
    # given a temporary directory that fills up (Lambda's /tmp is 512 MB unless told otherwise)
    import tempfile

    from docclass import pdf_sandbox

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fresh = Sandbox()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fd: int) -> None:
            self.file = real_fdopen(fd, "wb")

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            self.file.write(data[:10])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(pdf_sandbox.os, "fdopen", lambda fd, mode: Full(fd))
    # when / then
    with pytest.raises(OSError, match="No space left"):
        fresh.file_for(b"%PDF-1.7 " + b"x" * 1000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("seed", range(3))
def test_a_scanned_empty_page_is_near_blank(seed: int):
    assert is_near_blank(blank_scan(seed=seed))


@pytest.mark.parametrize("kind", ["letter", "invoice", "form"])
def test_a_page_with_content_is_not_near_blank(kind: str):
    assert not is_near_blank(Image.open(io.BytesIO(draw_page(kind))).convert("RGB"))


def test_a_page_with_only_a_heading_is_not_near_blank():
    # given a blank scan with one line of heading across a third of the page
    page = blank_scan()
    page.paste((30, 30, 30), (120, 100, 420, 116))
    # then
    assert not is_near_blank(page)


def test_a_closing_signature_block_is_content_and_a_lone_page_number_is_not():
    # given the last page of a letter (its closing and a name), and a page with only "Page two"
    def drawn(lines: list[str]) -> Image.Image:
        with open_document(text_page_pdf([lines])) as document:
            return document.page(1)

    # then the closing is embedded as a page, the page number alone is not (it says nothing
    # about the class, and joins the section before it in a packet)
    assert not is_near_blank(drawn(["Sincerely,", "", "John Smith"]))
    assert is_near_blank(drawn(["Page two"]))


def test_faint_bleed_through_is_still_near_blank():
    # given the back side of thin paper: the front's text shows through, faint
    page = np.asarray(blank_scan(), dtype=np.int16)
    page[200:900:28, 80:700] -= 35
    # then
    assert is_near_blank(Image.fromarray(np.clip(page, 0, 255).astype("uint8")))


def test_an_encrypted_pdf_is_refused_with_what_to_do():
    # given a PDF that needs a password to open (and does open with it: the file is well formed)
    data = encrypted_text_pdf("secret", ["Statement of account"])
    reopened = pypdfium2.PdfDocument(data, password="secret")
    assert len(reopened) == 1
    reopened.close()
    # when / then
    with pytest.raises(UnreadableImage, match="PDF is encrypted"):
        open_document(data)


def test_javascript_and_forms_are_ignored_and_the_page_is_rendered():
    # given a PDF that runs JavaScript on open and on a field's focus, with a filled form field
    data = scripted_form_pdf()
    # when
    with open_document(data) as document:
        (page,) = (p.image for p in document.pages())
    # then the page is drawn like any other, its text on it
    assert max(page.size) == MAX_SIDE and not is_near_blank(page)


def test_a_pdf_page_holding_an_image_past_the_pixel_limit_is_refused_before_rendering():
    # given a 250 KB PDF whose page shows a 16000 x 16000 px Flate image (256 M px)
    data = huge_image_pdf(16_000, 16_000)
    # when / then
    with open_document(data) as document, pytest.raises(UnreadableImage, match="16000x16000 px"):
        document.page(1)


def test_a_pdf_page_holding_a_large_image_within_the_limit_is_rendered():
    with open_document(huge_image_pdf(8_000, 8_000)) as document:
        assert max(document.page(1).size) == MAX_SIDE


def test_a_ten_thousand_page_pdf_is_read_up_to_the_page_limit_only():
    # given
    data = pdf_of_page_sizes(*[(612, 792)] * 10_000)
    # when
    with open_document(data) as document:
        numbers = [p.number for p in document.pages(limit=20)]
        # then
        assert document.page_count == 10_000
        assert numbers == list(range(1, 21))


def test_a_born_digital_pdf_renders_its_text():
    with open_document(text_page_pdf([["Invoice 2026-0042", "Total due: 1,250.00 EUR"] * 6])) as document:
        (page,) = (p.image for p in document.pages())
    assert not is_near_blank(page)


def test_a_scanned_pdf_page_is_rendered_at_the_scans_resolution_not_upsampled():
    # given a page scanned at 100 dpi (850 x 1100 px on a US letter page)
    with open_document(draw_document(["letter"])) as document:
        (page,) = (p.image for p in document.pages())
    # then its pixels are the scan's, not 2048 px of interpolation
    assert page.size == (850, 1100)
