"""PDFs and multi-page TIFFs through both handlers (moto S3, offline embedder): one decision per page."""

from __future__ import annotations

import copy
import json

import pytest

from conftest import (
    BUCKET,
    QUICK_STACK,
    FakeLambdaContext,
    draw_document,
    draw_page,
    load_event,
    load_handler,
)
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
    context = FakeLambdaContext(remaining_ms=36_000)
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


# --- packet splitting (SplitPackets=true) -----------------------------------------------------------

PACKET = ["form", "form", None, "invoice", "letter", "letter"]
SECTIONS = {
    "classified/form/scans/loan-application/part-01-p1-3.pdf": "1-3",
    "classified/invoice/scans/loan-application/part-02-p4.pdf": "4",
    "classified/letter/scans/loan-application/part-03-p5-6.pdf": "5-6",
}


def page_count(data: bytes) -> int:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def test_a_packet_is_split_into_sections_and_its_original_kept(s3, handlers, three_classes, monkeypatch):
    # given a packet: a two-page form with an empty back side, an invoice, a two-page letter
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers
    # when
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    # then each run of pages is a PDF of its own, and the original sits under packets/
    assert keys(s3, "inbox/") == []
    assert keys(s3, "classified/") == sorted(SECTIONS)
    packet = "packets/scans/loan-application.pdf"
    assert keys(s3, "packets/") == [packet]
    for key, pages in SECTIONS.items():
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        assert obj["Metadata"]["docclass-packet"] == packet
        assert obj["Metadata"]["docclass-packet-pages"] == pages
        assert obj["ContentType"] == "application/pdf"
        first, _, last = pages.partition("-")
        assert page_count(obj["Body"].read()) == int(last or first) - int(first) + 1
    meta = s3.head_object(Bucket=BUCKET, Key=packet)["Metadata"]
    assert meta["docclass-sections"] == "1-3:form,4:invoice,5-6:letter"


def test_a_redelivered_packet_makes_no_duplicate_sections(s3, handlers, three_classes, monkeypatch):
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers
    event = load_event("sqs-inbox-put-pdf.json")
    assert classify(event) == {"batchItemFailures": []}
    # when SQS delivers the message again
    assert classify(event) == {"batchItemFailures": []}
    # then
    assert keys(s3, "classified/") == sorted(SECTIONS)
    assert keys(s3, "packets/") == ["packets/scans/loan-application.pdf"]


def a_split_that_dies_after_its_first_section(s3, classify, monkeypatch) -> tuple[dict, list[str]]:
    """Upload the packet and deliver it once to a function that fails (as one out of memory) once it
    has written one section; returns the event, to deliver again, and the sections written."""
    from docclass.classify import Classifier

    real_put = Classifier._put_section
    written: list[str] = []

    def dies_after_one(self, key, body, metadata, kms_key_id=None):  # type: ignore[no-untyped-def]
        if written:
            raise RuntimeError("the function ran out of memory")
        written.append(real_put(self, key, body, metadata, kms_key_id))
        return written[-1]

    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    monkeypatch.setattr(Classifier, "_put_section", dies_after_one)
    event = load_event("sqs-inbox-put-pdf.json")
    assert classify(event)["batchItemFailures"]  # the message goes back
    monkeypatch.setattr(Classifier, "_put_section", real_put)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    return event, written


def test_a_split_interrupted_after_its_first_section_is_finished_by_the_next_delivery(
    s3, handlers, three_classes, monkeypatch
):
    # given a delivery that dies right after writing the first section
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    _, classify = handlers
    event, _ = a_split_that_dies_after_its_first_section(s3, classify, monkeypatch)
    assert keys(s3, "inbox/") == [PDF_KEY] and len(keys(s3, "classified/")) == 1
    # when it is delivered again (a second receive)
    real_embed = LocalEmbedder.embed
    calls: list[int] = []
    monkeypatch.setattr(
        LocalEmbedder, "embed", lambda self, image: calls.append(1) or real_embed(self, image)
    )
    record = event["Records"][0]
    record["attributes"]["ApproximateReceiveCount"] = "2"
    assert classify(event) == {"batchItemFailures": []}
    # then every section exists once, the source is gone, the original kept
    assert keys(s3, "classified/") == sorted(SECTIONS)
    assert keys(s3, "inbox/") == []
    assert keys(s3, "packets/") == ["packets/scans/loan-application.pdf"]
    # and the sections written by the repair carry their evidence as the first one does, taken
    # from the pages' cached embeddings (no model call)
    for key in SECTIONS:
        metadata = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
        assert float(metadata["docclass-distance"]) >= 0 and metadata["docclass-neighbor"].startswith(
            "gallery/"
        )
    assert calls == []


