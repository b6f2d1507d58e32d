"""`docclass reindex`: bring the index of the stack's (model, dimension) back to what gallery/ holds,
with the work done by GalleryFunction.

The index is derived state: every vector in it comes from an object under gallery/. It drifts from
the gallery when it cannot be read any more (a corrupt snapshot, a pointer docclass did not write),
or when S3 events were lost or dead-lettered and expired. Rebuilding it on the operator's machine
would embed the whole gallery there; instead this command compares, and lets the deployed function
do the embedding, in parallel on Lambda, with its cache and its conditional commits:

1. Read the index through its pointer. If it cannot be used, publish an empty one in its place
   (IndexRepository.start_again, conditional on the very pointer found unusable).
2. List gallery/ and compare keys: a gallery object the index lacks is *missing*; an entry whose
   object is gone is *stale*.
3. Send GalleryQueue one S3-shaped notification per key, as S3 would write it: an ObjectCreated
   for a missing object, an ObjectRemoved for a stale entry. Each carries the newest sequencer the
   index knows for its key (a stale entry's own; a missing object's tombstone, if the key was
   deleted once, else none). The index applies an event whose sequencer is not older than what it
   knows, so the notification is applied, and any S3 event of the key that is still on its way
   (newer, with a greater sequencer) still wins. That is safe because the function does not trust
   the notification's view of the object: it reads the object when it handles it, and does
   nothing if it is gone by then.
   GalleryFunction handles them as S3's own events: bytes embedded before cost no model call
   (embeddings/ cache), and an image it cannot index is logged and counted (GalleryRejected).
4. Wait for the queue to drain, showing the vectors the index holds (its pointer's count: one
   small read), then compare again and report what is still missing.

Running it again is harmless: a key already indexed is not sent, and a notification handled twice
changes nothing the second time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from docclass.config import GALLERY_PREFIX
from docclass.errors import IndexUnusable
from docclass.index_store import IndexRepository
from docclass.routing import is_folder_marker
from docclass.store import ObjectStore
from docclass_local.status import QUEUE_COUNTS

PAGE_MARK = "#page="  # gallery page ids: <key>#page=N (GalleryPages > 1)
SQS_BATCH = 10  # SendMessageBatch takes at most 10 messages


@dataclass
class ReindexPlan:
    """What the index of (model_id, dimension) lacks and holds in excess against gallery/."""

    model_id: str
    dimension: int
    state: str  # "usable", "absent" (no index written yet) or "unusable"
    reason: str = ""  # why it is unusable
    gallery: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (ETag, size)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (key, sequencer)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (key, sequencer)

    @property
    def work(self) -> int:
        """Notifications to send."""
        return len(self.missing) + len(self.stale)

    def describe(self) -> str:
        """What the command will do, in a few lines."""
        lines = [
            f"index of {self.model_id} at {self.dimension} dimensions: "
            + {"usable": "readable", "absent": "not written yet", "unusable": f"UNUSABLE ({self.reason})"}[
                self.state
            ],
            f"gallery/ holds {len(self.gallery)} examples; "
            f"{len(self.missing)} missing from the index, {len(self.stale)} indexed but gone from gallery/",
        ]
        if self.state == "unusable":
            lines.append(
                "will publish an empty index in its place, then send every example through GalleryFunction"
            )
        elif self.work:
            lines.append(
                f"will send {self.work} notifications to GalleryFunction's queue "
                "(bytes this model embedded before at this dimension cost no model call: embeddings/ cache)"
            )
        else:
            lines.append("nothing to do: the index matches gallery/")
        return "\n".join(lines)


def list_gallery(s3: Any, bucket: str) -> dict[str, tuple[str, int]]:
    """Every example under gallery/ (folder markers aside): key -> (ETag, size)."""
    found: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=GALLERY_PREFIX):
        for item in page.get("Contents", []):
            if not is_folder_marker(item["Key"]):
                found[item["Key"]] = (item["ETag"].strip('"'), int(item["Size"]))
    return found


def plan_reindex(s3: Any, bucket: str, model_id: str, dimension: int) -> ReindexPlan:
    """Compare the index of (model_id, dimension) with gallery/ now."""
    repository = IndexRepository(ObjectStore(bucket, s3), model_id, dimension)
    gallery = list_gallery(s3, bucket)
    plan = ReindexPlan(model_id, dimension, "usable", gallery=gallery)
    try:
        index, pointer = repository.load()
    except IndexUnusable as exc:
        plan.state, plan.reason = "unusable", str(exc).split(". To start again")[0]
        plan.missing = [(key, "") for key in sorted(gallery)]
        return plan
    if pointer is None:
        plan.state = "absent"
    indexed: dict[str, str] = {}
    for entry in index.entries():
        base = entry.key.split(PAGE_MARK, 1)[0]
        if entry.key == base or base not in indexed:
            indexed[base] = entry.sequencer
    plan.missing = sorted((key, index.newest_sequencer(key)) for key in gallery if key not in indexed)
    plan.stale = sorted((key, sequencer) for key, sequencer in indexed.items() if key not in gallery)
    return plan


def notification(
    bucket: str, key: str, *, created: bool, etag: str = "", size: int = 0, sequencer: str = ""
) -> str:
    """One S3 event notification, as S3 writes it to the queue (the fields docclass reads)."""
    obj: dict[str, Any] = {"key": quote_plus(key), "sequencer": sequencer}
    if created:
        obj.update(eTag=etag, size=size)
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Copy" if created else "ObjectRemoved:Delete",
        "userIdentity": {"principalId": "docclass-reindex"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "docclass-reindex",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }
    return json.dumps({"Records": [record]})


def notifications(plan: ReindexPlan, bucket: str) -> list[str]:
    """The messages that bring the index to gallery/: creations first, then removals."""
    bodies = [
        notification(
            bucket,
            key,
            created=True,
            etag=plan.gallery[key][0],
            size=plan.gallery[key][1],
            sequencer=sequencer,
        )
        for key, sequencer in plan.missing
    ]
    bodies += [notification(bucket, key, created=False, sequencer=sequencer) for key, sequencer in plan.stale]
    return bodies


def send(sqs: Any, queue_url: str, bodies: Iterable[str], advance: Callable[[int], None]) -> None:
    """Send the messages ten at a time; a message SQS refuses is an error (nothing is skipped)."""
    batch: list[str] = []

    def flush() -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            first = response["Failed"][0]
            raise RuntimeError(
                f"SQS refused {len(response['Failed'])} messages: {first.get('Message', first)}"
            )
        advance(len(batch))
        batch.clear()

    for body in bodies:
        batch.append(body)
        if len(batch) == SQS_BATCH:
            flush()
    if batch:
        flush()


def queued(sqs: Any, queue_url: str) -> int:
    """Messages in the queue: waiting, in flight and delayed."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in QUEUE_COUNTS)


def indexed_vectors(s3: Any, bucket: str, model_id: str, dimension: int) -> int:
    """The vectors the index holds, from its pointer (no snapshot download); 0 if unreadable."""
    try:
        pointer = IndexRepository(ObjectStore(bucket, s3), model_id, dimension).read_pointer()
    except IndexUnusable:
        return 0
    return 0 if pointer is None else pointer.vectors


def wait_until_drained(
    sqs: Any,
    queue_url: str,
    *,
    timeout: float,
    poll: float,
    on_poll: Callable[[int], None] = lambda left: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True once the queue has been empty at two polls in a row (SQS counts are approximate);
    False at the timeout."""
    deadline = clock() + timeout
    empty_polls = 0
    while clock() < deadline:
        left = queued(sqs, queue_url)
        on_poll(left)
        empty_polls = empty_polls + 1 if left == 0 else 0
        if empty_polls >= 2:
            return True
        sleep(poll)
    return False
