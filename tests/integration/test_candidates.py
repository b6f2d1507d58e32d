"""Ranked candidates on every routed document, and ReviewMargin's review/ (issue 14, point 1)."""

from __future__ import annotations

import json

import pytest

from conftest import BUCKET, load_event, load_handler
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID as LOCAL_MODEL
from docclass.routing import parse_candidates
from docclass.store import ObjectStore
from tests.pdfs import text_page_pdf

INBOX_KEY = "inbox/scans/March 2026+urgent.png"
PATH = "scans/March 2026+urgent.png"
LABELS = ("invoice", "letter", "form")


def keys(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.fixture
def handlers(service_env, s3, lambda_context):
    gallery, classify = load_handler("gallery"), load_handler("classify")
    return (
        lambda event: gallery.lambda_handler(event, lambda_context),
        lambda event: classify.lambda_handler(event, lambda_context),
    )


def add_gallery(s3, gallery, items: list[tuple[str, bytes]]) -> None:
    template = load_event("sqs-gallery-put.json")
    for n, (key, data) in enumerate(items, start=1):
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        record = dict(template["Records"][0])
        body = json.loads(record["body"])
        body["Records"][0]["s3"]["object"] = {"key": key, "sequencer": f"{n:04d}"}
        record["body"] = json.dumps(body)
        assert gallery({"Records": [record]}) == {"batchItemFailures": []}


def vectors_of(s3) -> dict[str, str]:
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    return {e.key: e.label for e in index.entries()}


@pytest.fixture
def three_classes(s3, handlers, page):
    gallery, _ = handlers
    add_gallery(s3, gallery, [(f"gallery/{label}/{label}-1.png", page(label, seed=1)) for label in LABELS])
    assert len(vectors_of(s3)) == 3


def test_a_classified_document_carries_its_three_nearest_labels_and_the_margin(
    s3, handlers, three_classes, page
):
    _, classify = handlers
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", seed=7))

    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}

    meta = s3.head_object(Bucket=BUCKET, Key=f"classified/letter/{PATH}")["Metadata"]
    candidates = parse_candidates(meta)
    assert candidates[0].label == "letter" and len(candidates) == 3
    assert len({c.label for c in candidates}) == 3
    distances = [c.distance for c in candidates]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(float(meta["docclass-distance"]), abs=1e-4)
    assert float(meta["docclass-margin"]) == pytest.approx(distances[1] - distances[0], abs=2e-4)
    assert [c.example for c in candidates] == [f"gallery/{c.label}/{c.label}-1.png" for c in candidates]


def test_below_the_review_margin_a_document_goes_to_review_with_its_candidates(
    s3, handlers, three_classes, page, monkeypatch
):
    # given ReviewMargin above any margin two distinct pages can have
    monkeypatch.setenv("REVIEW_MARGIN", "2")
    _, classify = handlers
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", seed=7))
    # when it is classified
    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}
    # then it waits under review/<label>/ with the same path, and not under classified/
    assert keys(s3, "review/") == [f"review/letter/{PATH}"]
    assert keys(s3, "classified/") == [] and keys(s3, "inbox/") == []
    meta = s3.head_object(Bucket=BUCKET, Key=f"review/letter/{PATH}")["Metadata"]
    assert meta["docclass-label"] == "letter" and float(meta["docclass-margin"]) < 2


def test_at_or_above_the_review_margin_a_document_is_classified(
    s3, handlers, three_classes, page, monkeypatch
):
    monkeypatch.setenv("REVIEW_MARGIN", "0")
    _, classify = handlers
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", seed=7))

    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}

    assert keys(s3, "classified/") == [f"classified/letter/{PATH}"] and keys(s3, "review/") == []


def test_a_gallery_of_one_label_has_no_margin_and_nothing_to_review(s3, handlers, page, monkeypatch):
    monkeypatch.setenv("REVIEW_MARGIN", "2")
    gallery, classify = handlers
    add_gallery(s3, gallery, [("gallery/invoice/a.png", page("invoice", seed=1))])
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", seed=7))

    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}

    meta = s3.head_object(Bucket=BUCKET, Key=f"classified/invoice/{PATH}")["Metadata"]
    assert "docclass-margin" not in meta
    assert [c.label for c in parse_candidates(meta)] == ["invoice"]


def test_a_redelivery_after_a_crash_finishes_a_move_to_review(s3, handlers, three_classes, page):
    # given a document an earlier delivery copied to review/form/ before dying (the gallery, or
    # ReviewMargin, has changed since: classified again, it would go to classified/letter/)
    _, classify = handlers
    etag = s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", seed=7))["ETag"].strip('"')
    earlier = f"review/form/{PATH}"
    s3.copy_object(
        Bucket=BUCKET,
        Key=earlier,
        CopySource={"Bucket": BUCKET, "Key": INBOX_KEY},
        MetadataDirective="REPLACE",
        Metadata={"docclass-label": "form", "docclass-source-etag": etag},
    )
    # when SQS delivers the message again
    event = load_event("sqs-inbox-put.json")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert classify(event) == {"batchItemFailures": []}
    # then the move is finished where it started: one copy, no second one
    assert keys(s3, "review/") == [earlier]
    assert keys(s3, "classified/") == [] and keys(s3, "inbox/") == []


def test_an_unclassified_document_still_names_its_candidates(s3, handlers, three_classes, page, monkeypatch):
    monkeypatch.setenv("MAX_DISTANCE", "0.0001")
    _, classify = handlers
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter", seed=7))

    assert classify(load_event("sqs-inbox-put.json")) == {"batchItemFailures": []}

    meta = s3.head_object(Bucket=BUCKET, Key=f"unclassified/{PATH}")["Metadata"]
    assert parse_candidates(meta)[0].label == "letter"


def test_packet_sections_carry_their_own_candidates(s3, handlers, monkeypatch):
    # given a gallery of two born-digital layouts, and a packet of one of each
    monkeypatch.setenv("SPLIT_PACKETS", "true")
    monkeypatch.setenv("MAX_PAGES", "5")
    gallery, classify = handlers
    invoice = [["INVOICE 0001", "Bill to: Acme", "Total 118.00"] * 6]
    letter = [["Dear Sir or Madam,"] + ["We write to tell you about the matter."] * 20 + ["Yours faithfully"]]
    add_gallery(
        s3,
        gallery,
        [("gallery/invoice/i.pdf", text_page_pdf(invoice)), ("gallery/letter/l.pdf", text_page_pdf(letter))],
    )
    s3.put_object(Bucket=BUCKET, Key="inbox/packet.pdf", Body=text_page_pdf(invoice + letter))
    event = load_event("sqs-inbox-put.json")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = "inbox/packet.pdf"
    event["Records"][0]["body"] = json.dumps(body)
    # when the packet is classified
    assert classify(event) == {"batchItemFailures": []}
    # then each section names its own label first among its candidates
    sections = keys(s3, "classified/")
    assert len(sections) == 2
    firsts = {}
    for key in sections:
        meta = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
        candidates = parse_candidates(meta)
        firsts[meta["docclass-label"]] = candidates[0].label
        assert len(candidates) == 2 and "docclass-margin" in meta
    assert firsts == {"invoice": "invoice", "letter": "letter"}
