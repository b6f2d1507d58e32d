"""Where things go: gallery labels, destination keys and result metadata (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from docclass.config import (
    CLASSIFIED_PREFIX,
    FAILED_PREFIX,
    GALLERY_PREFIX,
    INBOX_PREFIX,
    UNCLASSIFIED_PREFIX,
)
from docclass.decide import Decision
from docclass.errors import InvalidGalleryKey

# A label becomes a key prefix, a metric dimension and a metadata value: letters, digits and
# " ._-", starting with a letter or digit, at most 64 characters.
LABEL_PATTERN = re.compile(r"^[^\W_][\w .-]{0,63}$")
LABEL_METADATA_KEY = "label"
# Which version of the inbox object a routed copy came from: lets a redelivery finish a move
# that a crash interrupted between copy and delete, instead of classifying again.
SOURCE_ETAG_METADATA = "docclass-source-etag"
# S3 user metadata is sent as HTTP headers: keep values ASCII and short (2 KB per object in all).
MAX_ERROR_CHARS = 900


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


def is_folder_marker(key: str) -> bool:
    """Console-created 'folders' are empty objects whose key ends with a slash."""
    return key.endswith("/")


def inbox_path(key: str) -> str:
    """The document's path below inbox/ (kept as is in every destination)."""
    if not key.startswith(INBOX_PREFIX) or len(key) == len(INBOX_PREFIX):
        raise ValueError(f"{key} is not a document under {INBOX_PREFIX}")
    return key[len(INBOX_PREFIX) :]


def destination_key(decision: Decision, path: str) -> str:
    """classified/<label>/<path>, or unclassified/<path> when there is no label."""
    if decision.label is None:
        return f"{UNCLASSIFIED_PREFIX}{path}"
    return f"{CLASSIFIED_PREFIX}{decision.label}/{path}"


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


def primary_destinations(path: str, labels: Iterable[str]) -> list[str]:
    """The first-choice key at every destination a document with this inbox path may go to."""
    return [f"{UNCLASSIFIED_PREFIX}{path}", failed_key(path)] + [
        f"{CLASSIFIED_PREFIX}{label}/{path}" for label in labels
    ]


def possible_destinations(path: str, labels: Iterable[str], etag: str = "") -> list[str]:
    """Every key a document with this inbox path (and ETag) may have been routed to."""
    return [name for key in primary_destinations(path, labels) for name in destination_names(key, etag)]


def failed_key(path: str) -> str:
    """failed/<path>."""
    return f"{FAILED_PREFIX}{path}"


def _ascii(value: str) -> str:
    return quote(value, safe="/ ._-:=,()[]")


def result_metadata(decision: Decision, model_id: str) -> dict[str, str]:
    """The docclass-* user metadata of a routed document (non-ASCII is percent-encoded)."""
    metadata = {"docclass-model": _ascii(model_id), "docclass-label": _ascii(decision.label or "")}
    if decision.distance is not None:
        metadata["docclass-distance"] = f"{decision.distance:.6f}"
    if decision.neighbor is not None:
        metadata["docclass-neighbor"] = _ascii(decision.neighbor)
    return metadata


def error_metadata(message: str, model_id: str) -> dict[str, str]:
    """The docclass-* user metadata of a document routed to failed/."""
    text = _ascii(" ".join(message.split()))
    if len(text) > MAX_ERROR_CHARS:
        cut = text[: MAX_ERROR_CHARS - 3]
        # Do not leave half a percent-escape at the end.
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut
        text = cut + "..."
    return {"docclass-error": text, "docclass-model": _ascii(model_id)}
