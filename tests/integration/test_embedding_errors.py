"""What the classify and gallery handlers do when the embedding model fails or refuses a document."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import BUCKET, load_event, load_handler
from docclass import services
from docclass.embeddings import l2_normalise
from docclass.errors import EmbeddingRejected, EmbeddingUnavailable

INBOX_KEY = "inbox/scans/March 2026+urgent.png"


class FailingEmbedder:
    """An Embedder that raises what it is told to, and counts its calls."""

    model_id = "fake-model"
    dimension = 1024

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def embed(self, image):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return l2_normalise(np.ones(self.dimension, np.float32))


@pytest.fixture
def embedder(service_env, monkeypatch):
    fake = FailingEmbedder()
    monkeypatch.setattr(services, "make_embedder", lambda settings: fake)
    return fake


def keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_throttling_leaves_the_message_to_sqs_and_the_document_in_inbox(s3, embedder, lambda_context, page):
    embedder.error = EmbeddingUnavailable("ThrottlingException: Too many requests")
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
    response = load_handler("classify").lambda_handler(load_event("sqs-inbox-put.json"), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "a4f2d9c1-7e3b-4c8a-9f1d-3b2e6a5c4d33"}]}
    assert keys(s3) == [INBOX_KEY]  # not failed/, not lost


def test_throttling_on_a_plain_s3_event_raises_for_lambda_to_retry(s3, embedder, lambda_context, page):
    embedder.error = EmbeddingUnavailable("ThrottlingException")
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
    with pytest.raises(EmbeddingUnavailable):
        load_handler("classify").lambda_handler(load_event("s3-inbox-put.json"), lambda_context)
    assert keys(s3) == [INBOX_KEY]


def test_validation_error_routes_to_failed_with_the_service_message(s3, embedder, lambda_context, page):
    embedder.error = EmbeddingRejected("Image exceeds max pixels allowed")
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
    response = load_handler("classify").lambda_handler(load_event("sqs-inbox-put.json"), lambda_context)
    assert response == {"batchItemFailures": []}
    assert keys(s3) == ["failed/scans/March 2026+urgent.png"]
    meta = s3.head_object(Bucket=BUCKET, Key="failed/scans/March 2026+urgent.png")["Metadata"]
    assert meta["docclass-error"] == "Image exceeds max pixels allowed"
    assert meta["docclass-model"] == "fake-model"


def test_throttled_gallery_message_is_retried_and_not_committed(s3, embedder, lambda_context, page):
    embedder.error = EmbeddingUnavailable("ThrottlingException")
    s3.put_object(Bucket=BUCKET, Key="gallery/invoice/invoice-001.png", Body=page("invoice"))
    response = load_handler("gallery").lambda_handler(load_event("sqs-gallery-put.json"), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "6c0c2a5e-0b5e-4a3f-9d3e-0f4f3b9e7a11"}]}
    assert not [k for k in keys(s3) if k.startswith("index/")]


def test_same_bytes_are_embedded_once(s3, embedder, lambda_context, page):
    data = page("letter")
    s3.put_object(Bucket=BUCKET, Key="gallery/invoice/invoice-001.png", Body=data)
    load_handler("gallery").lambda_handler(load_event("sqs-gallery-put.json"), lambda_context)
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=data)
    load_handler("classify").lambda_handler(load_event("sqs-inbox-put.json"), lambda_context)
    assert embedder.calls == 1
    meta = s3.head_object(Bucket=BUCKET, Key="classified/invoice/scans/March 2026+urgent.png")["Metadata"]
    assert float(meta["docclass-distance"]) == pytest.approx(0.0, abs=1e-4)
