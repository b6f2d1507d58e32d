"""Where things go: gallery labels, destination keys and result metadata (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

from docclass.config import (
    CLASSIFIED_PREFIX,
    FAILED_PREFIX,
    GALLERY_PREFIX,
    INBOX_PREFIX,
    PACKETS_PREFIX,
    REVIEW_PREFIX,
    UNCLASSIFIED_PREFIX,
)
from docclass.decide import Candidate, Decision
from docclass.errors import InvalidGalleryKey

# A label becomes a key prefix, a metric dimension and a metadata value: letters, digits and
# " ._-", starting with a letter or digit, at most 64 characters.
LABEL_PATTERN = re.compile(r"^[^\W_][\w .-]{0,63}$")
LABEL_METADATA_KEY = "label"
# Which version of the inbox object a routed copy came from: lets a redelivery finish a move
# that a crash interrupted between copy and delete, instead of classifying again.
SOURCE_ETAG_METADATA = "docclass-source-etag"
# Set by `docclass reclassify` on the inbox copy it sends ("<run id> <origin ETag>") and kept on the
# routed copy, so that a rerun of an interrupted run knows what it already sent (the one docclass-*
# key of a source that routing keeps).
RECLASSIFIED_METADATA = "docclass-reclassified"
# S3 user metadata is sent as HTTP headers: keep values ASCII and short (2 KB per object in all).
MAX_ERROR_CHARS = 900
# "The user-defined metadata is limited to 2 KB in size", measured as the UTF-8 bytes of every key
# and value (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html); counted here
# with the x-amz-meta- prefix of each key, to be safe.
MAX_USER_METADATA_BYTES = 2048
_META_PREFIX = "x-amz-meta-"
PAGES_METADATA = "docclass-pages"
PAGE_LABELS_METADATA = "docclass-page-labels"
SECTIONS_METADATA = "docclass-sections"
PACKET_METADATA = "docclass-packet"
PACKET_PAGES_METADATA = "docclass-packet-pages"
# The nearest distinct labels with the distance to each one's nearest example, nearest first
# ("invoice:0.4120,receipt:0.4480"), the gap between the first two, and (if it fits S3's 2 KB) the
# key of each one's nearest example, in the same order.
CANDIDATES_METADATA = "docclass-candidates"
MARGIN_METADATA = "docclass-margin"
CANDIDATE_EXAMPLES_METADATA = "docclass-candidate-examples"
BLANK_PAGE = "blank"
UNCLASSIFIED_PAGE = "unclassified"


def validate_label(label: str) -> str:
    """The label, stripped, if it is safe to use as a key prefix; InvalidGalleryKey otherwise."""
    cleaned = label.strip()
    if not LABEL_PATTERN.match(cleaned):
        raise InvalidGalleryKey(
            f"label {label!r} is not allowed: use 1-64 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return cleaned


def gallery_label(key: str, metadata: Mapping[str, str]) -> str:
    """The label of a gallery object: user metadata `label` wins, else the folder under gallery/."""
    if metadata.get(LABEL_METADATA_KEY, "").strip():
        return validate_label(metadata[LABEL_METADATA_KEY])
    rest = key[len(GALLERY_PREFIX) :] if key.startswith(GALLERY_PREFIX) else ""
    folder, slash, name = rest.partition("/")
    if not slash or not folder or not name:
        raise InvalidGalleryKey(
            f"{key}: no label; put examples under gallery/<label>/ or set user metadata 'label'"
        )
    return validate_label(folder)


def gallery_page_id(key: str, page: int) -> str:
    """The index id of page `page` (from 2) of a multi-page gallery example; page 1 is the key itself."""
    return f"{key}#page={page}"


def is_folder_marker(key: str) -> bool:
    """Console-created 'folders' are empty objects whose key ends with a slash."""
    return key.endswith("/")


def inbox_path(key: str) -> str:
    """The document's path below inbox/ (kept as is in every destination)."""
    if not key.startswith(INBOX_PREFIX) or len(key) == len(INBOX_PREFIX):
        raise ValueError(f"{key} is not a document under {INBOX_PREFIX}")
    return key[len(INBOX_PREFIX) :]


def destination_key(decision: Decision, path: str, review_margin: float | None = None) -> str:
    """classified/<label>/<path>, or unclassified/<path> when there is no label; review/<label>/<path>
    when review_margin is set and the first candidate is nearer than the second by less than it."""
    if decision.label is None:
        return f"{UNCLASSIFIED_PREFIX}{path}"
    if needs_review(decision, review_margin):
        return f"{REVIEW_PREFIX}{decision.label}/{path}"
    return f"{CLASSIFIED_PREFIX}{decision.label}/{path}"