def section_margins(s3) -> dict[str, float]:
    """Each section under classified/ or review/ by its pages, with its docclass-margin."""
    return {
        s3.head_object(Bucket=BUCKET, Key=k)["Metadata"]["docclass-packet-pages"]: float(
            s3.head_object(Bucket=BUCKET, Key=k)["Metadata"]["docclass-margin"]
        )
        for k in keys(s3, "classified/") + keys(s3, "review/")
    }


def test_under_a_review_margin_each_close_section_goes_to_review_and_the_plan_says_so(
    s3, handlers, three_classes, monkeypatch
):
    # given the packet split once without ReviewMargin, which shows each section's margin
    from docclass import services

    monkeypatch.setenv("SPLIT_PACKETS", "true")
    _, classify = handlers
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    margins = section_margins(s3)
    closest = min(margins, key=margins.__getitem__)
    others = sorted(v for k, v in margins.items() if k != closest)
    assert margins[closest] < others[0]  # one section is the closest call
    # when the same packet comes again under a ReviewMargin between that section's margin and the rest's
    monkeypatch.setenv("REVIEW_MARGIN", str((margins[closest] + others[0]) / 2))
    services.classifier.cache_clear()
    key = "inbox/again/loan-application.pdf"
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(PACKET, seed=11))
    assert classify(pdf_event(key)) == {"batchItemFailures": []}
    # then that section waits under review/<label>/, the others are classified, and the plan on the
    # packet's copy says which went where
    label = {"1-3": "form", "4": "invoice", "5-6": "letter"}
    number = {"1-3": 1, "4": 2, "5-6": 3}
    assert keys(s3, "review/") == [
        f"review/{label[closest]}/again/loan-application/part-0{number[closest]}-p{closest}.pdf"
    ]
    assert len([k for k in keys(s3, "classified/") if k.split("/")[2] == "again"]) == 2
    plan = s3.head_object(Bucket=BUCKET, Key="packets/again/loan-application.pdf")["Metadata"][
        "docclass-sections"
    ]
    from docclass.packets import parse_plan

    assert {s.pages: s.review for s in parse_plan(plan)} == {p: p == closest for p in label}


@pytest.mark.parametrize(("margin", "metric"), [("", "DocumentsClassified"), ("2", "DocumentsForReview")])
def test_each_section_is_counted_as_the_document_it_becomes(
    s3, handlers, three_classes, monkeypatch, margin, metric
):
    from docclass import classify as classify_module

    counted: list[tuple[str, str]] = []
    monkeypatch.setattr(classify_module, "count_per_label", lambda name, label: counted.append((name, label)))
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    monkeypatch.setenv("REVIEW_MARGIN", margin)
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers

    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}

    assert sorted(counted) == [(metric, "form"), (metric, "invoice"), (metric, "letter")]


@pytest.mark.parametrize(
    "receive_count",
    [
        "2",  # the message back from its visibility timeout
        # a first delivery again: a dead letter redriven (SQS gives redriven messages a new
        # identity, so their receive count starts again:
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html),
        # or S3 sending the event twice
        "1",
    ],
)
def test_an_interrupted_split_writes_its_sections_where_its_plan_says(
    s3, handlers, three_classes, monkeypatch, receive_count
):
    # given a split under ReviewMargin=2 (every section a close call) that dies after its first
    # section, and then ReviewMargin turned off before the message comes back
    from docclass import services

    monkeypatch.setenv("SPLIT_PACKETS", "true")
    monkeypatch.setenv("REVIEW_MARGIN", "2")
    _, classify = handlers
    event, written = a_split_that_dies_after_its_first_section(s3, classify, monkeypatch)
    assert written == ["review/form/scans/loan-application/part-01-p1-3.pdf"]
    monkeypatch.delenv("REVIEW_MARGIN")
    services.classifier.cache_clear()
    # when it is delivered again
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = receive_count
    assert classify(event) == {"batchItemFailures": []}
    # then the split is finished as the plan on its packets/ copy says: every section under
    # review/, none also under classified/
    assert keys(s3, "review/") == sorted(k.replace("classified/", "review/", 1) for k in SECTIONS)
    assert keys(s3, "classified/") == [] and keys(s3, "inbox/") == []


