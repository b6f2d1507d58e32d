"""Persisting the index on S3: immutable snapshots, one pointer, and an optimistic pointer swap.

A writer loads the snapshot the pointer names, applies its changes, writes a new snapshot and swaps
the pointer with a conditional PUT (IfMatch on the pointer's ETag, IfNoneMatch='*' for the first
one). On 412 it reloads and re-applies, so concurrent writers never lose an update.
Each (model, dimension) pair has its own pointer: changing the model starts a separate index.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from aws_lambda_powertools import Logger

from docclass.config import EMBEDDINGS_PREFIX, INDEX_PREFIX
from docclass.errors import IndexConflict, ObjectNotFound, PreconditionFailed, StorageError
from docclass.index import GalleryIndex
from docclass.store import ObjectStore

logger = Logger(child=True)

VECTOR_DTYPE = "<f4"


def _model_slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)


@dataclass(frozen=True)
class Pointer:
    """The current snapshot's key, as read with the pointer object's ETag."""

    snapshot: str
    etag: str
    vectors: int
    labels: dict[str, int]


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
    ) -> None:
        self.store = store
        self.model_id = model_id
        self.dimension = dimension
        self.max_attempts = max_attempts
        self._sleep = sleep
        self.root = f"{INDEX_PREFIX}{_model_slug(model_id)}/{dimension}/"
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
        doc = json.loads(obj.body)
        return Pointer(doc["snapshot"], obj.etag, int(doc.get("vectors", 0)), dict(doc.get("labels", {})))

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

    def load_if_changed(self, etag: str | None) -> tuple[GalleryIndex, Pointer | None] | None:
        """Like load(), but None when the pointer still has ETag etag (a cheap conditional GET)."""
        if etag is not None:
            try:
                if self.store.get(self.pointer_key, if_none_match=etag) is None:
                    return None
            except ObjectNotFound:
                return self.empty(), None
        return self.load()

    def _read_snapshot(self, pointer: Pointer) -> GalleryIndex:
        obj = self.store.get(pointer.snapshot)
        assert obj is not None and obj.body is not None
        return GalleryIndex.from_bytes(obj.body)

    def commit(self, apply: Callable[[GalleryIndex], bool]) -> CommitResult:
        """Apply a change to the latest index and publish it; re-applied from scratch on a lost race.

        `apply` mutates the index it is given and says whether anything changed; it must be safe
        to call again on a fresh copy (it is, for idempotent upserts/removals ordered by sequencer).
        """
        for attempt in range(1, self.max_attempts + 1):
            index, pointer = self.load()
            if not apply(index):
                return CommitResult(False, attempt, pointer.snapshot if pointer else None, 0, len(index))
            body = index.to_bytes()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            snapshot = f"{self.root}snapshots/{stamp}-{uuid.uuid4().hex[:12]}.idx"
            self.store.put(snapshot, body)
            doc = {
                "snapshot": snapshot,
                "model_id": self.model_id,
                "dimension": self.dimension,
                "vectors": len(index),
                "labels": index.labels(),
                "updated": stamp,
            }
            pointer_body = json.dumps(doc, sort_keys=True).encode()
            try:
                if pointer is None:
                    self.store.put(
                        self.pointer_key, pointer_body, content_type="application/json", if_none_match="*"
                    )
                else:
                    self.store.put(
                        self.pointer_key, pointer_body, content_type="application/json", if_match=pointer.etag
                    )
            except PreconditionFailed:
                logger.info("index pointer moved under us; re-applying", extra={"attempt": attempt})
                self._discard(snapshot)
                # Let go of this attempt's index and bytes before reloading: with a large gallery,
                # holding them through the next GET would add two more copies to the peak.
                del index, body
                self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter, not crypto
                continue
            if pointer is not None:
                self._discard(pointer.snapshot)
            return CommitResult(True, attempt, snapshot, len(body) + len(pointer_body), len(index))
        raise IndexConflict(f"gave up after {self.max_attempts} attempts to swap {self.pointer_key}")

    def _discard(self, key: str) -> None:
        try:
            self.store.delete(key)
        except StorageError as exc:  # an orphan snapshot costs storage, never correctness
            logger.warning("could not delete index snapshot", extra={"snapshot": key, "error": str(exc)})


class EmbeddingCache:
    """Vectors by (model, dimension, content hash) under embeddings/: the same bytes are paid for once."""

    def __init__(self, store: ObjectStore, model_id: str, dimension: int) -> None:
        self.store = store
        self.dimension = dimension
        self.prefix = f"{EMBEDDINGS_PREFIX}{_model_slug(model_id)}/{dimension}/"

    def key(self, content_hash: str) -> str:
        """The cache key of a content hash."""
        return f"{self.prefix}{content_hash}.f32"

    def get(self, content_hash: str) -> np.ndarray | None:
        """The cached vector, or None (a damaged entry counts as a miss)."""
        try:
            obj = self.store.get(self.key(content_hash))
        except ObjectNotFound:
            return None
        if obj is None or obj.body is None or len(obj.body) != self.dimension * 4:
            return None
        return np.frombuffer(obj.body, dtype=VECTOR_DTYPE).astype(np.float32)

    def put(self, content_hash: str, vector: np.ndarray) -> None:
        """Store a vector as raw little-endian float32 (never pickle)."""
        self.store.put(self.key(content_hash), np.asarray(vector, dtype=VECTOR_DTYPE).tobytes())