def needs_review(decision: Decision, review_margin: float | None) -> bool:
    """A labelled decision whose margin is below review_margin (None: review is off). A gallery of
    one label has no margin: nothing to choose between, so nothing to review."""
    margin = decision.margin
    if decision.label is None or review_margin is None or margin is None:
        return False
    return round(margin, 4) < review_margin  # the margin as docclass-margin shows it


def destination_names(key: str, etag: str) -> list[str]:
    """The names a document may take at a destination, in the order they are tried.

    The key itself first; when another document already holds it (the same inbox path uploaded
    again, a day later), the name with the first 8 characters of this document's ETag before the
    extension ("scan.png" -> "scan~1a2b3c4d.png"), then with the whole ETag: deterministic, so a
    redelivery finds the copy it made, and never the name of another document.
    """
    tag = re.sub(r"[^0-9A-Za-z]", "", etag)
    folder, slash, name = key.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension (or a dot file): the tag goes at the end
        stem, dot, extension = name, "", ""
    names = [key]
    for suffix in dict.fromkeys((tag[:8], tag)):  # one name when the ETag is short
        if suffix:
            names.append(f"{folder}{slash}{stem}~{suffix}{dot}{extension}")
    return names


def primary_destinations(path: str, labels: Iterable[str], review_labels: Iterable[str] = ()) -> list[str]:
    """The first-choice key at every destination a document with this inbox path may go to."""
    return (
        [f"{UNCLASSIFIED_PREFIX}{path}", failed_key(path), f"{PACKETS_PREFIX}{path}"]
        + [f"{CLASSIFIED_PREFIX}{label}/{path}" for label in labels]
        + [f"{REVIEW_PREFIX}{label}/{path}" for label in review_labels]
    )


def possible_destinations(
    path: str, labels: Iterable[str], etag: str = "", review_labels: Iterable[str] = ()
) -> list[str]:
    """Every key a document with this inbox path (and ETag) may have been routed to."""
    return [
        name
        for key in primary_destinations(path, labels, review_labels)
        for name in destination_names(key, etag)
    ]


def failed_key(path: str) -> str:
    """failed/<path>."""
    return f"{FAILED_PREFIX}{path}"


def _ascii(value: str) -> str:
    return quote(value, safe="/ ._-:=,()[]#")  # "#": a gallery page id, <key>#page=N, stays readable


def metadata_text(value: str) -> str:
    """A value as S3 user metadata carries it: ASCII only (botocore refuses anything else before
    sending), the rest percent-encoded as in docclass-label and docclass-neighbor."""
    return _ascii(value)


def result_metadata(decision: Decision, model_id: str) -> dict[str, str]:
    """The docclass-* user metadata of a routed document (non-ASCII is percent-encoded)."""
    metadata = {"docclass-model": _ascii(model_id), "docclass-label": _ascii(decision.label or "")}
    if decision.distance is not None:
        metadata["docclass-distance"] = f"{decision.distance:.6f}"
    if decision.neighbor is not None:
        metadata["docclass-neighbor"] = _ascii(decision.neighbor)
    metadata.update(candidates_metadata(decision.candidates, decision.margin))
    return metadata


def candidates_metadata(candidates: Sequence[Candidate], margin: float | None = None) -> dict[str, str]:
    """docclass-candidates, docclass-candidate-examples, and docclass-margin when there is one.

    Labels and keys are percent-encoded with "," and ":" too, which separate the items.
    """
    if not candidates:
        return {}
    metadata = {
        CANDIDATES_METADATA: ",".join(f"{quote(c.label, safe=' ._-')}:{c.distance:.4f}" for c in candidates),
        CANDIDATE_EXAMPLES_METADATA: ",".join(quote(c.example, safe="/ ._-#=") for c in candidates),
    }
    if margin is not None:
        metadata[MARGIN_METADATA] = f"{margin:.4f}"
    return metadata


def parse_candidates(metadata: Mapping[str, str]) -> list[Candidate]:
    """The candidates a routed document's metadata names (examples "" where they were left out)."""
    text = metadata.get(CANDIDATES_METADATA, "")
    if not text:
        return []
    examples = metadata.get(CANDIDATE_EXAMPLES_METADATA, "").split(",")
    out = []
    for i, item in enumerate(text.split(",")):
        label, _, distance = item.rpartition(":")
        example = unquote(examples[i]) if i < len(examples) else ""
        out.append(Candidate(unquote(label), float(distance), example))
    return out


