"""What the classify and gallery handlers do when the embedding model fails or refuses a document."""

from __future__ import annotations

import json
import threading

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber

from conftest import BUCKET, FakeLambdaContext, load_event, load_handler
from docclass import services
from docclass.config import Settings
from docclass.embeddings import l2_normalise
from docclass.errors import EmbeddingRejected, EmbeddingUnavailable
from docclass.index_store import IndexRepository
from docclass.store import ObjectStore

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


# --- issue 9: configuration errors, throttling and the invocation's deadline, through the handlers ----

INVALID_MODEL_ID = "The provided model identifier is invalid."


def inbox_batch(keys: list[str]) -> dict:
    """An SQS batch of inbox ObjectCreated messages, ids m-0.., shaped like events/sqs-inbox-put.json."""
    template = load_event("sqs-inbox-put.json")["Records"][0]
    records = []
    for i, key in enumerate(keys):
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["object"]["key"] = key
        records.append(dict(template, messageId=f"m-{i}", body=json.dumps(body)))
    return {"Records": records}


def gallery_batch(keys: list[str]) -> dict:
    template = load_event("sqs-gallery-put.json")["Records"][0]
    records = []
    for i, key in enumerate(keys):
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["object"] = {"key": key, "sequencer": f"{i + 1:04X}"}
        records.append(dict(template, messageId=f"g-{i}", body=json.dumps(body)))
    return {"Records": records}


def failed_ids(response: dict) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


@pytest.fixture
def titan_errors(service_env, monkeypatch, tmp_path):
    """The functions' real Titan adapter on a bedrock-runtime client answered by a Stubber.

    Returns (stubber, calls): queue Bedrock's answers on the stubber; `calls` counts InvokeModel.
    """
    from docclass.bedrock import BedrockEmbedder

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    calls: list[str] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.InvokeModel",
        lambda params, **_: calls.append(params["modelId"]),
    )
    monkeypatch.setattr(services, "make_embedder", lambda settings: BedrockEmbedder(bedrock_client=client))
    with Stubber(client) as stubber:
        yield stubber, calls


def test_an_invalid_model_id_sends_the_document_back_to_the_queue_not_to_failed(s3, titan_errors, page):
    # given: EmbeddingModelId has a typo; Bedrock answers ValidationException, as for a bad image
    stubber, calls = titan_errors
    stubber.add_client_error("invoke_model", "ValidationException", INVALID_MODEL_ID, 400)
    s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
    # when
    response = load_handler("classify").lambda_handler(load_event("sqs-inbox-put.json"), FakeLambdaContext())
    # then: retried (then dead-lettered), the document untouched in inbox/, never in failed/
    assert response == {"batchItemFailures": [{"itemIdentifier": "a4f2d9c1-7e3b-4c8a-9f1d-3b2e6a5c4d33"}]}
    assert keys(s3) == [INBOX_KEY]
    assert len(calls) == 1


def test_once_the_model_id_is_known_invalid_the_rest_of_the_batch_goes_back_without_calling_it(
    s3, titan_errors, page
):
    # given: three documents and a model id Bedrock does not know in this region
    stubber, calls = titan_errors
    stubber.add_client_error("invoke_model", "ValidationException", INVALID_MODEL_ID, 400)
    doc_keys = [f"inbox/batch/{i}.png" for i in range(3)]
    for i, key in enumerate(doc_keys):
        s3.put_object(Bucket=BUCKET, Key=key, Body=page("form", i))
    # when
    response = load_handler("classify").lambda_handler(inbox_batch(doc_keys), FakeLambdaContext())
    # then: one model call, all three back to the queue, none in failed/
    assert len(calls) == 1
    assert failed_ids(response) == ["m-0", "m-1", "m-2"]
    assert keys(s3) == sorted(doc_keys)


def test_a_misconfiguration_is_logged_once_per_container_with_the_fix_and_counted_every_time(
    s3, titan_errors, page, monkeypatch
):
    from docclass import invocation, observability

    # given: a fresh container, a model that is not enabled for the account, and spies on the one
    # log line and on the metric
    monkeypatch.setattr(observability, "_LOGGED_ONCE", set())
    logged, counted = [], []
    original_error, original_metric = observability.logger.error, invocation.metrics.add_metric
    monkeypatch.setattr(
        observability.logger,
        "error",
        lambda msg, **kw: (logged.append(kw["extra"]), original_error(msg, **kw)),
    )
    monkeypatch.setattr(
        invocation.metrics,
        "add_metric",
        lambda name, unit, value: (counted.append(name), original_metric(name=name, unit=unit, value=value)),
    )
    stubber, calls = titan_errors
    handler = load_handler("classify")
    # when: three warm invocations
    for _ in range(3):
        stubber.add_client_error(
            "invoke_model",
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            403,
        )
        s3.put_object(Bucket=BUCKET, Key=INBOX_KEY, Body=page("letter"))
        handler.lambda_handler(load_event("sqs-inbox-put.json"), FakeLambdaContext())
    # then
    assert len(logged) == 1
    assert "Bedrock console" in logged[0]["fix"]
    assert counted.count("EmbeddingMisconfigured") == 3
    assert len(calls) == 3  # one per invocation: each delivery tries again, in case it was fixed
    assert keys(s3) == [INBOX_KEY]


