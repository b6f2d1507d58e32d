"""Persisting the index on S3: immutable snapshots, one pointer, and an optimistic pointer swap.

A writer loads the snapshot the pointer names, applies its changes, writes a new snapshot and swaps
the pointer with a conditional PUT (IfMatch on the pointer's ETag, IfNoneMatch='*' for the first
one). On 412 it reads the pointer again: if it names the writer's own snapshot, S3 had applied the
swap and lost the answer (botocore's retry of the same PUT then fails its own condition); otherwise
another writer won, and this one reloads and re-applies. Concurrent writers never lose an update.

Which snapshots are deleted, and when: only after a swap is confirmed, the snapshot the old pointer
named (it can never be named again: pointers only move to new, uniquely named snapshots), and the
writer's own snapshot once the pointer is known to name another. Snapshots of writers that died
between their two PUTs are swept once older than SWEEP_GRACE_SECONDS. In a versioned bucket a
snapshot is deleted by its version id, so no 400 MB noncurrent version is left behind.
Each (model, dimension) pair has its own pointer: changing the model starts a separate index.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from docclass.config import INDEX_PREFIX
from docclass.embeddings import model_slug
from docclass.errors import (
    IndexConflict,
    IndexUnusable,
    MalformedPointer,
    ObjectNotFound,
    PreconditionFailed,
    StorageError,
)
from docclass.index import GalleryIndex
from docclass.store import ObjectStore

logger = Logger(child=True)

# A snapshot no pointer names is an orphan once older than this: its writer wrote it at most one
# GalleryFunction Timeout (300 s) before its pointer swap, so after an hour no swap can name it.
SWEEP_GRACE_SECONDS = 3600
# How long a deletion is remembered (tombstone). It orders a late create event of a deleted key;
# such an event can come back as long as its SQS message lives: a standard queue keeps a message
# at most 14 days counted from its first enqueue, dead-letter queue included
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html),
# and a redrive of the dead letters starts the count again: 30 days cover one redrive
# (14 + 14) with two days to spare. A create event older than that finds the object gone (404,
# nothing indexed) unless the key was uploaded again, and then the newer upload's row wins by sequencer.
TOMBSTONE_RETENTION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Pointer:
    """The current snapshot's key, as read with the pointer object's ETag."""

    snapshot: str
    etag: str
    vectors: int
    labels: dict[str, int]
    snapshot_version: str | None = None


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: whether the index changed, how many tries it took, what it wrote."""

    changed: bool
    attempts: int
    snapshot: str | None
    bytes_written: int
    vectors: int


