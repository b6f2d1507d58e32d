"""PDFs and multi-page TIFFs through both handlers (moto S3, offline embedder): one decision per page."""

from __future__ import annotations

import copy
import json

import pytest

from conftest import BUCKET, FakeLambdaContext, draw_document, draw_page, load_event, load_handler
from docclass.local_embedder import LocalEmbedder

PDF_KEY = "inbox/scans/loan-application.pdf"  # the key events/sqs-inbox-put-pdf.json names


def keys(s3, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def gallery_event(key: str) -> dict:
    """events/sqs-gallery-put.json's message, naming key."""
    event = load_event("sqs-gallery-put.json")
    record = event["Records"][0]
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"].update(key=key.replace(" ", "+"), size=1)
    record["body"] = json.dumps(body)
    return event


@pytest.fixture
def handlers(service_env, s3):
    """(gallery, classify): each called with an event and, optionally, a Lambda context."""
    gallery, classify = load_handler("gallery"), load_handler("classify")
    return (
        lambda event, context=None: gallery.lambda_handler(event, context or FakeLambdaContext()),
        lambda event, context=None: classify.lambda_handler(event, context or FakeLambdaContext()),
    )


@pytest.fixture
def three_classes(s3, handlers) -> None:
    """A gallery of one PNG example each of invoice, letter and form."""
    gallery, _ = handlers
    for kind in ("invoice", "letter", "form"):
        key = f"gallery/{kind}/{kind}-1.png"
        s3.put_object(Bucket=BUCKET, Key=key, Body=draw_page(kind, seed=1))
        assert gallery(gallery_event(key)) == {"batchItemFailures": []}


def test_a_pdf_is_classified_by_its_pages_and_says_so(s3, handlers, three_classes):
    # given a four-page PDF: two invoice pages, an empty back side, a letter page
    s3.put_object(
        Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(["invoice", "invoice", None, "letter"], seed=5)
    )
    # when the event file of an inbox PDF is handled
    _, classify = handlers
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    # then the invoice pages outvote the letter page, and the metadata tells every page's outcome
    destination = "classified/invoice/scans/loan-application.pdf"
    assert keys(s3, "inbox/") == [] and keys(s3, "classified/") == [destination]
    meta = s3.head_object(Bucket=BUCKET, Key=destination)["Metadata"]
    assert meta["docclass-label"] == "invoice"
    assert meta["docclass-pages"] == "total=4 embedded=3 blank=1 unread=0"
    assert meta["docclass-page-labels"] == "1-2:invoice,3:blank,4:letter"


def test_a_multi_page_tiff_is_classified_by_its_pages(s3, handlers, three_classes):
    key = "inbox/fax/claim.tif"
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(["form", "form", "letter"], fmt="TIFF", seed=2))
    _, classify = handlers
    event = copy.deepcopy(load_event("sqs-inbox-put-pdf.json"))
    record = event["Records"][0]
    record["body"] = record["body"].replace("scans/loan-application.pdf", "fax/claim.tif")
    assert classify(event) == {"batchItemFailures": []}
    meta = s3.head_object(Bucket=BUCKET, Key="classified/form/fax/claim.tif")["Metadata"]
    assert meta["docclass-page-labels"] == "1-2:form,3:letter"


def test_a_single_image_carries_no_page_metadata(s3, handlers, three_classes):
    # given a plain PNG under the PDF's key (recognised by content, not by extension)
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_page("letter", seed=3))
    _, classify = handlers
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    meta = s3.head_object(Bucket=BUCKET, Key="classified/letter/scans/loan-application.pdf")["Metadata"]
    assert "docclass-pages" not in meta and "docclass-page-labels" not in meta


def test_pages_past_max_pages_are_not_embedded_and_counted(s3, handlers, three_classes, monkeypatch):
    monkeypatch.setenv("MAX_PAGES", "2")
    s3.put_object(
        Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(["letter", "letter", "invoice", "invoice", "invoice"])
    )
    _, classify = handlers
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    meta = s3.head_object(Bucket=BUCKET, Key="classified/letter/scans/loan-application.pdf")["Metadata"]
    assert meta["docclass-pages"] == "total=5 embedded=2 blank=0 unread=3"
    assert meta["docclass-page-labels"] == "1-2:letter"


def test_a_long_document_goes_back_when_time_runs_out_and_resumes_from_the_cache(
    s3, handlers, three_classes, monkeypatch
):
    # given an invocation whose time runs out after two model calls (each takes 5 s of it)
    context = FakeLambdaContext(remaining_ms=22_000)
    real_embed = LocalEmbedder.embed

    def slow_embed(self, image):  # type: ignore[no-untyped-def]
        context.spend(5_000)
        return real_embed(self, image)

    monkeypatch.setattr(LocalEmbedder, "embed", slow_embed)
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(["invoice", "invoice", "form", "invoice"]))
    _, classify = handlers
    event = load_event("sqs-inbox-put-pdf.json")
    # when
    response = classify(event, context)
    # then the message goes back, the document stays in the inbox, and its first pages are cached
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert keys(s3, "inbox/") == [PDF_KEY]
    assert len(keys(s3, "embeddings/inbox/")) == 2
    # when it is delivered again with time enough
    calls: list[int] = []
    monkeypatch.setattr(
        LocalEmbedder, "embed", lambda self, image: calls.append(1) or real_embed(self, image)
    )
    assert classify(event) == {"batchItemFailures": []}
    # then it is classified, and only the two pages not embedded before cost a model call
    assert keys(s3, "classified/") == ["classified/invoice/scans/loan-application.pdf"]
    assert len(calls) == 2
    assert len(keys(s3, "embeddings/inbox/")) == 4


def test_a_pdf_gallery_example_contributes_its_first_page(s3, handlers, three_classes):
    # given a receipt class whose only example is a PDF (its first page is a form-like receipt)
    gallery, classify = handlers
    key = "gallery/receipt/receipt-1.pdf"
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(["form", "letter"], seed=40))
    # when
    assert gallery(gallery_event(key)) == {"batchItemFailures": []}
    # then a PDF of that same page is classified as a receipt
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(["form"], seed=40))
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    assert keys(s3, "classified/") == ["classified/receipt/scans/loan-application.pdf"]
