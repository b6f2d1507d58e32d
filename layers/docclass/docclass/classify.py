"""Classification: embed an inbox document, search the gallery index, move it where it belongs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from docclass.config import CLASSIFIED_PREFIX, INBOX_PREFIX
from docclass.decide import decide
from docclass.errors import InvalidDocument, ObjectNotFound, ObjectUnreadable
from docclass.events import S3Change, process_event
from docclass.index import GalleryIndex
from docclass.index_store import IndexRepository, Pointer
from docclass.observability import MetricUnit, count_per_label, metrics, tracer
from docclass.pipeline import DocumentEmbedder
from docclass.routing import (
    SOURCE_ETAG_METADATA,
    destination_key,
    error_metadata,
    failed_key,
    inbox_path,
    is_folder_marker,
    possible_destinations,
    result_metadata,
)
from docclass.store import ObjectStore, StoredObject
from docclass.unreadable import report_unreadable

logger = Logger(child=True)

# Far above Titan's 25 MB input limit (a page is re-encoded before it is sent), but a bound on
# what one invocation reads into memory.
MAX_DOCUMENT_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    """What happened to one inbox document."""

    key: str
    status: str  # classified | unclassified | failed | unreadable | already-routed | vanished | ignored
    destination: str | None = None
    label: str | None = None
    distance: float | None = None
    neighbor: str | None = None
    error: str | None = None


class Classifier:
    """Routes inbox documents; keeps the index in memory and re-reads it only when its pointer changes."""

    def __init__(
        self,
        store: ObjectStore,
        embedder: DocumentEmbedder,
        repository: IndexRepository,
        *,
        neighbor_count: int = 1,
        max_distance: float | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.repository = repository
        self.neighbor_count = neighbor_count
        self.max_distance = max_distance
        self._index: GalleryIndex | None = None
        self._pointer: Pointer | None = None
        self.index_loads = 0

    def current_index(self) -> GalleryIndex:
        """The gallery index, re-read only when the pointer's ETag has changed."""
        etag = self._pointer.etag if self._pointer is not None else None
        if self._index is None:
            etag = None
        loaded = self.repository.load_if_changed(etag)
        if loaded is not None:
            self._index, self._pointer = loaded
            self.index_loads += 1
            logger.info("index loaded", extra={"vectors": len(self._index), "labels": self._index.labels()})
        assert self._index is not None
        return self._index

    def handle_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Classify every document of an SQS batch (or plain S3 event); report the failed messages."""
        return process_event(event, context, self.handle).response

    def handle(self, change: S3Change) -> Outcome:
        """Classify the object of an ObjectCreated event under inbox/."""
        key = change.key
        if not change.is_created or not key.startswith(INBOX_PREFIX) or is_folder_marker(key):
            logger.info("not an inbox document; ignored")
            return Outcome(key, "ignored")
        try:
            return self.classify(key, attempt=change.attempt)
        except ObjectUnreadable as exc:
            # SSE-KMS without kms:Decrypt: no retry helps and it cannot be copied to failed/ either.
            return Outcome(key, "unreadable", error=report_unreadable(self.store, key, exc))

    @tracer.capture_method
    def classify(self, key: str, attempt: int = 1) -> Outcome:
        """Classify one inbox document and move it; transient errors propagate for a retry."""
        path = inbox_path(key)
        try:
            source = self.store.get(key)
        except ObjectNotFound:
            return self._already_routed(key, path)
        assert source is not None and source.body is not None
        if attempt > 1:
            # An earlier delivery may have copied these very bytes and died before deleting the
            # source: finish that move instead of classifying again (the gallery may have changed,
            # and a second destination would duplicate the document).
            earlier = self._copy_of(source, path)
            if earlier is not None:
                self.store.delete(key)
                logger.info("finished the move of an earlier delivery", extra={"destination": earlier})
                metrics.add_metric(name="DocumentsAlreadyRouted", unit=MetricUnit.Count, value=1)
                return Outcome(key, "already-routed", earlier)
        try:
            if source.size > MAX_DOCUMENT_BYTES:
                raise InvalidDocument(f"document is {source.size} bytes; the limit is {MAX_DOCUMENT_BYTES}")
            embedded = self.embedder.embed(source.body)
        except InvalidDocument as exc:
            return self._fail(source, path, exc)
        if embedded.cache_hit:
            metrics.add_metric(name="EmbeddingCacheHits", unit=MetricUnit.Count, value=1)
        decision = decide(
            self.current_index().search(embedded.vector, self.neighbor_count), self.max_distance
        )
        destination = destination_key(decision, path)
        self._move(source, destination, result_metadata(decision, self.embedder.model_id))
        if decision.distance is not None:
            metrics.add_metric(name="NearestDistance", unit=MetricUnit.NoUnit, value=decision.distance)
        if decision.label is None:
            metrics.add_metric(name="DocumentsUnclassified", unit=MetricUnit.Count, value=1)
            logger.info(
                "unclassified",
                extra={"destination": destination, "reason": decision.reason, "distance": decision.distance},
            )
            return Outcome(key, "unclassified", destination, None, decision.distance, decision.neighbor)
        count_per_label("DocumentsClassified", decision.label)
        logger.info(
            "classified",
            extra={
                "destination": destination,
                "label": decision.label,
                "distance": decision.distance,
                "neighbor": decision.neighbor,
            },
        )
        return Outcome(key, "classified", destination, decision.label, decision.distance, decision.neighbor)

    def _fail(self, source: StoredObject, path: str, exc: Exception) -> Outcome:
        destination = failed_key(path)
        self._move(source, destination, error_metadata(str(exc), self.embedder.model_id))
        metrics.add_metric(name="DocumentsFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "document cannot be classified", extra={"destination": destination, "reason": str(exc)}
        )
        return Outcome(source.key, "failed", destination, error=str(exc))

    def _move(self, source: StoredObject, destination: str, docclass_metadata: dict[str, str]) -> None:
        # Keep the uploader's own metadata; ours overwrites any docclass-* key it may carry.
        metadata = {k: v for k, v in source.metadata.items() if not k.startswith("docclass-")}
        metadata.update(docclass_metadata)
        metadata[SOURCE_ETAG_METADATA] = source.etag.strip('"')
        # Copy only the bytes we classified: if the source was replaced meanwhile, the copy fails
        # with 412, the message is retried, and the new bytes get classified.
        self.store.copy(
            source.key,
            destination,
            metadata=metadata,
            content_type=source.content_type,
            source_etag=source.etag,
            kms_key_id=source.kms_key_id,  # a document its owner encrypted with a KMS key stays so
        )
        self.store.delete(source.key)

    def _copy_of(self, source: StoredObject, path: str) -> str | None:
        """A destination holding a copy of exactly this source version, if one exists."""
        for candidate in possible_destinations(path, self.store.list_folders(CLASSIFIED_PREFIX)):
            head = self.store.head(candidate)
            if head is not None and head.metadata.get(SOURCE_ETAG_METADATA) == source.etag.strip('"'):
                return candidate
        return None

    def _already_routed(self, key: str, path: str) -> Outcome:
        """A redelivered message: the source is gone; find where an earlier delivery put it."""
        for candidate in possible_destinations(path, self.store.list_folders(CLASSIFIED_PREFIX)):
            if self.store.head(candidate) is not None:
                logger.info("already routed by an earlier delivery", extra={"destination": candidate})
                metrics.add_metric(name="DocumentsAlreadyRouted", unit=MetricUnit.Count, value=1)
                return Outcome(key, "already-routed", candidate)
        logger.warning("source is gone and was not routed by docclass (deleted by a user?)")
        metrics.add_metric(name="DocumentsVanished", unit=MetricUnit.Count, value=1)
        return Outcome(key, "vanished")