@pytest.mark.parametrize("receive_count", ["2", "1"])
def test_a_split_interrupted_then_split_packets_turned_off_is_still_finished(
    s3, handlers, three_classes, monkeypatch, receive_count
):
    # given a split that died after its first section, then SplitPackets turned off (or a gallery
    # change after which the pages agree) before the message comes back, as a retry or redriven
    from docclass import services

    monkeypatch.setenv("SPLIT_PACKETS", "true")
    _, classify = handlers
    event, _ = a_split_that_dies_after_its_first_section(s3, classify, monkeypatch)
    monkeypatch.setenv("SPLIT_PACKETS", "false")
    services.classifier.cache_clear()
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = receive_count
    # when
    assert classify(event) == {"batchItemFailures": []}
    # then the split is finished, and the packet is not also routed whole
    assert keys(s3, "classified/") == sorted(SECTIONS)
    assert keys(s3, "inbox/") == [] and keys(s3, "packets/") == ["packets/scans/loan-application.pdf"]


@pytest.mark.parametrize("plan", ["garbage", "1-3:form,4-9:invoice", "2-6:form", ""])
def test_a_plan_that_does_not_describe_the_packet_is_planned_again_not_retried_forever(
    s3, handlers, three_classes, monkeypatch, plan
):
    # given an interrupted split whose packets/ copy's plan was then edited by hand (or is empty)
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    _, classify = handlers
    event, _ = a_split_that_dies_after_its_first_section(s3, classify, monkeypatch)
    packet = "packets/scans/loan-application.pdf"
    metadata = s3.head_object(Bucket=BUCKET, Key=packet)["Metadata"]
    s3.copy_object(
        Bucket=BUCKET,
        Key=packet,
        CopySource={"Bucket": BUCKET, "Key": packet},
        MetadataDirective="REPLACE",
        Metadata={**metadata, "docclass-sections": plan},
    )
    # when it is delivered again
    assert classify(event) == {"batchItemFailures": []}
    # then the sections are planned from its pages again: every page in one section, once
    assert keys(s3, "classified/") == sorted(SECTIONS)
    assert keys(s3, "inbox/") == []


def test_a_packet_whose_pages_pdfium_cannot_copy_out_fails_with_the_reason_and_its_original_kept(
    s3, handlers, three_classes, monkeypatch
):
    # given PDFium refusing to copy the pages out (as FPDF_ImportPages does on a damaged page tree:
    # the worker answers with an error), while it still draws every page
    from docclass.pages import PdfDocument
    from docclass.pdf_sandbox import DocumentError

    real_request = PdfDocument._request

    def refuse_extract(self, header, what, timeout=None):  # type: ignore[no-untyped-def]
        if header["op"] == "extract":
            raise DocumentError({"error": "FPDF_ImportPages failed"})
        return real_request(self, header, what, timeout)

    monkeypatch.setattr(PdfDocument, "_request", refuse_extract)
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers
    # when
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    # then no retry: the document is in failed/ with the reason, and its original under packets/
    assert keys(s3, "inbox/") == [] and keys(s3, "classified/") == []
    assert keys(s3, "failed/") == ["failed/scans/loan-application.pdf"]
    error = s3.head_object(Bucket=BUCKET, Key="failed/scans/loan-application.pdf")["Metadata"][
        "docclass-error"
    ]
    assert error.startswith("packet could not be split: cannot copy pages 1-3 of the PDF")
    assert "FPDF_ImportPages failed" in error
    assert keys(s3, "packets/") == ["packets/scans/loan-application.pdf"]