def error_metadata(message: str, model_id: str) -> dict[str, str]:
    """The docclass-* user metadata of a document routed to failed/."""
    text = _ascii(" ".join(message.split()))
    if len(text) > MAX_ERROR_CHARS:
        cut = text[: MAX_ERROR_CHARS - 3]
        # Do not leave half a percent-escape at the end.
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut
        text = cut + "..."
    return {"docclass-error": text, "docclass-model": _ascii(model_id)}


def pages_metadata(page_count: int, read: int, embedded: int, blank: int) -> str:
    """docclass-pages: how many pages the document has, how many were embedded, left blank, not read.

    read: the pages looked at (at most MaxPages); the rest were not rendered nor embedded.
    """
    return f"total={page_count} embedded={embedded} blank={blank} unread={page_count - read}"


def page_labels(pages: Sequence[tuple[int, str]]) -> str:
    """docclass-page-labels: runs of consecutive pages with one outcome, e.g. "1-3:invoice,4:blank"."""
    runs: list[list[Any]] = []
    for number, label in pages:
        if runs and runs[-1][2] == label and runs[-1][1] == number - 1:
            runs[-1][1] = number
        else:
            runs.append([number, number, label])
    return ",".join(
        f"{first}:{_ascii(label)}" if first == last else f"{first}-{last}:{_ascii(label)}"
        for first, last, label in runs
    )


def metadata_size(metadata: Mapping[str, str]) -> int:
    """The bytes S3 counts against its 2 KB user-metadata limit (prefix included, to be safe)."""
    return sum(len((_META_PREFIX + k).encode()) + len(v.encode()) for k, v in metadata.items())


def fit_section_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """A packet section's metadata within S3's 2 KB: with long keys (up to 1,024 bytes each, more
    once percent-encoded) the neighbour, then the packet's key, are left out (the section's own key
    names the packet's path, and docclass-source-etag ties it to the packets/ copy)."""
    fitted = fit_candidates(metadata)
    for key in ("docclass-neighbor", PACKET_METADATA):
        if metadata_size(fitted) <= MAX_USER_METADATA_BYTES:
            break
        fitted.pop(key, None)
    return fitted


def fit_candidates(metadata: dict[str, str]) -> dict[str, str]:
    """Within S3's 2 KB if the candidates make it too long: their example keys are left out first,
    then candidates from the last (a 64-character label of CJK letters takes 576 bytes encoded)."""
    if metadata_size(metadata) <= MAX_USER_METADATA_BYTES or CANDIDATES_METADATA not in metadata:
        return metadata
    fitted = {k: v for k, v in metadata.items() if k != CANDIDATE_EXAMPLES_METADATA}
    items = fitted[CANDIDATES_METADATA].split(",")
    while metadata_size(fitted) > MAX_USER_METADATA_BYTES and len(items) > 1:
        items.pop()
        fitted[CANDIDATES_METADATA] = ",".join(items)
    if metadata_size(fitted) > MAX_USER_METADATA_BYTES:
        fitted.pop(CANDIDATES_METADATA)
    return fitted


def fit_page_labels(metadata: dict[str, str]) -> dict[str, str]:
    """A routed copy's metadata within S3's 2 KB: the candidates' example keys are left out first
    (the review page finds examples without them), then docclass-page-labels is cut at a run,
    ending in "...". Runs are dropped from the end; if not even the first run fits, the key is left out.
    """
    metadata = fit_candidates(metadata)
    summary = metadata.get(PAGE_LABELS_METADATA)
    if summary is None or metadata_size(metadata) <= MAX_USER_METADATA_BYTES:
        return metadata
    others = {k: v for k, v in metadata.items() if k != PAGE_LABELS_METADATA}
    room = MAX_USER_METADATA_BYTES - metadata_size(others) - len(_META_PREFIX + PAGE_LABELS_METADATA)
    runs = summary.split(",")
    while runs and len(",".join([*runs, "..."])) > room:
        runs.pop()
    if runs:
        others[PAGE_LABELS_METADATA] = ",".join([*runs, "..."])
    return others


def fits_with(metadata: Mapping[str, str], key: str, value: str) -> bool:
    """Whether metadata with key=value added fits S3's 2 KB, once docclass-page-labels is cut to fit."""
    trial = dict(metadata)
    trial[key] = value
    return metadata_size(fit_page_labels(trial)) <= MAX_USER_METADATA_BYTES
