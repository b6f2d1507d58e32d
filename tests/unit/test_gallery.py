"""GalleryIndexer with fakes (no network): embedding a batch concurrently, decisions in batch order."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conftest import FakeLambdaContext, load_event
from docclass.document_embedder import Embedded, EmbeddedDocument, EmbeddedPage, content_hash
from docclass.errors import EmbeddingUnavailable, ObjectNotFound, UnreadableImage
from docclass.gallery import GalleryIndexer
from docclass.index import GalleryIndex
from docclass.index_store import CommitResult
from docclass.invocation import TimeBudget
from docclass.store import StoredObject

DIM = 8


class FakeStore:
    """Objects by key; get() raises ObjectNotFound for a missing one, as ObjectStore does."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = dict(objects)
        self.gets: list[str] = []

    def get(self, key: str, **_: Any) -> StoredObject:
        self.gets.append(key)
        if key not in self.objects:
            raise ObjectNotFound(key)
        body = self.objects[key]
        return StoredObject(key, "etag", len(body), body=body)


class FakeEmbedder:
    """bytes -> a vector derived from the bytes; `before` runs first in the calling thread."""

    model_id = "fake-model"

    def __init__(self, before: Callable[[bytes], None] = lambda data: None) -> None:
        self.before = before
        self.calls: list[bytes] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def embed(self, data: bytes) -> Embedded:
        with self._lock:
            self.calls.append(data)
            self.threads.add(threading.current_thread().name)
        self.before(data)
        if data == b"unreadable":
            raise UnreadableImage("not an image")
        vector = np.random.default_rng(len(data) + data[0]).standard_normal(DIM).astype(np.float32)
        return Embedded(vector / np.linalg.norm(vector), content_hash(data), False)

    def embed_document(
        self, data: bytes, *, max_pages: int = 1, before_page: object = None
    ) -> EmbeddedDocument:
        """Every document is one image here."""
        return EmbeddedDocument("image", 1, (EmbeddedPage(1, self.embed(data)),))


class FakeRepository:
    """Holds one index in memory; commit() applies the batch to it once."""

    def __init__(self) -> None:
        self.index = GalleryIndex(DIM, "fake-model")
        self.commits = 0

    def commit(
        self, apply: Callable[[GalleryIndex], bool], *, seconds_left: Callable[[], float | None] | None = None
    ) -> CommitResult:
        self.commits += 1
        self.seconds_left = None if seconds_left is None else seconds_left()
        changed = apply(self.index)
        return CommitResult(changed, 1, "snapshot" if changed else None, 0, len(self.index))


def sqs_batch(changes: list[tuple[str, str, str]]) -> dict[str, Any]:
    """An SQS event of one message per (event name, key, sequencer), shaped like events/."""
    template = load_event("sqs-gallery-put.json")["Records"][0]
    records = []
    for i, (name, key, sequencer) in enumerate(changes):
        body = json.loads(template["body"])
        body["Records"][0]["eventName"] = name
        body["Records"][0]["s3"]["object"] = {"key": key, "sequencer": sequencer}
        records.append(dict(template, messageId=f"m-{i}", body=json.dumps(body)))
    return {"Records": records}


def indexer(objects: dict[str, bytes], embedder: FakeEmbedder, concurrency: int) -> GalleryIndexer:
    return GalleryIndexer(
        FakeStore(objects),  # type: ignore[arg-type]
        embedder,  # type: ignore[arg-type]
        FakeRepository(),  # type: ignore[arg-type]
        embed_concurrency=concurrency,
    )


def indexed(gallery: GalleryIndexer) -> dict[str, str]:
    index = gallery.repository.index  # type: ignore[attr-defined]
    return {e.key: e.label for e in index.entries()}


def test_a_batch_is_embedded_concurrently_and_committed_once(lambda_context):
    # given four new gallery objects and an embedder that only returns once four calls are in flight
    keys = [f"gallery/letter/{i}.png" for i in range(4)]
    in_flight = threading.Barrier(4, timeout=10)
    embedder = FakeEmbedder(before=lambda data: in_flight.wait())
    gallery = indexer({k: f"page {k}".encode() for k in keys}, embedder, concurrency=4)
    # when their batch is handled
    response = gallery.handle_event(
        sqs_batch([("ObjectCreated:Put", k, f"{i + 1:02X}") for i, k in enumerate(keys)]), lambda_context
    )
    # then all four were embedded at once (one at a time, the barrier would have broken) in one commit
    assert response == {"batchItemFailures": []}
    assert len(embedder.threads) == 4 and all(t.startswith("gallery-embed") for t in embedder.threads)
    assert indexed(gallery) == dict.fromkeys(keys, "letter")
    assert gallery.repository.commits == 1  # type: ignore[attr-defined]


