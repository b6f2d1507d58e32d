"""What the review page lists and what its actions do to the bucket (no web framework here).

Every action is a conditional copy, then (for a move) a conditional delete, through ObjectStore,
as the functions move documents (docclass.classify): the copy reads only the version the reviewer
saw (CopySourceIfMatch) and takes only a free name (If-None-Match: *); the delete removes only that
version (If-Match). A document changed, moved or deleted since the page was drawn is refused with
a message and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from docclass.config import CLASSIFIED_PREFIX, GALLERY_PREFIX, REVIEW_PREFIX, UNCLASSIFIED_PREFIX
from docclass.decide import Candidate
from docclass.errors import InvalidGalleryKey, ObjectNotFound, PreconditionFailed
from docclass.routing import (
    CANDIDATE_EXAMPLES_METADATA,
    LABEL_METADATA_KEY,
    destination_names,
    fit_page_labels,
    is_folder_marker,
    metadata_text,
    parse_candidates,
    validate_label,
)
from docclass.store import Listed, ObjectStore, StoredObject

# Who reviewed a document and when ("2026-12-02T16:40:50Z alice"), on the routed copy and on a
# gallery copy; a gallery copy also names the key it was made from.
REVIEWED_METADATA = "docclass-reviewed"
REVIEWED_FROM_METADATA = "docclass-reviewed-from"
# The prefixes listed for review unless --include adds classified/<label>/ ones.
REVIEW_SOURCES = (UNCLASSIFIED_PREFIX, REVIEW_PREFIX)
# Where an action may write; anything else is a bug, refused before S3 is called.
WRITABLE_PREFIXES = (CLASSIFIED_PREFIX, GALLERY_PREFIX, REVIEW_PREFIX)
ACTIONS = ("route", "gallery", "both")


class Refused(Exception):
    """An action that was not done; str() is the message the page shows."""


@dataclass(frozen=True)
class Row:
    """One document as the page shows it."""

    key: str
    etag: str
    modified: datetime
    label: str
    candidates: list[Candidate]
    reviewed: str = ""
    size: int = 0

    @property
    def path(self) -> str:
        return document_path(self.key)


@dataclass
class Listing:
    """One page of documents, newest first."""

    rows: list[Row]
    page: int
    pages: int
    total: int
    labels: list[str] = field(default_factory=list)


def check_includes(includes: Iterable[str]) -> list[str]:
    """--include prefixes: each must be classified/<label>/ (or classified/ for every class)."""
    out = []
    for prefix in includes:
        if not prefix.endswith("/"):
            prefix += "/"
        rest = prefix[len(CLASSIFIED_PREFIX) :]
        if not prefix.startswith(CLASSIFIED_PREFIX) or rest.count("/") > 1:
            raise ValueError(f"--include {prefix}: give classified/<label>/ (or classified/)")
        if rest:
            validate_label(rest.rstrip("/"))
        out.append(prefix)
    return out


def document_path(key: str) -> str:
    """The document's path below its place: unclassified/<path>, review/<label>/<path>,
    classified/<label>/<path>."""
    if key.startswith(UNCLASSIFIED_PREFIX):
        return key[len(UNCLASSIFIED_PREFIX) :]
    for prefix in (REVIEW_PREFIX, CLASSIFIED_PREFIX):
        if key.startswith(prefix):
            _, slash, path = key[len(prefix) :].partition("/")
            if slash and path:
                return path
    raise Refused(f"{key} is not a document under unclassified/, review/<label>/ or classified/<label>/")


class Reviewer:
    """The page's view of one bucket: listing, example lookup, and the three actions."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        who: str,
        includes: Sequence[str] = (),
        page_size: int = 20,
        clock: type[datetime] = datetime,
    ) -> None:
        self.store = store
        self.who = who
        self.sources = (*REVIEW_SOURCES, *check_includes(includes))
        self.page_size = page_size
        self._clock = clock

    # -- reading ---------------------------------------------------------------------------

    def may_read(self, key: str) -> bool:
        """Thumbnails are served only for listed documents and gallery examples."""
        return key.startswith((*self.sources, GALLERY_PREFIX)) and not is_folder_marker(key)

    def listing(self, page: int = 1) -> Listing:
        """Page `page` (from 1) of the documents under the review prefixes, newest first."""
        found: dict[str, Listed] = {}
        for prefix in self.sources:
            for item in self.store.list_objects(prefix):
                if not is_folder_marker(item.key):
                    found[item.key] = item
        ordered = sorted(found.values(), key=lambda item: (item.last_modified, item.key), reverse=True)
        pages = max(1, -(-len(ordered) // self.page_size))
        page = min(max(1, page), pages)
        rows = []
        examples: dict[str, str] = {}
        for item in ordered[(page - 1) * self.page_size : page * self.page_size]:
            head = self.store.head(item.key)
            if head is None:  # moved since the listing
                continue
            rows.append(self._row(head, item.last_modified, examples))
        return Listing(rows, page, pages, len(ordered), self.labels())

    def labels(self) -> list[str]:
        """Every label the gallery has (its folders)."""
        return sorted(self.store.list_folders(GALLERY_PREFIX))

    def _row(self, head: StoredObject, modified: datetime, examples: dict[str, str]) -> Row:
        candidates = []
        for candidate in parse_candidates(head.metadata):
            example = candidate.example or self._first_example(candidate.label, examples)
            candidates.append(Candidate(candidate.label, candidate.distance, example))
        return Row(
            key=head.key,
            etag=head.etag,
            modified=modified,
            label=_unquoted(head.metadata.get("docclass-label", "")),
            candidates=candidates,
            reviewed=_unquoted(head.metadata.get(REVIEWED_METADATA, "")),
            size=head.size,
        )

    def _first_example(self, label: str, cache: dict[str, str]) -> str:
        # docclass-candidate-examples was left out (S3's 2 KB): show the label's newest example.
        if label not in cache:
            newest = max(
                (
                    i
                    for i in self.store.list_objects(f"{GALLERY_PREFIX}{label}/")
                    if not is_folder_marker(i.key)
                ),
                key=lambda item: item.last_modified,
                default=None,
            )
            cache[label] = newest.key if newest else ""
        return cache[label]

    # -- acting ----------------------------------------------------------------------------

    def act(self, action: str, key: str, etag: str, label: str) -> str:
        """Do `action` (route, gallery or both) on the version `etag` of `key`; returns what was
        done, in a sentence; Refused says why nothing (or only part) was done."""
        if action not in ACTIONS:
            raise Refused(f"unknown action {action!r}")
        try:
            label = validate_label(label)
        except InvalidGalleryKey as exc:
            raise Refused(str(exc)) from None
        if not key.startswith(self.sources) or is_folder_marker(key):
            raise Refused(f"{key} is not under {', '.join(self.sources)}: the page acts only on those")
        source = self._current(key, etag)
        done = []
        if action in {"gallery", "both"}:
            done.append(f"added to the gallery as {self._to_gallery(source, label)}")
        if action in {"route", "both"}:
            try:
                done.append(f"moved to {self._route(source, label)}")
            except Refused as exc:
                if done:
                    raise Refused(f"{key}: {done[0]}, but not moved: {exc}") from None
                raise
        return f"{key}: " + "; ".join(done)

    def _current(self, key: str, etag: str) -> StoredObject:
        head = self.store.head(key)
        if head is None:
            raise Refused(f"{key} has moved or was deleted since the page was loaded: nothing done")
        if head.etag.strip('"') != etag.strip('"'):
            raise Refused(f"{key} has changed since the page was loaded: nothing done (reload the page)")
        return head

    def _stamp(self) -> str:
        now = self._clock.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return metadata_text(f"{now} {self.who}")

    def _route(self, source: StoredObject, label: str) -> str:
        path = document_path(source.key)
        destination = f"{CLASSIFIED_PREFIX}{label}/{path}"
        if source.key == destination:
            raise Refused(f"{source.key} is already classified as {label}")
        metadata = dict(source.metadata)
        metadata["docclass-label"] = metadata_text(label)
        metadata[REVIEWED_METADATA] = self._stamp()
        name = self._copy(source, destination, fit_page_labels(metadata))
        try:
            self.store.delete(source.key, if_match=source.etag)
        except (PreconditionFailed, ObjectNotFound):
            # Replaced or deleted between the copy and the delete: the copy holds the version the
            # reviewer saw, the newer one stays where it is.
            return f"{name} (a newer version of {source.key} arrived meanwhile and was left in place)"
        return name

    def _to_gallery(self, source: StoredObject, label: str) -> str:
        metadata = {
            k: v
            for k, v in source.metadata.items()
            if not k.startswith("docclass-") and k != LABEL_METADATA_KEY and k != CANDIDATE_EXAMPLES_METADATA
        }
        metadata[REVIEWED_METADATA] = self._stamp()
        metadata[REVIEWED_FROM_METADATA] = quote(source.key, safe="/ ._-")
        return self._copy(source, f"{GALLERY_PREFIX}{label}/{document_path(source.key)}", metadata)

    def _copy(self, source: StoredObject, destination: str, metadata: dict[str, str]) -> str:
        """Copy the version shown to the first free name at destination; returns the name."""
        if not destination.startswith(WRITABLE_PREFIXES):
            raise Refused(f"{destination}: the review page writes only under {', '.join(WRITABLE_PREFIXES)}")
        for name in destination_names(destination, source.etag):
            try:
                self.store.copy(
                    source.key,
                    name,
                    metadata=metadata,
                    content_type=source.content_type,
                    source_etag=source.etag,
                    if_none_match="*",
                    kms_key_id=source.kms_key_id,
                )
                return name
            except ObjectNotFound:
                raise Refused(
                    f"{source.key} has moved or was deleted since the page was loaded: nothing done"
                ) from None
            except PreconditionFailed:
                # Either the name is taken (try the next) or the source changed (refuse).
                self._current(source.key, source.etag)
        raise Refused(f"every name for {destination} holds another document: nothing done")


def _unquoted(value: str) -> str:
    return unquote(value)
