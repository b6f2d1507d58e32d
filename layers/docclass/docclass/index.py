"""The gallery index: one unit vector per gallery key, with its label, content hash and S3 sequencer.

Pure data structure (no AWS). Identity is the gallery key, so a redelivered event is an upsert,
and every change carries the S3 `sequencer` of the event that caused it: an event older than what
the index already holds for that key (including a deletion, kept as a tombstone) is ignored.

Stored form (no pickle): MAGIC, an 8-byte little-endian header length, a UTF-8 JSON header
(model, dimension, entries in row order, tombstones), then the float32 little-endian matrix.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import faiss
import numpy as np

from docclass.errors import DocclassError

MAGIC = b"DOCCLASS-INDEX\x00\x01"
FORMAT_VERSION = 1


class CorruptIndex(DocclassError):
    """A stored index snapshot that cannot be read back."""


@dataclass(frozen=True)
class Entry:
    """What the index knows about one gallery object."""

    key: str
    label: str
    content_hash: str
    sequencer: str


@dataclass(frozen=True)
class Neighbor:
    """One search hit: the gallery key, its label and its Euclidean distance to the query."""

    key: str
    label: str
    distance: float


def sequencer_value(sequencer: str) -> int:
    """The S3 sequencer as a number (hex strings of varying length; empty sorts first).

    AWS: compare sequencers of the same key after left-padding the shorter with zeros,
    which is the same as comparing them as hexadecimal integers.
    """
    if not sequencer:
        return -1
    try:
        return int(sequencer, 16)
    except ValueError:
        raise ValueError(f"not an S3 sequencer: {sequencer!r}") from None


class GalleryIndex:
    """Vectors of gallery examples keyed by gallery key; searched exactly (FAISS flat L2)."""

    def __init__(self, dimension: int, model_id: str) -> None:
        self.dimension = dimension
        self.model_id = model_id
        self._entries: list[Entry] = []
        self._rows: dict[str, int] = {}
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        self._size = 0
        self._tombstones: dict[str, str] = {}
        self._faiss: faiss.IndexFlatL2 | None = None

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def get(self, key: str) -> Entry | None:
        """The entry for a gallery key, or None."""
        row = self._rows.get(key)
        return None if row is None else self._entries[row]

    def vector(self, key: str) -> np.ndarray:
        """A copy of the stored vector of a gallery key (KeyError if absent)."""
        return self._vectors[self._rows[key]].copy()

    def entries(self) -> Iterator[Entry]:
        """Every entry, in row order."""
        return iter(self._entries)

    def labels(self) -> dict[str, int]:
        """Vectors per label."""
        return dict(sorted(Counter(e.label for e in self._entries).items()))

    def _newest_known(self, key: str) -> int:
        row = self._rows.get(key)
        seen = [sequencer_value(self._entries[row].sequencer)] if row is not None else []
        if key in self._tombstones:
            seen.append(sequencer_value(self._tombstones[key]))
        return max(seen, default=-2)

    def upsert(self, entry: Entry, vector: np.ndarray) -> bool:
        """Add or replace the vector of entry.key unless a newer event for that key was applied.

        Returns True when the index changed.
        """
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.dimension:
            raise ValueError(f"vector has {vec.shape[0]} dimensions, index has {self.dimension}")
        if sequencer_value(entry.sequencer) < self._newest_known(entry.key):
            return False
        row = self._rows.get(entry.key)
        if row is not None:
            if self._entries[row] == entry and np.array_equal(self._vectors[row], vec):
                return False
            self._entries[row] = entry
            self._vectors[row] = vec
        else:
            self._grow(self._size + 1)
            row = self._size
            self._entries.append(entry)
            self._vectors[row] = vec
            self._rows[entry.key] = row
            self._size += 1
        self._tombstones.pop(entry.key, None)
        self._faiss = None
        return True

    def remove(self, key: str, sequencer: str) -> bool:
        """Remove key's vector unless it came from a newer event; remember the deletion.

        Returns True when the index changed (a new tombstone counts: it orders later events).
        """
        if sequencer_value(sequencer) < self._newest_known(key):
            return False
        changed = self._tombstones.get(key) != sequencer
        self._tombstones[key] = sequencer
        row = self._rows.pop(key, None)
        if row is None:
            return changed
        last = self._size - 1
        if row != last:
            # Keep rows dense: move the last row into the hole.
            moved = self._entries[last]
            self._entries[row] = moved
            self._vectors[row] = self._vectors[last]
            self._rows[moved.key] = row
        self._entries.pop()
        self._size -= 1
        self._faiss = None
        return True

    def _grow(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            return
        bigger = np.empty((max(needed, 2 * capacity, 16), self.dimension), dtype=np.float32)
        bigger[: self._size] = self._vectors[: self._size]
        self._vectors = bigger

    def search(self, vector: np.ndarray, k: int) -> list[Neighbor]:
        """The k nearest gallery examples, nearest first (fewer when the gallery is smaller)."""
        if self._size == 0 or k < 1:
            return []
        if self._faiss is None:
            flat = faiss.IndexFlatL2(self.dimension)
            flat.add(np.ascontiguousarray(self._vectors[: self._size]))
            self._faiss = flat
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        squared, rows = self._faiss.search(query, min(k, self._size))
        hits = []
        for sq, row in zip(squared[0], rows[0], strict=True):
            if row < 0:
                continue
            entry = self._entries[int(row)]
            hits.append(Neighbor(entry.key, entry.label, float(np.sqrt(max(float(sq), 0.0)))))
        return hits

    def to_bytes(self) -> bytes:
        """Serialise (JSON header + raw float32 matrix; never pickle)."""
        header = json.dumps(
            {
                "format": FORMAT_VERSION,
                "model_id": self.model_id,
                "dimension": self.dimension,
                "count": self._size,
                "entries": [[e.key, e.label, e.content_hash, e.sequencer] for e in self._entries],
                "tombstones": self._tombstones,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        matrix = np.ascontiguousarray(self._vectors[: self._size], dtype="<f4").tobytes()
        return MAGIC + struct.pack("<Q", len(header)) + header + matrix

    @classmethod
    def from_bytes(cls, data: bytes) -> GalleryIndex:
        """Read back what to_bytes wrote; CorruptIndex on anything else."""
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
            raise CorruptIndex("not a docclass index snapshot")
        offset = len(MAGIC)
        (header_len,) = struct.unpack_from("<Q", data, offset)
        offset += 8
        try:
            header = json.loads(data[offset : offset + header_len].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptIndex(f"unreadable index header: {exc}") from exc
        if header.get("format") != FORMAT_VERSION:
            raise CorruptIndex(f"unsupported index format {header.get('format')!r}")
        dimension, count = int(header["dimension"]), int(header["count"])
        matrix = data[offset + header_len :]
        if len(matrix) != count * dimension * 4 or len(header["entries"]) != count:
            raise CorruptIndex("index snapshot is truncated or inconsistent")
        index = cls(dimension, header["model_id"])
        index._vectors = np.frombuffer(matrix, dtype="<f4").astype(np.float32).reshape(count, dimension)
        index._entries = [Entry(*row) for row in header["entries"]]
        index._rows = {e.key: i for i, e in enumerate(index._entries)}
        index._size = count
        index._tombstones = dict(header["tombstones"])
        return index

    @classmethod
    def build(cls, dimension: int, model_id: str, items: Iterable[tuple[Entry, np.ndarray]]) -> GalleryIndex:
        """An index holding the given entries (later items win for the same key)."""
        index = cls(dimension, model_id)
        for entry, vector in items:
            index.upsert(entry, vector)
        return index