def test_concurrency_one_embeds_in_the_calling_thread(lambda_context):
    keys = [f"gallery/form/{i}.png" for i in range(3)]
    embedder = FakeEmbedder()
    gallery = indexer({k: k.encode() for k in keys}, embedder, concurrency=1)
    gallery.handle_event(sqs_batch([("ObjectCreated:Put", k, "01") for k in keys]), lambda_context)
    assert embedder.threads == {threading.current_thread().name}
    assert indexed(gallery) == dict.fromkeys(keys, "form")


def test_a_failing_embedding_fails_only_its_own_message(lambda_context):
    # given three objects, the middle one's model call failing transiently
    def before(data: bytes) -> None:
        if data == b"throttled":
            raise EmbeddingUnavailable("ThrottlingException")

    objects = {"gallery/a/1.png": b"one", "gallery/a/2.png": b"throttled", "gallery/a/3.png": b"three"}
    gallery = indexer(objects, FakeEmbedder(before), concurrency=4)
    # when the batch is handled
    response = gallery.handle_event(
        sqs_batch([("ObjectCreated:Put", k, "01") for k in objects]), lambda_context
    )
    # then only that message is retried; the others are indexed
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert indexed(gallery) == {"gallery/a/1.png": "a", "gallery/a/3.png": "a"}


def test_unreadable_and_vanished_objects_are_decided_as_in_line(lambda_context):
    # given an unreadable image, an object deleted since its event, and a good one
    objects = {"gallery/a/bad.png": b"unreadable", "gallery/a/good.png": b"good"}
    gallery = indexer(objects, FakeEmbedder(), concurrency=4)
    response = gallery.handle_event(
        sqs_batch(
            [
                ("ObjectCreated:Put", "gallery/a/bad.png", "01"),
                ("ObjectCreated:Put", "gallery/a/gone.png", "01"),
                ("ObjectCreated:Put", "gallery/a/good.png", "01"),
            ]
        ),
        lambda_context,
    )
    # then nothing is retried: the bad one is rejected, the gone one waits for its removal event
    assert response == {"batchItemFailures": []}
    assert indexed(gallery) == {"gallery/a/good.png": "a"}


def test_an_object_without_a_label_never_reaches_the_model(lambda_context):
    embedder = FakeEmbedder()
    objects = {"gallery/loose.png": b"loose", "gallery/memo/ok.png": b"ok"}
    gallery = indexer(objects, embedder, concurrency=4)
    gallery.handle_event(sqs_batch([("ObjectCreated:Put", k, "01") for k in objects]), lambda_context)
    assert embedder.calls == [b"ok"]
    assert indexed(gallery) == {"gallery/memo/ok.png": "memo"}


def test_a_put_and_a_later_delete_in_one_batch_leave_the_key_out(lambda_context):
    key = "gallery/memo/x.png"
    gallery = indexer({key: b"bytes"}, FakeEmbedder(), concurrency=4)
    gallery.handle_event(
        sqs_batch([("ObjectCreated:Put", key, "01"), ("ObjectRemoved:Delete", key, "02")]), lambda_context
    )
    assert indexed(gallery) == {}


def test_a_malformed_message_fails_alone(lambda_context):
    event = sqs_batch(
        [("ObjectCreated:Put", "gallery/a/1.png", "01"), ("ObjectCreated:Put", "gallery/a/2.png", "01")]
    )
    event["Records"][0]["body"] = "not json"
    gallery = indexer({"gallery/a/1.png": b"one", "gallery/a/2.png": b"two"}, FakeEmbedder(), concurrency=4)
    response = gallery.handle_event(event, lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert indexed(gallery) == {"gallery/a/2.png": "a"}


def test_worker_log_lines_name_their_own_object(lambda_context):
    # given an embedder that logs from inside the worker thread, and docclass's log stream captured
    import io
    import logging

    from aws_lambda_powertools import Logger

    log = Logger(child=True)
    (handler,) = logging.getLogger(log.name.split(".")[0]).handlers
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]

    def before(data: bytes) -> None:
        log.warning("embedding", extra={"bytes": data.decode()})

    objects = {f"gallery/a/{i}.png": f"b{i}".encode() for i in range(3)}
    gallery = indexer(objects, FakeEmbedder(before), concurrency=3)
    try:
        gallery.handle_event(sqs_batch([("ObjectCreated:Put", k, "01") for k in objects]), lambda_context)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"embedding"' in line]
    # then each line carries the key of the object that worker was embedding
    assert sorted((line["bytes"], line["object_key"]) for line in lines) == [
        (f"b{i}", f"gallery/a/{i}.png") for i in range(3)
    ]


def test_embed_concurrency_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        indexer({}, FakeEmbedder(), concurrency=0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 4), ("1", 1), ("8", 8)],
)
def test_gallery_embed_concurrency_is_read_from_the_environment(raw, expected):
    from docclass.config import Settings

    settings = Settings.from_env({"BUCKET_NAME": "b", "GALLERY_EMBED_CONCURRENCY": raw})
    assert settings.gallery_embed_concurrency == expected


