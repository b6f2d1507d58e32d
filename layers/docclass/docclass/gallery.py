"""Gallery indexing: turn a batch of gallery changes into index upserts/removals and commit them once."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from aws_lambda_powertools import Logger

from docclass.config import GALLERY_PREFIX, MAX_PAGES_LIMIT
from docclass.document_embedder import DocumentEmbedder, Embedded
from docclass.errors import IndexUnusable, InvalidDocument, ObjectNotFound, ObjectUnreadable
from docclass.events import S3Change, is_sqs_event, iter_changes, message_ids, process_event
from docclass.index import Entry, GalleryIndex
from docclass.index_store import CommitResult, IndexRepository
from docclass.invocation import NO_BUDGET, InvocationGuard, TimeBudget
from docclass.memory import MemoryBudget
from docclass.observability import MetricUnit, error_once, metrics, tracer
from docclass.routing import gallery_label, gallery_page_id, is_folder_marker
from docclass.store import ObjectStore
from docclass.unreadable import report_unreadable

logger = Logger(child=True)


@dataclass(frozen=True)
class Upsert:
    """Index this vector for this gallery key, as of this sequencer.

    pages: the vectors of its pages 2, 3, ... (GalleryPages > 1), each under its own id
    (`<key>#page=N`); page ids the object held before and holds no more are removed.
    """

    entry: Entry
    vector: np.ndarray
    pages: tuple[tuple[Entry, np.ndarray], ...] = ()

    def apply(self, index: GalleryIndex) -> bool:
        """Apply to an index; True if it changed."""
        changed = index.upsert(self.entry, self.vector)
        kept = {entry.key for entry, _ in self.pages}
        for entry, vector in self.pages:
            changed = index.upsert(entry, vector) or changed
        for page_id in _page_ids(index, self.entry.key):
            if page_id not in kept:
                changed = index.remove(page_id, self.entry.sequencer) or changed
        return changed


@dataclass(frozen=True)
class Remove:
    """Drop the gallery key (and its pages' ids) from the index, as of this sequencer (and say why)."""

    key: str
    sequencer: str
    reason: str = "deleted"

    def apply(self, index: GalleryIndex) -> bool:
        """Apply to an index; True if it changed."""
        changed = index.remove(self.key, self.sequencer)
        for page_id in _page_ids(index, self.key):
            changed = index.remove(page_id, self.sequencer) or changed
        return changed


def _page_ids(index: GalleryIndex, key: str) -> list[str]:
    """The ids of pages 2..MAX_PAGES_LIMIT of key that the index holds."""
    return [page_id for n in range(2, MAX_PAGES_LIMIT + 1) if (page_id := gallery_page_id(key, n)) in index]


GalleryOp = Upsert | Remove


_Fetched = tuple[str, list[tuple[int, Embedded]]]
_Prefetched = dict[tuple[str, str, str, str], "Future[_Fetched]"]


def _change_id(change: S3Change) -> tuple[str, str, str, str]:
    return (change.key, change.event_name, change.sequencer, change.etag)


class GalleryIndexer:
    """Prepares one operation per gallery change (embedding included) and commits a batch at once.

    With `embed_concurrency` above 1, the created objects of a batch are fetched and embedded
    that many at a time: the model call, not the CPU, is what a gallery batch waits on. Each
    change's operation is still decided (and logged, and counted) one by one, in batch order.
    An image is fetched and embedded only while the invocation has time for that and for the
    commit (`budget`), and not after the model answered "throttled" or "misconfigured".
    `clock` (seconds since the epoch) dates each commit against its changes' S3 event times.
    """

    def __init__(
        self,
        store: ObjectStore,
        embedder: DocumentEmbedder,
        repository: IndexRepository,
        *,
        embed_concurrency: int = 1,
        budget: TimeBudget = NO_BUDGET,
        gallery_pages: int = 1,
        next_indexer: GalleryIndexer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if embed_concurrency < 1:
            raise ValueError(f"embed_concurrency must be at least 1, got {embed_concurrency}")
        self.store = store
        self.embedder = embedder
        self.repository = repository
        self.embed_concurrency = embed_concurrency
        self.budget = budget
        self.gallery_pages = gallery_pages
        self.next_indexer = next_indexer
        self.next_missed = 0  # changes the next index missed in this container (also logged, counted)
        self._clock = clock

    @tracer.capture_method
    def prepare(
        self,
        change: S3Change,
        prefetched: _Prefetched | None = None,
        guard: InvocationGuard | None = None,
    ) -> GalleryOp | None:
        """The index operation for one change, or None when there is nothing to do.

        A created object that cannot be indexed (no label, unreadable image) becomes a removal:
        whatever that key held before must not stay in the index. Transient errors propagate so
        the message is retried. `prefetched` holds this batch's fetches already under way; `guard`
        decides whether a fetch not yet under way may still start (else MessageDeferred).
        """
        if not self._is_gallery_object(change):
            logger.info("not a gallery object; ignored")
            return None
        if change.is_removed and not change.removes_one_version:
            return Remove(change.key, change.sequencer)
        if not (change.is_created or change.is_removed):
            logger.info("event type not handled; ignored")
            return None
        try:
            # For a version deleted for good: whatever version of the key is current now.
            label, pages = self._fetched(change, prefetched, guard)
        except ObjectNotFound:
            if change.is_removed:
                return Remove(change.key, change.sequencer, reason="no version left")
            # Deleted (or replaced) since the event: the later event carries the final state.
            logger.info("gallery object already gone; its removal event will follow")
            return None
        except ObjectUnreadable as exc:
            # SSE-KMS without kms:Decrypt: what we cannot see must not stay indexed.
            reason = report_unreadable(self.store, change.key, exc)
            return Remove(change.key, change.sequencer, reason=f"unreadable: {reason}")
        except InvalidDocument as exc:
            logger.warning("gallery object rejected, not indexed", extra={"reason": str(exc)})
            metrics.add_metric(name="GalleryRejected", unit=MetricUnit.Count, value=1)
            return Remove(change.key, change.sequencer, reason=f"rejected: {exc}")
        hits = sum(1 for _, embedded in pages if embedded.cache_hit)
        if hits:
            metrics.add_metric(name="EmbeddingCacheHits", unit=MetricUnit.Count, value=hits)
        (_, embedded), *others = pages
        entry = Entry(change.key, label, embedded.content_hash, change.sequencer)
        extra = tuple(
            (
                Entry(gallery_page_id(change.key, number), label, page.content_hash, change.sequencer),
                page.vector,
            )
            for number, page in others
        )
        if change.is_removed:
            # Another version is current: a newer one, or the previous one again (S3 sends no
            # ObjectCreated event for a version that becomes current that way). Indexed under this
            # event's sequencer even when the bytes are unchanged, so that an older event of the
            # key (a delete marker this removal undid) cannot win if it is handled later.
            logger.info("a version was deleted for good; the key's current version stays indexed")
        return Upsert(entry, embedded.vector, extra)

    @staticmethod
    def _is_gallery_object(change: S3Change) -> bool:
        return change.key.startswith(GALLERY_PREFIX) and not is_folder_marker(change.key)

    def _fetch(self, change: S3Change, guard: InvocationGuard | None = None) -> _Fetched:
        """The object's label and vector: ObjectNotFound, InvalidDocument or a transient error."""
        budget: MemoryBudget | None = getattr(self.embedder, "budget", None)  # fakes in tests have none
        if budget is not None:
            budget.check_object(change.size)  # the event's size: too large, not even requested
        # The event's size can be stale (replaced since): the GET leaves too large a body unread.
        obj = self.store.get(change.key, max_bytes=None if budget is None else budget.max_object_bytes)
        assert obj is not None
        if budget is not None:
            budget.check_object(obj.size)
        assert obj.body is not None
        label = gallery_label(change.key, obj.metadata)  # before the model call: a bad label costs nothing
        # A PDF or a multi-page TIFF contributes its first gallery_pages pages (near-blank ones
        # skipped); the first page embedded is indexed under the object's key, the others under
        # <key>#page=N.
        document = self.embedder.embed_document(
            obj.body,
            max_pages=self.gallery_pages,
            # Each further page is another model call: it starts only while the invocation has time.
            before_page=None if guard is None else lambda number: guard.admit_embed(),
        )
        return label, document.embedded

    def _fetched(
        self, change: S3Change, prefetched: _Prefetched | None, guard: InvocationGuard | None
    ) -> _Fetched:
        future = None if prefetched is None else prefetched.pop(_change_id(change), None)
        if future is not None:
            # Started by a worker only while time allowed: waiting for it is bounded.
            return future.result()
        if guard is not None:
            guard.admit_embed()
        return self._fetch(change, guard)

    def _fetch_in_worker(self, change: S3Change, guard: InvocationGuard) -> _Fetched:
        # Powertools' thread-safe keys are per thread: the worker's log lines name its own object.
        logger.thread_safe_append_keys(object_key=change.key, s3_event=change.event_name)
        try:
            guard.admit_embed()  # MessageDeferred: its message is given back, the model not called
            try:
                return self._fetch(change, guard)
            except Exception as exc:
                guard.observe(exc)  # a throttled model stops the workers that have not started yet
                raise
        finally:
            logger.thread_safe_remove_keys(["object_key", "s3_event"])

    @contextlib.contextmanager
    def _prefetching(self, event: Mapping[str, Any], guard: InvocationGuard) -> Iterator[_Prefetched]:
        """Start fetching and embedding the batch's created gallery objects, embed_concurrency at once.

        prepare() then takes each result in batch order; an error is raised there, for its own
        message only, exactly as if the change had been fetched in line. aws-xray-sdk's Lambda
        context gives every thread a parent segment built from the invocation's trace header, so
        the workers' subsegments join the invocation's trace.
        """
        created = [
            c for c in iter_changes(event, skip_invalid=True) if c.is_created and self._is_gallery_object(c)
        ]
        prefetched: _Prefetched = {}  # this invocation's own: the local stack runs two at once
        if self.embed_concurrency == 1 or len(created) < 2:
            yield prefetched
            return
        pool = ThreadPoolExecutor(
            min(self.embed_concurrency, len(created)), thread_name_prefix="gallery-embed"
        )
        try:
            for change in created:
                prefetched.setdefault(_change_id(change), pool.submit(self._fetch_in_worker, change, guard))
            yield prefetched
        finally:
            for future in prefetched.values():  # changes the batch never asked for
                future.cancel()
            pool.shutdown(wait=True)

    @tracer.capture_method
    def commit(self, ops: Sequence[GalleryOp], guard: InvocationGuard | None = None) -> CommitResult | None:
        """Apply every operation to the latest index in one snapshot write and pointer swap
        (retried after a lost race only while the invocation has time for it)."""
        if not ops:
            return None

        def seconds_left() -> float | None:
            remaining = None if guard is None else guard.remaining_ms()
            return None if remaining is None else remaining / 1000

        def apply(index: GalleryIndex) -> bool:
            # No short-circuit: every op must be applied to this copy of the index.
            return any([op.apply(index) for op in ops])

        result = self.repository.commit(apply, seconds_left=seconds_left)
        upserts = sum(isinstance(op, Upsert) for op in ops)
        metrics.add_metric(name="GalleryUpserts", unit=MetricUnit.Count, value=upserts)
        metrics.add_metric(name="GalleryRemovals", unit=MetricUnit.Count, value=len(ops) - upserts)
        metrics.add_metric(name="IndexWriteAttempts", unit=MetricUnit.Count, value=result.attempts)
        # The index's size after this commit, for the dashboard (its snapshot holds about
        # IndexVectors x dimension x 4 bytes).
        metrics.add_metric(name="IndexVectors", unit=MetricUnit.Count, value=result.vectors)
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

        Messages whose preparation failed, or that were not started (too little time left for an
        image and the commit, or the model throttled), are reported as batch item failures and
        retried; only the operations of the messages reported done are committed. If the commit
        itself fails, the exception fails the whole batch, which SQS then redelivers. An index
        that cannot be used (IndexUnusable) is logged once per container with what to do, counted,
        and every message of the batch is given back.
        """
        guard = InvocationGuard(context, self.budget)
        with self._prefetching(event, guard) as prefetched:
            outcome = process_event(
                event, context, lambda change: (change, self.prepare(change, prefetched, guard)), guard
            )
        done: list[tuple[S3Change, GalleryOp | None]] = outcome.results
        try:
            if self.commit([op for _, op in done if op is not None], guard) is not None:
                self._report_lag([change for change, _ in done])
        except IndexUnusable as exc:
            metrics.add_metric(name="IndexUnusable", unit=MetricUnit.Count, value=1)
            error_once(str(exc), error_type=type(exc).__name__)
            if not is_sqs_event(event):
                raise
            return {"batchItemFailures": [{"itemIdentifier": i} for i in message_ids(event)]}
        if self.next_indexer is not None:
            self._keep_next_index(event, context)
        return outcome.response

    def _keep_next_index(self, event: Mapping[str, Any], context: Any) -> None:
        """Apply the batch to the next model's index too (NextEmbeddingModelId), after the live one.

        While a model switch is prepared, every gallery change reaches both indexes, so the next
        one is complete when the stack switches to it. Its failures are logged and counted
        (NextIndexChangesMissed), never retried: a broken next index must not hold back, or
        dead-letter, the changes of the index documents are classified with. `docclass reindex
        --model ... --dimension ...` before the switch brings back whatever it missed.
        """
        assert self.next_indexer is not None
        next_repository = self.next_indexer.repository
        # The dashboard and the alarms read the live index's metrics (GalleryUpserts, IndexVectors,
        # IndexLag...): what the next pass records is dropped, but for what it missed.
        recorded = copy.deepcopy(metrics.metric_set)
        try:
            missed = len(self.next_indexer.handle_event(event, context)["batchItemFailures"])
            reason = "messages not applied (time, throttling or a transient error)"
        except Exception as exc:  # whatever it is, the live index's batch stands
            missed, reason = max(1, len(message_ids(event))), f"{type(exc).__name__}: {exc}"
        finally:
            metrics.metric_set.clear()
            metrics.metric_set.update(recorded)
        if missed:
            self.next_missed += missed
            metrics.add_metric(name="NextIndexChangesMissed", unit=MetricUnit.Count, value=missed)
            # The model as NextEmbeddingModelId names it (the repository is keyed by its vector space).
            model = getattr(self.next_indexer.embedder.embedder, "invoke_id", next_repository.model_id)
            logger.warning(
                "the next model's index missed gallery changes; run `docclass reindex --model "
                f"{model} --dimension {next_repository.dimension}` before switching",
                extra={"missed": missed, "reason": reason},
            )

    def _report_lag(self, changes: Sequence[S3Change]) -> None:
        """Emit IndexLag: how long the oldest change this commit applied had waited since S3 made it.

        With the gallery queue's ApproximateAgeOfOldestMessage (changes still waiting), this is how
        far the index trails gallery/ (the IndexStale alarm). The queue's age alone misses a change
        retried for a long time: SQS leaves a message received three times or more out of that metric
        (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
        """
        times = [change.event_time for change in changes if change.event_time is not None]
        if times:
            lag = max(0.0, self._clock() - min(times))
            metrics.add_metric(name="IndexLag", unit=MetricUnit.Seconds, value=round(lag, 3))