def test_after_throttling_the_rest_of_the_batch_goes_back_without_calling_the_model(s3, titan_errors, page):
    # given: five documents, and Bedrock still throttling after botocore's retries
    stubber, calls = titan_errors
    stubber.add_client_error("invoke_model", "ThrottlingException", "Too many requests, please wait.", 429)
    doc_keys = [f"inbox/batch/{i}.png" for i in range(5)]
    for i, key in enumerate(doc_keys):
        s3.put_object(Bucket=BUCKET, Key=key, Body=page("letter", i))
    # when
    response = load_handler("classify").lambda_handler(inbox_batch(doc_keys), FakeLambdaContext())
    # then: one model call; every message back in the queue; every document still in inbox/
    assert len(calls) == 1
    assert failed_ids(response) == [f"m-{i}" for i in range(5)]
    assert keys(s3) == sorted(doc_keys)


class ClockedEmbedder(FailingEmbedder):
    """Each model call lets `ms` of the invocation's time pass, and records the time left when it started."""

    def __init__(self, context: FakeLambdaContext, ms: int, error: Exception | None = None) -> None:
        super().__init__(error)
        self.context = context
        self.ms = ms
        self.started_at: list[int] = []
        self._lock = threading.Lock()

    def embed(self, image):
        with self._lock:
            self.started_at.append(self.context.get_remaining_time_in_millis())
        self.context.spend(self.ms)
        return super().embed(image)


def test_classify_gives_back_the_documents_it_cannot_finish_and_returns_before_its_deadline(
    s3, service_env, monkeypatch, page
):
    # given: 60 s (ClassifyFunction's Timeout), eight documents, each taking 10 s of model time
    context = FakeLambdaContext(remaining_ms=60_000)
    fake = ClockedEmbedder(context, 10_000)
    monkeypatch.setattr(services, "make_embedder", lambda settings: fake)
    doc_keys = [f"inbox/batch/{i}.png" for i in range(8)]
    for i, key in enumerate(doc_keys):
        s3.put_object(Bucket=BUCKET, Key=key, Body=page("invoice", i))
    # when
    response = load_handler("classify").lambda_handler(inbox_batch(doc_keys), context)
    # then: the invocation returned with time left (Lambda would otherwise drop its response)
    assert context.get_remaining_time_in_millis() > 0
    # and no document is lost or reported done that was not: the failed ones are still in inbox/,
    # the others were routed
    failed = failed_ids(response)
    assert failed  # some had to wait for the next delivery
    still_in_inbox = {doc_keys[int(i.split("-")[1])] for i in failed}
    assert {k for k in keys(s3) if k.startswith("inbox/")} == still_in_inbox
    routed = [k for k in keys(s3) if k.startswith(("classified/", "unclassified/"))]
    assert len(routed) + len(still_in_inbox) == len(doc_keys)
    # and every document started had room for its worst case and the end of the invocation
    from docclass.invocation import classify_budget

    budget = classify_budget(Settings.from_env())
    assert all(left >= budget.message_ms + budget.reserve_ms for left in fake.started_at)
    assert context.get_remaining_time_in_millis() >= budget.reserve_ms


def test_gallery_stops_embedding_when_time_runs_short_and_commits_only_what_it_reported_done(
    s3, service_env, monkeypatch, page
):

    # given: 100 s left, 24 gallery images embedded 4 at a time, each call taking 3 s of model time
    monkeypatch.setenv("GALLERY_EMBED_CONCURRENCY", "4")
    context = FakeLambdaContext(remaining_ms=100_000)
    fake = ClockedEmbedder(context, 3_000)
    monkeypatch.setattr(services, "make_embedder", lambda settings: fake)
    gallery_keys = [f"gallery/{('letter', 'invoice')[i % 2]}/{i}.png" for i in range(24)]
    for i, key in enumerate(gallery_keys):
        s3.put_object(Bucket=BUCKET, Key=key, Body=page(("letter", "invoice")[i % 2], i))
    # when
    response = load_handler("gallery").lambda_handler(gallery_batch(gallery_keys), context)
    # then: the invocation returned in time, having stopped calling the model
    assert context.get_remaining_time_in_millis() > 0
    assert len(fake.started_at) < len(gallery_keys)
    # and the committed index holds exactly the messages reported done
    failed = {gallery_keys[int(i.split("-")[1])] for i in failed_ids(response)}
    assert failed  # some had to wait for the next delivery
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), fake.model_id, fake.dimension).load()
    assert {entry.key for entry in index.entries()} == set(gallery_keys) - failed
    # and no model call started without room for itself and the commit. The fake clock adds up the
    # four workers' calls one after the other (real calls overlap), so a worker that passed the
    # check may see up to three other calls counted before its own begins.
    from docclass.invocation import gallery_budget

    budget = gallery_budget(Settings.from_env())
    others_in_flight = 3 * 3_000
    assert min(fake.started_at) >= budget.embed_ms + budget.reserve_ms - others_in_flight


def test_a_throttled_gallery_batch_stops_its_workers_and_commits_nothing(s3, titan_errors, monkeypatch, page):
    # given: 16 gallery images, 4 workers, and Titan throttling every call after botocore's retries
    monkeypatch.setenv("GALLERY_EMBED_CONCURRENCY", "4")
    stubber, calls = titan_errors
    for _ in range(16):
        stubber.add_client_error(
            "invoke_model", "ThrottlingException", "Too many requests, please wait.", 429
        )
    gallery_keys = [f"gallery/letter/{i}.png" for i in range(16)]
    for i, key in enumerate(gallery_keys):
        s3.put_object(Bucket=BUCKET, Key=key, Body=page("letter", i))
    # when
    response = load_handler("gallery").lambda_handler(gallery_batch(gallery_keys), FakeLambdaContext())
    # then: at most the calls already in flight when the first throttle came back
    assert 1 <= len(calls) <= 4
    assert failed_ids(response) == [f"g-{i}" for i in range(16)]
    assert not [k for k in keys(s3) if k.startswith("index/")]