class IndexRepository:
    """Loads and commits the gallery index of one (model, dimension) in one bucket."""

    def __init__(
        self,
        store: ObjectStore,
        model_id: str,
        dimension: int,
        *,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.model_id = model_id
        self.dimension = dimension
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self.root = f"{INDEX_PREFIX}{model_slug(model_id)}/{dimension}/"
        self.pointer_key = f"{self.root}CURRENT.json"

    def empty(self) -> GalleryIndex:
        """A new, empty index for this model and dimension."""
        return GalleryIndex(self.dimension, self.model_id)

    def read_pointer(self, if_none_match: str | None = None) -> Pointer | None:
        """The pointer; None if there is none yet, or if it still has ETag if_none_match."""
        try:
            obj = self.store.get(self.pointer_key, if_none_match=if_none_match)
        except ObjectNotFound:
            return None
        if obj is None or obj.body is None:
            return None
        try:
            doc = json.loads(obj.body)
            snapshot = doc["snapshot"]
            if not isinstance(snapshot, str) or not snapshot.startswith(self.root):
                raise ValueError(f"it names {snapshot!r}, not a snapshot under {self.root}")
            return Pointer(
                snapshot,
                obj.etag,
                int(doc.get("vectors", 0)),
                {str(k): int(v) for k, v in dict(doc.get("labels", {})).items()},
                doc.get("snapshot_version") or None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedPointer(
                f"index pointer {self.pointer_key} is not one docclass wrote ({exc}). {self.rebuild_hint}"
            ) from exc

    @property
    def rebuild_hint(self) -> str:
        """What an operator does about an index that cannot be used (it is derived state)."""
        return (
            "To start again, run `docclass reindex` (it puts an empty index in its place and has "
            "GalleryFunction refill it from gallery/, with no model call for examples embedded "
            f"before), or delete {self.pointer_key}: the next gallery change starts a new index."
        )

    def load(self) -> tuple[GalleryIndex, Pointer | None]:
        """The current index and the pointer it was found through (None: no index written yet)."""
        for attempt in range(1, self.max_attempts + 1):
            pointer = self.read_pointer()
            if pointer is None:
                return self.empty(), None
            try:
                return self._read_snapshot(pointer), pointer
            except ObjectNotFound:
                # A writer swapped the pointer and removed the old snapshot between our two reads.
                # Under a burst of writers this can happen several times in a row (seen with six
                # writer threads in test_index_store.py): back off as a losing writer does.
                self._sleep(random.uniform(0, min(2.0, 0.01 * 2**attempt)))  # noqa: S311 - jitter, not crypto
        raise StorageError(f"index snapshot named by {self.pointer_key} keeps disappearing")

    def changed_since(self, pointer: Pointer | None) -> bool:
        """Whether the pointer differs from this one (None: there was none): a conditional GET, 304
        while it is unchanged, so a check costs one small request and no download."""
        if pointer is None:
            return self.read_pointer() is not None
        try:
            return self.store.get(self.pointer_key, if_none_match=pointer.etag) is not None
        except ObjectNotFound:
            return True  # the pointer was deleted: the index starts again

    def _read_snapshot(self, pointer: Pointer) -> GalleryIndex:
        obj = self.store.get(pointer.snapshot)
        assert obj is not None and obj.body is not None
        try:
            return GalleryIndex.from_bytes(obj.body)
        except IndexUnusable as exc:
            raise type(exc)(f"index snapshot {pointer.snapshot}: {exc}. {self.rebuild_hint}") from exc

    def commit(
        self, apply: Callable[[GalleryIndex], bool], *, seconds_left: Callable[[], float | None] | None = None
    ) -> CommitResult:
        """Apply a change to the latest index and publish it; re-applied from scratch on a lost race.

        `apply` mutates the index it is given and says whether anything changed; it must be safe
        to call again on a fresh copy (it is, for idempotent upserts/removals ordered by sequencer).
        `seconds_left` (the invocation's remaining time, None if unknown): a lost race is tried
        again only while twice the last attempt's time is left, else IndexConflict is raised at
        once, so the batch comes back from the queue instead of the invocation timing out.
        """
        for attempt in range(1, self.max_attempts + 1):
            started = time.monotonic()
            index, pointer = self.load()
            if not apply(index):
                return CommitResult(False, attempt, pointer.snapshot if pointer else None, 0, len(index))
            pruned = index.prune_tombstones(self._clock() - TOMBSTONE_RETENTION_SECONDS)
            if pruned:
                logger.info("forgot old deletions", extra={"tombstones_pruned": pruned})
            body = index.to_bytes()
            snapshot, version, pointer_body = self._write_snapshot(index, body)
            vectors, written = len(index), len(body) + len(pointer_body)
            # Let go of this attempt's index and bytes before anything else is read: with a large
            # gallery, holding them through the next GET would add two more copies to the peak.
            del index, body
            if not self._swap(pointer, pointer_body, snapshot):
                logger.info("index pointer moved under us; re-applying", extra={"attempt": attempt})
                # The pointer names another snapshot now and can never come back to ours.
                self._discard(snapshot, version)
                left = seconds_left() if seconds_left is not None else None
                if left is not None and left < 2 * (time.monotonic() - started):
                    raise IndexConflict(
                        f"lost the race for {self.pointer_key} with {left:.1f} s left, too little for another "
                        "attempt; the batch is given back to the queue"
                    )
                self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter, not crypto
                continue
            if pointer is not None:
                self._discard(pointer.snapshot, pointer.snapshot_version)
            self._sweep(keep=snapshot)
            return CommitResult(True, attempt, snapshot, written, vectors)
        raise IndexConflict(f"gave up after {self.max_attempts} attempts to swap {self.pointer_key}")

    def _write_snapshot(self, index: GalleryIndex, body: bytes) -> tuple[str, str | None, bytes]:
        """Write a new snapshot of index (its bytes: body); its key, version and pointer document."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        snapshot = f"{self.root}snapshots/{stamp}-{uuid.uuid4().hex[:12]}.idx"
        version = self.store.put(snapshot, body).version_id
        doc = {
            "snapshot": snapshot,
            "snapshot_version": version,
            "model_id": self.model_id,
            "dimension": self.dimension,
            "vectors": len(index),
            "labels": index.labels(),
            "updated": stamp,
        }
        return snapshot, version, json.dumps(doc, sort_keys=True).encode()

    def start_again(self) -> str:
        """Publish an empty index in place of the current one, which cannot be used (a pointer
        docclass did not write, a corrupt or missing snapshot); returns the new snapshot's key.

        `docclass reindex` does this before it sends the gallery through GalleryFunction again.
        Conditional on the pointer being the one found unusable (If-Match on its ETag): a writer
        that replaced it meanwhile wins, and IndexConflict says so. The old snapshot is left to
        the sweep of orphans.
        """
        try:
            current = self.store.get(self.pointer_key)
        except ObjectNotFound:
            current = None
        etag = None if current is None else current.etag
        index = self.empty()
        snapshot, version, pointer_body = self._write_snapshot(index, index.to_bytes())
        try:
            swapped = self._swap(None if etag is None else Pointer("", etag, 0, {}), pointer_body, snapshot)
        except IndexUnusable:
            swapped = False  # still a pointer we cannot read: not ours
        if not swapped:
            self._discard(snapshot, version)
            raise IndexConflict(f"{self.pointer_key} changed while it was being replaced; run reindex again")
        logger.warning("index started again, empty", extra={"snapshot": snapshot})
        return snapshot

    def _swap(self, pointer: Pointer | None, body: bytes, snapshot: str) -> bool:
        """Point at snapshot if the pointer is still the one we loaded; True when it now names it."""
        try:
            if pointer is None:
                self.store.put(self.pointer_key, body, content_type="application/json", if_none_match="*")
            else:
                self.store.put(self.pointer_key, body, content_type="application/json", if_match=pointer.etag)
            return True
        except PreconditionFailed:
            # Either another writer swapped first, or S3 applied our PUT, its answer was lost (a 500
            # or a dropped connection) and botocore's retry of the same PUT found the pointer
            # changed, by us. "If a PUT request returns InternalError, a subsequent GET might
            # retrieve the old value or the updated value":
            # https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html
            # Only reading the pointer tells the two apart; S3 reads are strongly consistent.
            current = self.read_pointer()
            if current is not None and current.snapshot == snapshot:
                logger.info("index pointer swap was applied; its answer had been lost")
                return True
            return False

    def _discard(self, key: str, version_id: str | None = None) -> None:
        try:
            self.store.delete(key, version_id=version_id)
        except StorageError as exc:  # an orphan snapshot costs storage, never correctness; swept later
            logger.warning("could not delete index snapshot", extra={"snapshot": key, "error": str(exc)})

    def _sweep(self, keep: str) -> None:
        """Delete snapshots that no pointer names and that are too old for any writer to swap in."""
        cutoff = self._clock() - SWEEP_GRACE_SECONDS
        try:
            orphans = [
                item.key
                for item in self.store.list_objects(f"{self.root}snapshots/")
                if item.key != keep and item.last_modified.timestamp() < cutoff
            ]
        except StorageError as exc:
            logger.warning("could not list index snapshots", extra={"error": str(exc)})
            return
        for key in orphans:
            logger.info("deleting an orphan index snapshot", extra={"snapshot": key})
            self._discard(key)
