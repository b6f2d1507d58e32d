"""Classification: embed an inbox document, search the gallery index, move it where it belongs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from aws_lambda_powertools import Logger

from docclass.config import CLASSIFIED_PREFIX, INBOX_PREFIX, PACKETS_PREFIX, REVIEW_PREFIX
from docclass.decide import CANDIDATE_COUNT, Candidate, Decision, PageDecision, decide, decide_pages
from docclass.document_embedder import DocumentEmbedder, EmbeddedDocument
from docclass.errors import (
    DocumentTooLarge,
    IndexUnusable,
    InvalidDocument,
    ObjectNotFound,
    ObjectUnreadable,
    PreconditionFailed,
    StorageError,
)
from docclass.events import S3Change, process_event
from docclass.index import GalleryIndex
from docclass.index_store import IndexRepository, Pointer
from docclass.invocation import NO_BUDGET, InvocationGuard, TimeBudget
from docclass.memory import MemoryBudget
from docclass.observability import MetricUnit, count_per_label, error_once, metrics, tracer
from docclass.packets import (
    Section,
    checked_plan,
    format_plan,
    packet_key,
    plan_sections,
    section_key,
    with_evidence,
)
from docclass.pages import looks_like_pdf, open_document
from docclass.routing import (
    BLANK_PAGE,
    PACKET_METADATA,
    PACKET_PAGES_METADATA,
    PAGE_LABELS_METADATA,
    PAGES_METADATA,
    RECLASSIFIED_METADATA,
    SECTIONS_METADATA,
    SOURCE_ETAG_METADATA,
    UNCLASSIFIED_PAGE,
    destination_key,
    destination_names,
    error_metadata,
    failed_key,
    fit_page_labels,
    fit_section_metadata,
    fits_with,
    inbox_path,
    is_folder_marker,
    metadata_text,
    needs_review,
    page_labels,
    pages_metadata,
    primary_destinations,
    result_metadata,
)
from docclass.store import ObjectStore, StoredObject
from docclass.unreadable import report_unreadable

logger = Logger(child=True)

# Far above Titan's 25 MB input limit (a page is re-encoded before it is sent), but a bound on
# what one invocation reads into memory.
MAX_DOCUMENT_BYTES = 100 * 1024 * 1024


# What can happen to one inbox document; the value is what the logs and the CLI show.
OutcomeStatus = Literal[
    "classified",
    "review",
    "unclassified",
    "split",
    "failed",
    "unreadable",
    "already-routed",
    "vanished",
    "ignored",
]


@dataclass(frozen=True)
class Outcome:
    """What happened to one inbox document."""

    key: str
    status: OutcomeStatus
    destination: str | None = None
    label: str | None = None
    distance: float | None = None
    neighbor: str | None = None
    error: str | None = None


class Classifier:
    """Routes inbox documents; keeps the index in memory and re-reads it only when its pointer changes.

    Freshness: the pointer is checked (a conditional GET, no download) at most every
    refresh_seconds, so during a gallery burst a container downloads the index at most that often,
    and a gallery change reaches classification within refresh_seconds of its commit.
    Memory: the old index is let go before the new one is downloaded, so a reload never holds two
    (at 100,000 x 1024 each is 423 MB, against ClassifyFunction's 1024 MB).
    """

    def __init__(
        self,
        store: ObjectStore,
        embedder: DocumentEmbedder,
        repository: IndexRepository,
        *,
        neighbor_count: int = 1,
        max_distance: float | None = None,
        refresh_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        budget: TimeBudget = NO_BUDGET,
        max_pages: int = 1,
        split_packets: bool = False,
        review_margin: float | None = None,
    ) -> None:
        self.store = store
        self.review_margin = review_margin
        self.max_pages = max_pages
        self.split_packets = split_packets
        self._guard: InvocationGuard | None = None
        self.embedder = embedder
        self.repository = repository
        self.neighbor_count = neighbor_count
        self.max_distance = max_distance
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self.budget = budget
        self._index: GalleryIndex | None = None
        self._pointer: Pointer | None = None
        self._next_check = 0.0
        self._unusable: IndexUnusable | None = None
        self.index_loads = 0

    def current_index(self) -> GalleryIndex:
        """The gallery index; the pointer is checked at most every refresh_seconds."""
        now = self._clock()
        if now < self._next_check:
            if self._unusable is not None:
                # The same broken index: counted again, not downloaded again until the next check.
                metrics.add_metric(name="IndexUnusable", unit=MetricUnit.Count, value=1)
                raise self._unusable
            if self._index is not None:
                return self._index
        try:
            if self._index is None or self.repository.changed_since(self._pointer):
                # Never two indexes at once: let go of the old one before reading the new.
                self._index = self._pointer = None
                self._index, self._pointer = self.repository.load()
                self.index_loads += 1
                logger.info(
                    "index loaded", extra={"vectors": len(self._index), "labels": self._index.labels()}
                )
            self._unusable = None
        except IndexUnusable as exc:
            self._unusable = exc
            metrics.add_metric(name="IndexUnusable", unit=MetricUnit.Count, value=1)
            error_once(str(exc), error_type=type(exc).__name__)
            raise
        finally:
            self._next_check = now + self.refresh_seconds
        return self._index

    def handle_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Classify every document of an SQS batch (or plain S3 event); report the failed messages.

        A document starts only while the invocation has time for its worst case (self.budget), and
        not after the model answered "throttled" or "misconfigured": the others go back to the queue.
        """
        self._guard = InvocationGuard(context, self.budget)
        try:
            return process_event(event, context, self.handle, self._guard).response
        finally:
            self._guard = None

    def _admit_page(self, number: int) -> None:
        """Before page number > 1 of a document: its model call must fit what is left of the invocation.

        If not, MessageDeferred gives the message back: the pages embedded so far are in the cache,
        so the next delivery starts further on and a long document is not stuck in a retry loop.
        """
        if self._guard is not None:
            self._guard.admit(self.budget.message_ms)

    def handle(self, change: S3Change) -> Outcome:
        """Classify the object of an ObjectCreated event under inbox/."""
        key = change.key
        if not change.is_created or not key.startswith(INBOX_PREFIX) or is_folder_marker(key):
            logger.info("not an inbox document; ignored")
            return Outcome(key, "ignored")
        try:
            return self.classify(key, attempt=change.attempt, event_etag=change.etag)
        except ObjectUnreadable as exc:
            # SSE-KMS without kms:Decrypt: no retry helps and it cannot be copied to failed/ either.
            return Outcome(key, "unreadable", error=report_unreadable(self.store, key, exc))

    def _object_limit(self) -> int:
        """The largest object this function downloads: MAX_DOCUMENT_BYTES or the memory budget's."""
        budget: MemoryBudget | None = getattr(self.embedder, "budget", None)  # fakes in tests have none
        return MAX_DOCUMENT_BYTES if budget is None else min(MAX_DOCUMENT_BYTES, budget.max_object_bytes)

    @tracer.capture_method
    def classify(self, key: str, attempt: int = 1, event_etag: str = "") -> Outcome:
        """Classify one inbox document and move it; transient errors propagate for a retry.

        event_etag: the ETag the S3 event carried, which tells a redelivery of this very upload
        (its copy carries that ETag) from a later upload to the same key.
        """
        path = inbox_path(key)
        try:
            # A larger object comes back without its body: it is never downloaded.
            source = self.store.get(key, max_bytes=self._object_limit())
        except ObjectNotFound:
            return self._already_routed(key, path, event_etag)
        assert source is not None
        # An earlier delivery may have copied these very bytes and died before deleting the
        # source: finish that move instead of classifying again (the gallery may have changed,
        # and a second destination would duplicate the document). A retry looks everywhere. A
        # first delivery may be one too (a redriven dead letter gets a new identity and its
        # receive count starts again; S3 can send an event twice), but looking under every label
        # would cost a HEAD per label on every document: it looks only for a PDF's packets/ copy,
        # the one move a second decision could leave half done (sections written from two plans).
        if attempt > 1:
            earlier = self._copy_of(source.etag, path)
        elif source.body is not None and looks_like_pdf(source.body):
            earlier = self._copy_at(packet_key(path), source.etag)
        else:
            earlier = None
        if earlier is not None:
            if earlier.startswith(PACKETS_PREFIX):
                # A split whose sections may not all be written: write what is missing first.
                self._finish_packet(source, path, earlier)
            self._delete_source(source)
            logger.info("finished the move of an earlier delivery", extra={"destination": earlier})
            metrics.add_metric(name="DocumentsAlreadyRouted", unit=MetricUnit.Count, value=1)
            return Outcome(key, "already-routed", earlier)
        # The index first: while it cannot be used, no model call is paid for a document that
        # will be retried anyway.
        index = self.current_index()
        try:
            if source.size > MAX_DOCUMENT_BYTES:
                raise DocumentTooLarge(f"document is {source.size} bytes; the limit is {MAX_DOCUMENT_BYTES}")
            budget: MemoryBudget | None = getattr(self.embedder, "budget", None)
            if budget is not None:
                budget.check_object(source.size)
            document, pages = self._decide_pages(source, index)
        except InvalidDocument as exc:
            return self._fail(source, path, exc)
        decision = decide_pages(pages)
        metadata = result_metadata(decision, self.embedder.model_id)
        if document.kind != "image":
            metadata.update(page_metadata(document, pages))
        if self.split_packets and document.kind == "pdf":
            sections = self._plan(document, pages)
            if len(sections) > 1:
                if fits_with(routed_metadata(source, metadata), SECTIONS_METADATA, format_plan(sections)):
                    try:
                        return self._split(source, path, decision, metadata, sections)
                    except InvalidDocument as exc:
                        # PDFium could not copy the pages out (a damaged page tree, past its
                        # deadline): no retry would do better. The original is kept under
                        # packets/, and the document goes to failed/ with the reason.
                        return self._fail(source, path, InvalidDocument(f"packet could not be split: {exc}"))
                # The plan is what lets an interrupted split be finished: without room for it on
                # the packet's copy, the document is routed whole.
                logger.warning(
                    "packet not split: its plan of sections does not fit S3's 2 KB of user metadata",
                    extra={"sections": len(sections)},
                )
        destination = self._move(source, destination_key(decision, path, self.review_margin), metadata)
        if decision.distance is not None:
            metrics.add_metric(name="NearestDistance", unit=MetricUnit.NoUnit, value=decision.distance)
        if decision.label is None:
            metrics.add_metric(name="DocumentsUnclassified", unit=MetricUnit.Count, value=1)
            logger.info(
                "unclassified",
                extra={"destination": destination, "reason": decision.reason, "distance": decision.distance},
            )
            return Outcome(key, "unclassified", destination, None, decision.distance, decision.neighbor)
        if needs_review(decision, self.review_margin):
            count_per_label("DocumentsForReview", decision.label)
            logger.info(
                "for review",
                extra={"destination": destination, "label": decision.label, "margin": decision.margin},
            )
            return Outcome(key, "review", destination, decision.label, decision.distance, decision.neighbor)
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

    def _decide_pages(
        self, source: StoredObject, index: GalleryIndex
    ) -> tuple[EmbeddedDocument, list[PageDecision]]:
        """Embed the document's pages (or find them in the cache) and decide each one."""
        assert source.body is not None
        document = self.embedder.embed_document(
            source.body, max_pages=self.max_pages, before_page=self._admit_page
        )
        hits = sum(1 for _, embedded in document.embedded if embedded.cache_hit)
        if hits:
            metrics.add_metric(name="EmbeddingCacheHits", unit=MetricUnit.Count, value=hits)
        pages = [
            PageDecision(
                number,
                decide(index.search(embedded.vector, self.neighbor_count), self.max_distance).with_candidates(
                    Candidate(hit.label, hit.distance, hit.key)
                    for hit in index.candidates(embedded.vector, CANDIDATE_COUNT)
                ),
            )
            for number, embedded in document.embedded
        ]
        return document, pages

    def _fail(self, source: StoredObject, path: str, exc: Exception) -> Outcome:
        destination = self._move(source, failed_key(path), error_metadata(str(exc), self.embedder.model_id))
        metrics.add_metric(name="DocumentsFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "document cannot be classified", extra={"destination": destination, "reason": str(exc)}
        )
        return Outcome(source.key, "failed", destination, error=str(exc))

    def _split(
        self,
        source: StoredObject,
        path: str,
        decision: Decision,
        metadata: dict[str, str],
        sections: list[Section],
    ) -> Outcome:
        """Write each section of a packet as a PDF of its own, and keep the original under packets/.

        Order makes it crash-safe: the original is copied to packets/ first, with the plan in its
        metadata (docclass-sections); then the sections are written, each only to a free name or to
        the name that already holds this very section (If-None-Match: *, then the section's source
        ETag and pages); then the inbox object is deleted. A delivery that finds the packets/ copy
        of its source writes the sections still missing, from that plan, and deletes the source.
        """
        metadata[SECTIONS_METADATA] = format_plan(sections)
        packet = self._copy(source, packet_key(path), metadata)
        written = self._write_sections(source, path, packet, sections)
        self._delete_source(source)
        metrics.add_metric(name="PacketsSplit", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="PacketSections", unit=MetricUnit.Count, value=len(written))
        for section in sections:  # each section is a document of its own, counted where it went
            if section.label is None:
                metrics.add_metric(name="DocumentsUnclassified", unit=MetricUnit.Count, value=1)
            else:
                count_per_label(
                    "DocumentsForReview" if section.review else "DocumentsClassified", section.label
                )
        logger.info("packet split", extra={"packet": packet, "sections": written})
        return Outcome(source.key, "split", packet, decision.label, decision.distance, decision.neighbor)

    def _finish_packet(self, source: StoredObject, path: str, packet: str) -> None:
        """Write the sections an interrupted split left unwritten, from the plan on its packets/ copy.

        The plan names pages and labels only (it must fit S3's 2 KB of metadata): each section's
        distance and neighbour come from its pages, decided again from the embedding cache (no
        model call for the pages the first delivery embedded). A plan that does not describe the
        document (edited by hand, empty) is made again from its pages rather than retried forever.
        """
        held = self.store.head(packet)
        if held is None:
            return
        plan = held.metadata.get(SECTIONS_METADATA, "")
        document: EmbeddedDocument | None
        try:
            document, pages = self._decide_pages(source, self.current_index())
        except InvalidDocument:
            document, pages = None, []  # the pages only lend the sections their evidence
        sections = checked_plan(plan, None if document is None else document.page_count)
        if sections is None:
            if document is None:
                logger.error(
                    "split not finished: its plan does not describe the document, which cannot be read "
                    "again; the original stays under packets/",
                    extra={"packet": packet, "plan": plan},
                )
                return
            logger.warning(
                "the plan on the packet's copy does not describe the document: planned again from its pages",
                extra={"packet": packet, "plan": plan},
            )
            sections = self._plan(document, pages)
        self._write_sections(source, path, packet, with_evidence(sections, pages))

    def _plan(self, document: EmbeddedDocument, pages: list[PageDecision]) -> list[Section]:
        """The document's sections, each marked for review when ReviewMargin says so."""
        return [
            replace(s, review=needs_review(s.decision, self.review_margin))
            for s in plan_sections(document.page_count, pages, document.blank_pages)
        ]

    def _write_sections(
        self, source: StoredObject, path: str, packet: str, sections: list[Section]
    ) -> list[str]:
        """Each section as a PDF at its first free name (or where it is already); returns the names."""
        assert source.body is not None
        etag = source.etag.strip('"')
        names = []
        budget: MemoryBudget | None = getattr(self.embedder, "budget", None)
        with open_document(source.body, budget=budget) as document:
            for number, section in enumerate(sections, start=1):
                body = document.extract(section.first, section.last)
                metadata = result_metadata(section.decision, self.embedder.model_id)
                metadata.update(
                    {
                        PACKET_METADATA: metadata_text(packet),
                        PACKET_PAGES_METADATA: section.pages,
                        SOURCE_ETAG_METADATA: etag,
                    }
                )
                metadata = fit_section_metadata(metadata)
                key = section_key(path, number, section)
                # A section is the document's own bytes: encrypted as the packet is (SSE-KMS under
                # the uploader's key stays so), never with less.
                names.append(self._put_section(key, body, metadata, source.kms_key_id))
        return names

    def _put_section(
        self, key: str, body: bytes, metadata: dict[str, str], kms_key_id: str | None = None
    ) -> str:
        """Write one section to the first name that is free or already holds it."""
        for name in destination_names(key, metadata[SOURCE_ETAG_METADATA]):
            try:
                self.store.put(
                    name,
                    body,
                    content_type="application/pdf",
                    metadata=metadata,
                    if_none_match="*",
                    kms_key_id=kms_key_id,
                )
                return name
            except PreconditionFailed:
                held = self.store.head(name)
                if held is None:
                    # 409 ConditionalRequestConflict: another write of this name is in flight (a
                    # duplicate delivery splitting too). Taking the next name would write the
                    # section twice: retry the message instead, and then find it written.
                    raise
                if all(
                    held.metadata.get(k) == metadata[k] for k in (SOURCE_ETAG_METADATA, PACKET_PAGES_METADATA)
                ):
                    return (
                        name  # written by an earlier delivery, or by this request before its answer was lost
                    )
        raise StorageError(f"every name for {key} holds another document")

    def _move(self, source: StoredObject, destination: str, docclass_metadata: dict[str, str]) -> str:
        """Copy the source to the first free name at destination, then delete it; returns the name."""
        name = self._copy(source, destination, docclass_metadata)
        self._delete_source(source)
        return name

    def _copy(self, source: StoredObject, destination: str, docclass_metadata: dict[str, str]) -> str:
        """Copy the source to the first free name at destination; returns the name.

        Nothing is overwritten and nothing is lost:
        - the copy only takes a free name (CopyObject If-None-Match: *): a name held by another
          document (the same inbox path uploaded before) is skipped for the next one
          (routing.destination_names); a name that holds a copy of exactly this source version
          (docclass-source-etag) is this move's own, made by an earlier delivery or by this very
          request when S3 applied it and lost its answer (botocore's retry then gets 412);
        - the copy only reads the bytes we classified (CopySourceIfMatch): if the source was
          replaced meanwhile, the copy fails, the message is retried and the new bytes classified;
        - the delete only removes the version we copied (DeleteObject If-Match): a newer upload to
          the same key during the move stays in inbox/ for its own event.
        """
        metadata = fit_page_labels(routed_metadata(source, docclass_metadata))
        etag = metadata[SOURCE_ETAG_METADATA]
        for name in destination_names(destination, etag):
            try:
                self.store.copy(
                    source.key,
                    name,
                    metadata=metadata,
                    content_type=source.content_type,
                    source_etag=source.etag,
                    if_none_match="*",
                    kms_key_id=source.kms_key_id,  # a document its owner encrypted with a KMS key stays so
                )
            except PreconditionFailed:
                held = self.store.head(name)
                if held is None:
                    raise  # the name is free: it was the source that changed (retried via SQS)
                if held.metadata.get(SOURCE_ETAG_METADATA) != etag:
                    logger.info("destination name taken by another document", extra={"taken": name})
                    continue  # another document: try the next name
            return name
        raise StorageError(f"every name for {destination} holds another document")

    def _delete_source(self, source: StoredObject) -> None:
        """Delete the inbox object if it is still the version we routed (conditional delete)."""
        try:
            self.store.delete(source.key, if_match=source.etag)
        except PreconditionFailed:
            logger.info("a newer upload replaced the document during its move; left for its own event")
        except ObjectNotFound:
            pass  # gone already: an earlier attempt's delete whose answer was lost, or a user

    def _copy_of(self, etag: str, path: str) -> str | None:
        """A destination holding a copy of exactly this source version (by ETag), if one exists.

        At each destination the names are tried in the order a move takes them, and a free name
        ends the search there: a move only goes on to the next name when one is taken. So the
        usual redelivery costs one HEAD per destination, as before names could be taken. (A copy
        is missed only if a user deleted the document that held the first name between this
        move's copy and its redelivery; the document is then routed a second time, nothing lost.)
        """
        if not etag.strip('"'):
            return None
        for primary in primary_destinations(
            path, self.store.list_folders(CLASSIFIED_PREFIX), self.store.list_folders(REVIEW_PREFIX)
        ):
            name = self._copy_at(primary, etag)
            if name is not None:
                return name
        return None

    def _copy_at(self, destination: str, etag: str) -> str | None:
        """The name at one destination holding a copy of exactly this source version, if any."""
        etag = etag.strip('"')
        for name in destination_names(destination, etag):
            head = self.store.head(name)
            if head is None:
                return None
            if head.metadata.get(SOURCE_ETAG_METADATA) == etag:
                return name
        return None

    def _already_routed(self, key: str, path: str, event_etag: str) -> Outcome:
        """A redelivered message: the source is gone; find where an earlier delivery put it.

        Only a copy of the very upload the event describes counts: a document routed from the same
        path before (another ETag) does not make this one "routed".
        """
        earlier = self._copy_of(event_etag, path)
        if earlier is not None:
            logger.info("already routed by an earlier delivery", extra={"destination": earlier})
            metrics.add_metric(name="DocumentsAlreadyRouted", unit=MetricUnit.Count, value=1)
            return Outcome(key, "already-routed", earlier)
        logger.warning("source is gone and was not routed by docclass (deleted by a user?)")
        metrics.add_metric(name="DocumentsVanished", unit=MetricUnit.Count, value=1)
        return Outcome(key, "vanished")


def page_metadata(document: EmbeddedDocument, pages: list[PageDecision]) -> dict[str, str]:
    """docclass-pages and docclass-page-labels of a PDF or multi-page TIFF (a plain image has neither)."""
    outcome = {p.number: p.decision.label or UNCLASSIFIED_PAGE for p in pages}
    outcome.update({number: BLANK_PAGE for number in document.blank_pages})
    return {
        PAGES_METADATA: pages_metadata(
            document.page_count, len(document.pages), len(document.embedded), len(document.blank_pages)
        ),
        PAGE_LABELS_METADATA: page_labels(sorted(outcome.items())),
    }


def routed_metadata(source: StoredObject, docclass_metadata: dict[str, str]) -> dict[str, str]:
    """A routed copy's user metadata: the uploader's own, ours over any docclass-* key it carries
    (but docclass-reclassified, which `docclass reclassify` reads back), and the source's ETag."""
    metadata = {
        k: v
        for k, v in source.metadata.items()
        if not k.startswith("docclass-") or k == RECLASSIFIED_METADATA
    }
    metadata.update(docclass_metadata)
    metadata[SOURCE_ETAG_METADATA] = source.etag.strip('"')
    return metadata