@pytest.mark.parametrize("raw", ["0", "9", "four"])
def test_a_bad_gallery_embed_concurrency_fails_fast(raw):
    from docclass.config import Settings
    from docclass.errors import ConfigError

    with pytest.raises(ConfigError, match="GALLERY_EMBED_CONCURRENCY"):
        Settings.from_env({"BUCKET_NAME": "b", "GALLERY_EMBED_CONCURRENCY": raw})


def test_in_line_embedding_stops_when_time_is_short_and_only_what_was_reported_done_is_committed():
    # given: 40 s left, one image at a time, each model call taking 5 s; an embed may need 5 s and
    # 10 s are kept for the commit
    context = FakeLambdaContext(remaining_ms=40_000)
    started: list[int] = []

    def clocked(data: bytes) -> None:
        started.append(context.get_remaining_time_in_millis())
        context.spend(5_000)

    keys = [f"gallery/form/{i}.png" for i in range(9)]
    gallery = GalleryIndexer(
        FakeStore({k: k.encode() for k in keys}),  # type: ignore[arg-type]
        FakeEmbedder(clocked),  # type: ignore[arg-type]
        FakeRepository(),  # type: ignore[arg-type]
        embed_concurrency=1,
        budget=TimeBudget(embed_ms=5_000, reserve_ms=10_000),
    )
    # when
    response = gallery.handle_event(sqs_batch([("ObjectCreated:Put", k, "01") for k in keys]), context)
    # then: calls start only with 15 s left (at 40, 35, 30, 25, 20, 15 s); the rest go back unstarted
    assert started == [40_000, 35_000, 30_000, 25_000, 20_000, 15_000]
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m-{i}"} for i in range(6, 9)]}
    assert indexed(gallery) == dict.fromkeys(keys[:6], "form")
    assert gallery.repository.commits == 1  # type: ignore[attr-defined]
    assert context.get_remaining_time_in_millis() == 10_000  # the commit's reserve is intact
    assert gallery.repository.seconds_left == 10.0  # type: ignore[attr-defined]  # and the commit knows it


@pytest.fixture
def emitted_metrics():
    """The metrics the code added during the test (not yet flushed), by name."""
    from docclass.observability import metrics

    metrics.clear_metrics()
    yield metrics.metric_set
    metrics.clear_metrics()


def test_a_commit_reports_how_long_its_oldest_change_waited_and_the_index_size(
    lambda_context, emitted_metrics
):
    # given two gallery changes S3 made at 10:00:00 and 10:00:30 (the events' eventTime), handled
    # by an indexer whose clock says 10:02:00
    batch = sqs_batch(
        [("ObjectCreated:Put", "gallery/a/1.png", "01"), ("ObjectCreated:Put", "gallery/b/2.png", "02")]
    )
    for record, stamp in zip(
        batch["Records"], ["2026-11-24T10:00:00.000Z", "2026-11-24T10:00:30.000Z"], strict=True
    ):
        body = json.loads(record["body"])
        body["Records"][0]["eventTime"] = stamp
        record["body"] = json.dumps(body)
    gallery = GalleryIndexer(
        FakeStore({"gallery/a/1.png": b"one", "gallery/b/2.png": b"two"}),  # type: ignore[arg-type]
        FakeEmbedder(),  # type: ignore[arg-type]
        FakeRepository(),  # type: ignore[arg-type]
        clock=lambda: 1795514520.0,  # 2026-11-24T10:02:00Z
    )
    # when the batch is committed
    assert gallery.handle_event(batch, lambda_context) == {"batchItemFailures": []}
    # then IndexLag is the older change's wait (120 s, not 90 s) and IndexVectors the index's size
    assert emitted_metrics["IndexLag"]["Value"] == [120.0]
    assert emitted_metrics["IndexLag"]["Unit"] == "Seconds"
    assert emitted_metrics["IndexVectors"]["Value"] == [2.0]


def test_no_lag_is_reported_when_the_batch_commits_nothing(lambda_context, emitted_metrics):
    # given a change whose object is already gone (its removal event will follow): nothing to commit
    gallery = GalleryIndexer(
        FakeStore({}),  # type: ignore[arg-type]
        FakeEmbedder(),  # type: ignore[arg-type]
        FakeRepository(),  # type: ignore[arg-type]
        clock=lambda: 1795514520.0,
    )
    # when its batch is handled
    response = gallery.handle_event(
        sqs_batch([("ObjectCreated:Put", "gallery/a/1.png", "01")]), lambda_context
    )
    # then no commit happened, so no IndexLag or IndexVectors was emitted
    assert response == {"batchItemFailures": []}
    assert gallery.repository.commits == 0  # type: ignore[attr-defined]
    assert "IndexLag" not in emitted_metrics and "IndexVectors" not in emitted_metrics
