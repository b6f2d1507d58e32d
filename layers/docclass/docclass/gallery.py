"""Gallery indexing: turn a batch of gallery changes into index upserts/removals and commit them once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from aws_lambda_powertools import Logger

from docclass.config import GALLERY_PREFIX
from docclass.errors import InvalidDocument, ObjectNotFound
from docclass.events import S3Change, process_event
from docclass.index import Entry, GalleryIndex
from docclass.index_store import CommitResult, IndexRepository
from docclass.observability import MetricUnit, metrics, tracer
from docclass.pipeline import DocumentEmbedder
from docclass.routing import gallery_label, is_folder_marker
from docclass.store import ObjectStore

logger = Logger(child=True)


@dataclass(frozen=True)
class Upsert:
    """Index this vector for this gallery key, as of this sequencer."""

    entry: Entry
    vector: np.ndarray

    def apply(self, index: GalleryIndex) -> bool:
        """Apply to an index; True if it changed."""
        return index.upsert(self.entry, self.vector)


@dataclass(frozen=True)
class Remove:
    """Drop the gallery key from the index, as of this sequencer (and say why)."""

    key: str
    sequencer: str
    reason: str = "deleted"

    def apply(self, index: GalleryIndex) -> bool:
        """Apply to an index; True if it changed."""
        return index.remove(self.key, self.sequencer)


GalleryOp = Upsert | Remove


class GalleryIndexer:
    """Prepares one operation per gallery change (embedding included) and commits a batch at once."""

    def __init__(self, store: ObjectStore, embedder: DocumentEmbedder, repository: IndexRepository) -> None:
        self.store = store
        self.embedder = embedder
        self.repository = repository

    @tracer.capture_method
    def prepare(self, change: S3Change) -> GalleryOp | None:
        """The index operation for one change, or None when there is nothing to do.

        A created object that cannot be indexed (no label, unreadable image) becomes a removal:
        whatever that key held before must not stay in the index. Transient errors propagate so
        the message is retried.
        """
        if not change.key.startswith(GALLERY_PREFIX) or is_folder_marker(change.key):
            logger.info("not a gallery object; ignored")
            return None
        if change.is_removed:
            return Remove(change.key, change.sequencer)
        if not change.is_created:
            logger.info("event type not handled; ignored")
            return None
        try:
            obj = self.store.get(change.key)
        except ObjectNotFound:
            # Deleted (or replaced) since the event: the later event carries the final state.
            logger.info("gallery object already gone; its removal event will follow")
            return None
        assert obj is not None and obj.body is not None
        try:
            label = gallery_label(change.key, obj.metadata)
            embedded = self.embedder.embed(obj.body)
        except InvalidDocument as exc:
            logger.warning("gallery object rejected, not indexed", extra={"reason": str(exc)})
            metrics.add_metric(name="GalleryRejected", unit=MetricUnit.Count, value=1)
            return Remove(change.key, change.sequencer, reason=f"rejected: {exc}")
        if embedded.cache_hit:
            metrics.add_metric(name="EmbeddingCacheHits", unit=MetricUnit.Count, value=1)
        entry = Entry(change.key, label, embedded.content_hash, change.sequencer)
        return Upsert(entry, embedded.vector)

    @tracer.capture_method
    def commit(self, ops: Sequence[GalleryOp]) -> CommitResult | None:
        """Apply every operation to the latest index in one snapshot write and pointer swap."""
        if not ops:
            return None

        def apply(index: GalleryIndex) -> bool:
            # No short-circuit: every op must be applied to this copy of the index.
            return any([op.apply(index) for op in ops])

        result = self.repository.commit(apply)
        upserts = sum(isinstance(op, Upsert) for op in ops)
        metrics.add_metric(name="GalleryUpserts", unit=MetricUnit.Count, value=upserts)
        metrics.add_metric(name="GalleryRemovals", unit=MetricUnit.Count, value=len(ops) - upserts)
        metrics.add_metric(name="IndexWriteAttempts", unit=MetricUnit.Count, value=result.attempts)
        logger.info(
            "index committed" if result.changed else "index already up to date",
            extra={
                "operations": len(ops),
                "vectors": result.vectors,
                "attempts": result.attempts,
                "snapshot": result.snapshot,
            },
        )
        return result

    def handle_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Prepare every change of an SQS batch (or plain S3 event), then commit them in one write.

        Messages whose preparation failed are reported as batch item failures and retried; if the
        commit itself fails, the exception fails the whole batch, which SQS then redelivers.
        """
        outcome = process_event(event, context, self.prepare)
        self.commit([op for op in outcome.results if op is not None])
        return outcome.response