def test_without_split_packets_a_packet_is_routed_whole(s3, handlers, three_classes):
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    assert keys(s3, "packets/") == []
    (routed,) = keys(s3, "classified/")
    assert routed.endswith("/scans/loan-application.pdf")


def test_a_pdf_whose_pages_agree_is_not_split(s3, handlers, three_classes, monkeypatch):
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(["invoice", "invoice", "letter", "invoice"]))
    _, classify = handlers
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    assert keys(s3, "classified/") == ["classified/invoice/scans/loan-application.pdf"]
    assert keys(s3, "packets/") == []


def test_the_local_stack_splits_a_packet_when_told_to_and_status_counts_it():
    # given the local stack with SplitPackets=true, as `docclass serve --parameter-overrides` sets it
    from docclass_local.stack import LocalStack

    with LocalStack(
        port=None, **QUICK_STACK, bucket="docclass-packets", parameters={"SplitPackets": "true"}
    ) as stack:
        s3 = stack.client("s3")
        for kind in ("invoice", "letter", "form"):
            s3.put_object(
                Bucket=stack.bucket, Key=f"gallery/{kind}/{kind}-1.png", Body=draw_page(kind, seed=1)
            )
        stack.wait_until_idle(timeout=90)
        # when a packet arrives through S3 -> SQS -> ClassifyFunction
        s3.put_object(Bucket=stack.bucket, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
        status = stack.wait_until_idle(timeout=90)
        # then
        listed = s3.list_objects_v2(Bucket=stack.bucket, Prefix="classified/").get("Contents", [])
    assert status["packets"] == 1
    assert sum(status["classified"].values()) == len(SECTIONS) == len(listed)


# --- multi-page gallery examples (GalleryPages) -----------------------------------------------------


def index_ids(s3) -> dict[str, str]:
    from docclass.index_store import IndexRepository
    from docclass.local_embedder import MODEL_ID
    from docclass.store import ObjectStore

    index, _ = IndexRepository(ObjectStore(BUCKET, s3), MODEL_ID, 1024).load()
    return {e.key: e.label for e in index.entries()}


def test_gallery_pages_makes_every_page_an_example_and_a_change_replaces_them_all(s3, handlers, monkeypatch):
    # given GalleryPages=3 and a four-page example whose second page is an empty back side
    monkeypatch.setenv("GALLERY_PAGES", "3")
    gallery, classify = handlers
    key = "gallery/claim/claim-1.pdf"
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(["form", None, "letter", "invoice"], seed=60))
    # when
    assert gallery(gallery_event(key)) == {"batchItemFailures": []}
    # then pages 1 and 3 are examples, the blank page 2 is not, page 4 is past GalleryPages
    assert index_ids(s3) == {key: "claim", f"{key}#page=3": "claim"}
    # and a document like its third page finds that page
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(["letter"], seed=62))
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    (routed,) = keys(s3, "classified/")
    assert s3.head_object(Bucket=BUCKET, Key=routed)["Metadata"]["docclass-neighbor"] == f"{key}#page=3"
    # when the example is replaced by a one-page PDF, its old pages go
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(["form"], seed=60))
    event = gallery_event(key)
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["sequencer"] = "0062E99A88DC407480FF"
    event["Records"][0]["body"] = json.dumps(body)
    assert gallery(event) == {"batchItemFailures": []}
    assert index_ids(s3) == {key: "claim"}


def test_deleting_a_multi_page_example_removes_all_its_pages(s3, handlers, monkeypatch):
    monkeypatch.setenv("GALLERY_PAGES", "5")
    gallery, _ = handlers
    key = "gallery/claim/claim-2.pdf"
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(["form", "letter", "invoice"], seed=70))
    assert gallery(gallery_event(key)) == {"batchItemFailures": []}
    assert len(index_ids(s3)) == 3
    # when the object is deleted
    s3.delete_object(Bucket=BUCKET, Key=key)
    event = load_event("sqs-gallery-delete.json")
    record = event["Records"][0]
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"].update(key=key)
    record["body"] = json.dumps(body)
    assert gallery(event) == {"batchItemFailures": []}
    # then
    assert index_ids(s3) == {}


