"""What the review page lists and what its actions do to the bucket (no web framework here).

Every action is a conditional copy, then (for a move) a conditional delete, through ObjectStore,
as the functions move documents (docclass.classify): the copy reads only the version the reviewer
saw (CopySourceIfMatch) and takes only a free name (If-None-Match: *); the delete removes only that
version (If-Match). A document changed, moved or deleted since the page was drawn is refused with
a message and nothing is written. Copies are idempotent: a name that already holds this action's
own copy of the version shown (docclass-reviewed-etag) is taken as done, so a repeated click or
key makes no second copy.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from docclass.config import (
    CLASSIFIED_PREFIX,
    GALLERY_PREFIX,
    INBOX_PREFIX,
    PACKETS_PREFIX,
    REVIEW_PREFIX,
    UNCLASSIFIED_PREFIX,
)
from docclass.decide import Candidate
from docclass.errors import DocclassError, InvalidGalleryKey, ObjectNotFound, PreconditionFailed
from docclass.routing import (
    CANDIDATE_EXAMPLES_METADATA,
    CANDIDATES_METADATA,
    LABEL_METADATA_KEY,
    MAX_USER_METADATA_BYTES,
    PACKET_METADATA,
    PACKET_PAGES_METADATA,
    SOURCE_ETAG_METADATA,
    destination_names,
    fit_page_labels,
    is_folder_marker,
    metadata_size,
    metadata_text,
    parse_candidates,
    validate_label,
)
from docclass.store import Listed, ObjectStore, StoredObject
from docclass_local.review.thumbnails import split_page_id

# Who reviewed a document and when ("2026-12-02T16:40:50Z alice"), on the routed copy and on a
# gallery copy; a gallery copy also names the key it was made from.
REVIEWED_METADATA = "docclass-reviewed"
REVIEWED_FROM_METADATA = "docclass-reviewed-from"
# The ETag of the version the reviewer acted on, on every copy the page makes: a name that already
# holds it is this action's own earlier copy (a repeated click), not another document.
REVIEWED_ETAG_METADATA = "docclass-reviewed-etag"
# The prefixes listed for review unless --include adds classified/<label>/ ones.
REVIEW_SOURCES = (UNCLASSIFIED_PREFIX, REVIEW_PREFIX)
# Where an action may copy to; anything else is a bug, refused before S3 is called. (Its only other
# write is the delete of the document it moved, under one of the listed prefixes.)
WRITABLE_PREFIXES = (CLASSIFIED_PREFIX, GALLERY_PREFIX)
ACTIONS = ("route", "gallery", "both")
# How long a listing of the review prefixes is reused (every action drops it at once).
LISTING_SECONDS = 5.0


class Refused(Exception):
    """An action that was not done; str() is the message the page shows."""


class Gone(Refused):
    """The document is no longer at its key."""


@dataclass(frozen=True)
class Shown:
    """A candidate class as the page shows it: its distance and one gallery example (key, ETag and
    page; example "" when the gallery has none)."""

    label: str
    distance: float
    example: str = ""
    example_etag: str = ""
    example_page: int = 1


@dataclass(frozen=True)
class Row:
    """One document as the page shows it."""

    key: str
    etag: str
    modified: datetime
    label: str
    candidates: list[Shown]
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


@dataclass
class _Snapshot:
    """The review prefixes and the gallery as listed at `taken`, with what rows looked up since."""

    taken: float
    items: list[Listed]
    labels: list[str]
    newest_example: dict[str, str] = field(default_factory=dict)
    heads: dict[str, StoredObject | None] = field(default_factory=dict)


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


def read_candidates(metadata: Mapping[str, str]) -> list[Candidate]:
    """The candidates docclass-candidates names, item by item: an item that is not
    "<label>:<distance>" with a valid label and a finite distance (a hand-written object) is left
    out, and so is an example outside gallery/."""
    items = metadata.get(CANDIDATES_METADATA, "").split(",")
    examples = metadata.get(CANDIDATE_EXAMPLES_METADATA, "").split(",")
    out = []
    for i, item in enumerate(items):
        one = {
            CANDIDATES_METADATA: item,
            CANDIDATE_EXAMPLES_METADATA: examples[i] if i < len(examples) else "",
        }
        try:
            [candidate] = parse_candidates(one)
            label = validate_label(candidate.label)
        except (ValueError, InvalidGalleryKey):
            continue
        if not math.isfinite(candidate.distance):
            continue
        example = candidate.example if candidate.example.startswith(GALLERY_PREFIX) else ""
        out.append(Candidate(label, candidate.distance, example))
    return out


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
        listing_seconds: float = LISTING_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.who = who
        self.sources = (*REVIEW_SOURCES, *check_includes(includes))
        self.page_size = page_size
        self.listing_seconds = listing_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self.listings = 0  # how many times the review prefixes were listed (not served from the cache)

    # -- reading ---------------------------------------------------------------------------

    def may_read(self, key: str) -> bool:
        """Thumbnails are served only for listed documents and gallery examples."""
        return key.startswith((*self.sources, GALLERY_PREFIX)) and not is_folder_marker(key)

    def listing(self, page: int = 1) -> Listing:
        """Page `page` (from 1) of the documents under the review prefixes, newest first."""
        snapshot = self._current_snapshot()
        ordered = snapshot.items
        pages = max(1, -(-len(ordered) // self.page_size))
        page = min(max(1, page), pages)
        rows = []
        for item in ordered[(page - 1) * self.page_size : page * self.page_size]:
            head = self.store.head(item.key)  # each time: the page must show the version it acts on
            if head is None:  # moved since the listing
                continue
            rows.append(self._row(head, item.last_modified, snapshot))
        return Listing(rows, page, pages, len(ordered), snapshot.labels)

    def invalidate(self) -> None:
        """Forget the cached listing: the next page lists the bucket again."""
        with self._lock:
            self._snapshot = None

    def _current_snapshot(self) -> _Snapshot:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and self._monotonic() - snapshot.taken < self.listing_seconds:
                return snapshot
        taken = self._monotonic()
        found: dict[str, Listed] = {}
        for prefix in self.sources:
            for item in self.store.list_objects(prefix):
                if not is_folder_marker(item.key):
                    found[item.key] = item
        ordered = sorted(found.values(), key=lambda item: (item.last_modified, item.key), reverse=True)
        snapshot = _Snapshot(taken, ordered, sorted(self.store.list_folders(GALLERY_PREFIX)))
        with self._lock:
            self.listings += 1
            self._snapshot = snapshot
        return snapshot

    def labels(self) -> list[str]:
        """Every label the gallery has (its folders)."""
        return self._current_snapshot().labels

    def _row(self, head: StoredObject, modified: datetime, snapshot: _Snapshot) -> Row:
        return Row(
            key=head.key,
            etag=head.etag,
            modified=modified,
            label=_unquoted(head.metadata.get("docclass-label", "")),
            candidates=[self._shown(c, snapshot) for c in read_candidates(head.metadata)],
            reviewed=_unquoted(head.metadata.get(REVIEWED_METADATA, "")),
            size=head.size,
        )

    def _shown(self, candidate: Candidate, snapshot: _Snapshot) -> Shown:
        """The candidate with the example to show: the one its metadata names (a page id names
        one page of a multi-page example), else, when that was left out (S3's 2 KB) or has left the
        gallery since, the label's newest example."""
        for example in (candidate.example, self._newest_example(candidate.label, snapshot)):
            key, page = split_page_id(example)
            held = self._head(key, snapshot) if key else None
            if held is not None:
                return Shown(candidate.label, candidate.distance, key, held.etag.strip('"'), page)
        return Shown(candidate.label, candidate.distance)

    def _head(self, key: str, snapshot: _Snapshot) -> StoredObject | None:
        # Examples recur from row to row: one HEAD each per listing (its ETag names the thumbnail).
        if key not in snapshot.heads:
            snapshot.heads[key] = self.store.head(key)
        return snapshot.heads[key]

    def _newest_example(self, label: str, snapshot: _Snapshot) -> str:
        if label not in snapshot.newest_example:
            newest = max(
                (
                    i
                    for i in self.store.list_objects(f"{GALLERY_PREFIX}{label}/")
                    if not is_folder_marker(i.key)
                ),
                key=lambda item: item.last_modified,
                default=None,
            )
            snapshot.newest_example[label] = newest.key if newest else ""
        return snapshot.newest_example[label]

    # -- acting ----------------------------------------------------------------------------

    def act(self, action: str, key: str, etag: str, label: str) -> str:
        """Do `action` (route, gallery or both) on the version `etag` of `key`; returns what was
        done, in a sentence; Refused says why nothing (or what part) was done, S3's refusals too."""
        try:
            return self._act(action, key, etag, label)
        finally:
            self.invalidate()

    def _act(self, action: str, key: str, etag: str, label: str) -> str:
        if action not in ACTIONS:
            raise Refused(f"unknown action {action!r}")
        try:
            label = validate_label(label)
        except InvalidGalleryKey as exc:
            raise Refused(str(exc)) from None
        if not key.startswith(self.sources) or is_folder_marker(key):
            raise Refused(f"{key} is not under {', '.join(self.sources)}: the page acts only on those")
        done: list[str] = []
        try:
            try:
                source = self._current(key, etag)
            except Gone:
                return self._after_a_move(action, key, etag, label)
            if action != "gallery":  # a copy to the gallery moves nothing
                self._check_move_finished(source)
            if action in {"gallery", "both"}:
                done.append(self._to_gallery(source, label))
            if action in {"route", "both"}:
                done.append(self._route(source, label))
        except (Refused, DocclassError) as exc:
            reason = str(exc) if isinstance(exc, Refused) else f"S3 refused: {exc}"
            if done:
                raise Refused(f"{key}: {done[0]}, but not moved: {reason}") from None
            if isinstance(exc, Refused):
                raise
            raise Refused(f"{key}: nothing done: {reason}") from None
        return f"{key}: " + "; ".join(done)

    def _current(self, key: str, etag: str) -> StoredObject:
        head = self.store.head(key)
        if head is None:
            raise Gone(f"{key} has moved or was deleted since the page was loaded: nothing done")
        if head.etag.strip('"') != etag.strip('"'):
            raise Refused(f"{key} has changed since the page was loaded: nothing done (reload the page)")
        return head

    def _check_move_finished(self, source: StoredObject) -> None:
        """Refuse a document whose upload is still in inbox/: ClassifyFunction copied it here and
        has not deleted the upload yet (it died in between, or a packet's split is half written).
        Its message comes back and finishes that move from what it finds in place; moved away now,
        the document would be routed a second time."""
        etag = source.metadata.get(SOURCE_ETAG_METADATA, "")
        if not etag:
            return
        for upload in self._possible_uploads(source):
            held = self.store.head(upload)
            if held is not None and held.etag.strip('"') == etag:
                raise Refused(
                    f"{source.key}: docclass has not finished moving it ({upload} is still there): "
                    "nothing done. Its message comes back within minutes to finish the move, unless it "
                    "is in the dead-letter queue (`docclass status` counts those; `docclass redrive` "
                    "sends them back)"
                )

    def _possible_uploads(self, source: StoredObject) -> list[str]:
        """The inbox keys this document may have been moved from (see inbox_upload); for a packet
        section whose docclass-packet was dropped to fit S3's 2 KB, every inbox/<stem>.* there is."""
        upload = inbox_upload(source.key, source.metadata)
        if upload is not None:
            return [upload]
        stem = _section_stem(source.key)
        return [] if stem is None else list(self.store.list_keys(f"{INBOX_PREFIX}{stem}."))

    def _after_a_move(self, action: str, key: str, etag: str, label: str) -> str:
        """What to say of an action on a document no longer at its key: done already when a
        reviewed copy of that version is where the action would put it (a second press, another
        tab); else refused, naming where a reviewer moved it, if one did."""
        path = document_path(key)
        here = self._reviewed_copy(f"{CLASSIFIED_PREFIX}{label}/{path}", etag)
        moved = here or next(
            (
                name
                for folder in self.store.list_folders(CLASSIFIED_PREFIX)
                if folder != label
                for name in [self._reviewed_copy(f"{CLASSIFIED_PREFIX}{folder}/{path}", etag)]
                if name
            ),
            None,
        )
        if moved is None:
            raise Gone(f"{key} has moved or was deleted since the page was loaded: nothing done")
        example = self._reviewed_copy(f"{GALLERY_PREFIX}{label}/{path}", etag, same_bytes=True)
        wanted_gallery = action in {"gallery", "both"}
        if here and (example or not wanted_gallery):
            said = [f"already added to the gallery as {example}"] if wanted_gallery else []
            return f"{key}: " + "; ".join([*said, f"already moved to {moved}"])
        folder = moved[len(CLASSIFIED_PREFIX) :].partition("/")[0]
        raise Refused(
            f"{key} was moved to {moved} since the page was loaded: nothing done "
            f"(to change it, review it there: --include {CLASSIFIED_PREFIX}{folder}/)"
        )

    def _reviewed_copy(self, destination: str, etag: str, *, same_bytes: bool = False) -> str | None:
        """The name at destination that holds a copy this page made of version etag (with
        same_bytes, any object of that ETag), if any. A copy goes on to the next name only when one
        is taken, so a free name ends the search."""
        for name in destination_names(destination, etag):
            held = self.store.head(name)
            if held is None:
                return None
            if _holds_this_version(held, etag, same_bytes):
                return name
        return None

    def _stamp(self) -> str:
        now = self._clock.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return metadata_text(f"{now} {self.who}")

    def _route(self, source: StoredObject, label: str) -> str:
        """Move the version shown to classified/<label>/<path>; returns what was done."""
        path = document_path(source.key)
        destination = f"{CLASSIFIED_PREFIX}{label}/{path}"
        if source.key == destination:
            raise Refused(f"{source.key} is already classified as {label}")
        metadata = routed_metadata(source.metadata, label)
        metadata[REVIEWED_METADATA] = self._stamp()
        metadata[REVIEWED_ETAG_METADATA] = source.etag.strip('"')
        name, _ = self._copy(source, destination, _fitted(fit_page_labels(metadata), destination))
        try:
            self.store.delete(source.key, if_match=source.etag)
        except PreconditionFailed:
            # Replaced between the copy and the delete: the copy holds the version the reviewer
            # saw, the newer one stays where it is for its own review.
            return (
                f"copied to {name} (a newer version of {source.key} arrived meanwhile and was left in place)"
            )
        except ObjectNotFound:
            # Moved or deleted by someone else (another tab, a colleague) between the copy and the
            # delete. This copy is kept: whether they moved the document or deleted it cannot be
            # told from here, and deleting the copy would lose it in the second case.
            return (
                f"copied to {name}, but {source.key} was moved or deleted by someone else meanwhile: "
                f"the version you saw is kept at {name} (if they moved it, it is now in two places: "
                "delete one)"
            )
        except DocclassError as exc:
            raise Refused(
                f"copied to {name}, but {source.key} could not be deleted ({exc}): "
                "the document is now in both places"
            ) from None
        return f"moved to {name}"

    def _to_gallery(self, source: StoredObject, label: str) -> str:
        """Copy the version shown to gallery/<label>/<path>; returns what was done."""
        metadata = {
            k: v
            for k, v in source.metadata.items()
            if not k.startswith("docclass-") and k != LABEL_METADATA_KEY and k != CANDIDATE_EXAMPLES_METADATA
        }
        metadata[REVIEWED_METADATA] = self._stamp()
        metadata[REVIEWED_ETAG_METADATA] = source.etag.strip('"')
        reviewed_from = quote(source.key, safe="/ ._-")
        if metadata_size({**metadata, REVIEWED_FROM_METADATA: reviewed_from}) <= MAX_USER_METADATA_BYTES:
            metadata[REVIEWED_FROM_METADATA] = reviewed_from  # a long key does not fit S3's 2 KB
        destination = f"{GALLERY_PREFIX}{label}/{document_path(source.key)}"
        name, copied = self._copy(source, destination, _fitted(metadata, destination), same_bytes=True)
        return f"added to the gallery as {name}" if copied else f"already in the gallery as {name}"

    def _copy(
        self, source: StoredObject, destination: str, metadata: dict[str, str], *, same_bytes: bool = False
    ) -> tuple[str, bool]:
        """Copy the version shown to the first free name at destination: (the name, whether a copy
        was made). A name that holds this version already (docclass-reviewed-etag, or with
        same_bytes any object with its ETag) is where the copy is: nothing is copied again."""
        if not destination.startswith(WRITABLE_PREFIXES):
            raise Refused(f"{destination}: the review page copies only under {', '.join(WRITABLE_PREFIXES)}")
        etag = source.etag.strip('"')
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
                return name, True
            except ObjectNotFound:
                raise Refused(
                    f"{source.key} has moved or was deleted since the page was loaded: nothing done"
                ) from None
            except PreconditionFailed:
                # The name is taken (by this version already, or by another document: try the
                # next name), or the source changed (refuse).
                held = self.store.head(name)
                if held is not None and _holds_this_version(held, etag, same_bytes):
                    return name, False
                self._current(source.key, source.etag)
        raise Refused(f"every name for {destination} holds another document: nothing done")


def _holds_this_version(held: StoredObject, etag: str, same_bytes: bool) -> bool:
    """held is a copy this page made of version etag (docclass-reviewed-etag), or with same_bytes
    any object of that ETag (the same bytes already in the gallery)."""
    etag = etag.strip('"')
    return held.metadata.get(REVIEWED_ETAG_METADATA) == etag or (same_bytes and held.etag.strip('"') == etag)


def inbox_upload(key: str, metadata: Mapping[str, str]) -> str | None:
    """The inbox key the function moved this document from: a packet section's packet (less
    packets/), else the document's path; either less the ~<ETag> a taken name made it add. None for
    a section whose docclass-packet was dropped (see Reviewer._possible_uploads)."""
    etag = metadata.get(SOURCE_ETAG_METADATA, "")
    packet = _unquoted(metadata.get(PACKET_METADATA, ""))
    if packet:
        return INBOX_PREFIX + _without_tag(packet.removeprefix(PACKETS_PREFIX), etag)
    if PACKET_PAGES_METADATA in metadata:
        return None
    try:
        return INBOX_PREFIX + _without_tag(document_path(key), etag)
    except Refused:
        return None


def _without_tag(path: str, etag: str) -> str:
    """path less the "~<ETag prefix>" or "~<ETag>" that routing.destination_names puts before its
    extension when the first name is taken."""
    tag = re.sub(r"[^0-9A-Za-z]", "", etag)
    folder, slash, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not stem:
        stem, dot, extension = name, "", ""
    for suffix in (tag, tag[:8]):
        if suffix and stem.endswith(f"~{suffix}"):
            return folder + slash + stem.removesuffix(f"~{suffix}") + dot + extension
    return path


def _section_stem(key: str) -> str | None:
    """<stem> of a section key <prefix><stem>/part-NN-pA-B.pdf (docclass.packets.section_key)."""
    try:
        path = document_path(key)
    except Refused:
        return None
    stem, _, name = path.rpartition("/")
    return stem if stem and re.fullmatch(r"part-\d+-p\d+(-\d+)?(~[0-9A-Za-z]+)?\.pdf", name) else None


def routed_metadata(metadata: Mapping[str, str], label: str) -> dict[str, str]:
    """A reviewed document's metadata routed to `label`: docclass-label, and docclass-distance and
    docclass-neighbor describing that label (the chosen candidate's distance and example; left out
    when the candidates do not name it), no longer the label the classifier picked."""
    out = dict(metadata)
    out["docclass-label"] = metadata_text(label)
    if _unquoted(metadata.get("docclass-label", "")) == label:
        return out
    out.pop("docclass-distance", None)
    out.pop("docclass-neighbor", None)
    chosen = next((c for c in read_candidates(metadata) if c.label == label), None)
    if chosen is not None:
        out["docclass-distance"] = f"{chosen.distance:.6f}"
        if chosen.example:
            out["docclass-neighbor"] = metadata_text(chosen.example)
    return out


def _fitted(metadata: dict[str, str], destination: str) -> dict[str, str]:
    """The metadata within S3's 2 KB (routing.fit_page_labels has trimmed what it can): without
    docclass-neighbor if need be (a long example key), else Refused before S3 is called."""
    if metadata_size(metadata) > MAX_USER_METADATA_BYTES:
        metadata = {k: v for k, v in metadata.items() if k != "docclass-neighbor"}
    size = metadata_size(metadata)
    if size > MAX_USER_METADATA_BYTES:
        raise Refused(
            f"{destination}: its user metadata would take {size} bytes, more than S3's "
            f"{MAX_USER_METADATA_BYTES}: nothing done (shorten the document's own metadata)"
        )
    return metadata


def _unquoted(value: str) -> str:
    return unquote(value)