def test_a_packet_whose_plan_would_not_fit_s3_metadata_is_routed_whole(
    s3, handlers, three_classes, monkeypatch
):
    # given a plan of sections too long for the packet copy's metadata (forced: 30 long labels do it)
    from docclass import classify as classify_module

    monkeypatch.setenv("SPLIT_PACKETS", "true")
    monkeypatch.setattr(classify_module, "fits_with", lambda metadata, key, value: False)
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers
    # when
    assert classify(load_event("sqs-inbox-put-pdf.json")) == {"batchItemFailures": []}
    # then nothing is split and nothing lost: the document is routed whole
    assert keys(s3, "packets/") == [] and keys(s3, "inbox/") == []
    (routed,) = keys(s3, "classified/")
    assert routed.endswith("/scans/loan-application.pdf")


def pdf_event(key: str) -> dict:
    """events/sqs-inbox-put-pdf.json's message, naming key (URL-encoded as S3 writes it)."""
    from urllib.parse import quote_plus

    event = load_event("sqs-inbox-put-pdf.json")
    record = event["Records"][0]
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"]["key"] = quote_plus(key)
    record["body"] = json.dumps(body)
    return event


def test_a_packet_with_a_name_and_a_label_outside_ascii_is_split(s3, handlers, monkeypatch):
    # given a gallery whose letter class is named in German, and a packet named in German
    # (S3 user metadata is ASCII: botocore refuses anything else before sending, so the unencoded
    # plan and packet key kept the message in a retry loop until it was dead-lettered)
    gallery, classify = handlers
    for folder, kind in (("form", "form"), ("invoice", "invoice"), ("Kündigung", "letter")):
        key = f"gallery/{folder}/{kind}-1.png"
        s3.put_object(Bucket=BUCKET, Key=key, Body=draw_page(kind, seed=1))
        assert gallery(gallery_event(key)) == {"batchItemFailures": []}
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    key = "inbox/scans/Rechnung März.pdf"
    s3.put_object(Bucket=BUCKET, Key=key, Body=draw_document(PACKET, seed=11))
    # when
    assert classify(pdf_event(key)) == {"batchItemFailures": []}
    # then it is split, each section where its label says, and the plan reads back
    assert keys(s3, "inbox/") == []
    assert keys(s3, "classified/") == [
        "classified/Kündigung/scans/Rechnung März/part-03-p5-6.pdf",
        "classified/form/scans/Rechnung März/part-01-p1-3.pdf",
        "classified/invoice/scans/Rechnung März/part-02-p4.pdf",
    ]
    from docclass.packets import parse_plan

    plan = s3.head_object(Bucket=BUCKET, Key="packets/scans/Rechnung März.pdf")["Metadata"][
        "docclass-sections"
    ]
    assert [s.label for s in parse_plan(plan)] == ["form", "invoice", "Kündigung"]


def test_a_section_name_another_delivery_is_writing_is_not_skipped_for_the_next_name(
    s3, handlers, three_classes, monkeypatch
):
    # given S3 answering a section's conditional write with 409 ConditionalRequestConflict (another
    # write of that name in flight: a duplicate delivery splitting the same upload), so the name
    # holds nothing yet
    from docclass.errors import PreconditionFailed
    from docclass.store import ObjectStore

    monkeypatch.setenv("SPLIT_PACKETS", "true")
    real_put = ObjectStore.put

    def conflict(self, key, body, **kwargs):  # type: ignore[no-untyped-def]
        if key.endswith("/part-02-p4.pdf"):
            raise PreconditionFailed(f"{key}: ConditionalRequestConflict")
        return real_put(self, key, body, **kwargs)

    monkeypatch.setattr(ObjectStore, "put", conflict)
    s3.put_object(Bucket=BUCKET, Key=PDF_KEY, Body=draw_document(PACKET, seed=11))
    _, classify = handlers
    # when
    response = classify(load_event("sqs-inbox-put-pdf.json"))
    # then the message goes back (to find the section written next time), and no second name is taken
    assert response["batchItemFailures"]
    assert not [k for k in keys(s3, "classified/") if "~" in k]
    assert keys(s3, "inbox/") == [PDF_KEY]
