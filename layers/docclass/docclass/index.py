"""The gallery index: one unit vector per gallery key, with its label, content hash and S3 sequencer.

Pure data structure (no AWS). Identity is the gallery key, so a redelivered event is an upsert,
and every change carries the S3 `sequencer` of the event that caused it: an event older than what
the index already holds for that key (including a deletion, kept as a tombstone) is ignored.

Stored form, format 2 (no pickle): MAGIC (whose last byte is the format number), an 8-byte
little-endian header length, a UTF-8 JSON header (model, dimension, count, one list per column in
row order: keys, label ids into a label table, content hashes, sequencers; tombstones and when each
was written), zero bytes up to a multiple of 64, then the float32 little-endian matrix (count x dimension).

Why (bench/cold_start.py, bench/results/cold_start.md): a cold start's cost beyond the download
was per-row Python objects and copies of the matrix, not the encoding. So the index keeps its
columns as plain lists, searches the matrix where it lies in the downloaded bytes (a read-only
view; `faiss.knn` needs no index of its own, so nothing is built or copied), and copies the matrix
only when a writer first changes it. Format 1 (one JSON row per entry) is refused with a clear
error: no deployed index used it, and any index can be rebuilt from the gallery and the cache.
"""

from __future__ import annotations

import json
import struct
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import faiss
import numpy as np

from docclass.errors import CorruptIndex, UnknownIndexFormat

FORMAT_VERSION = 2
MAGIC_PREFIX = b"DOCCLASS-INDEX\x00"
MAGIC = MAGIC_PREFIX + bytes([FORMAT_VERSION])
_ALIGN = 64  # the matrix starts at a multiple of this offset, so float loads are aligned

# One query at a time: FAISS's extra OpenMP threads only cost. A Lambda function below 1,769 MB
# has less than one vCPU of CPU time, and threads that wait on each other burn it twice as fast
# (bench/results/scale.md, 2-core machine: 100k x 1024 in 13 ms on 1 thread, 72 ms on 2).
# docclass is the only FAISS user in the functions' processes.
faiss.omp_set_num_threads(1)


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


# Hits looked at for the candidates before the whole gallery is ranked (GalleryIndex.candidates).
CANDIDATE_HITS = 64


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
    """Vectors of gallery examples keyed by gallery key; searched exactly (brute-force L2, FAISS).

    Row r holds _keys[r], _labels[r], _hashes[r], _sequencers[r] and _vectors[r]; rows are dense
    (a removal moves the last row into the hole). _vectors may be a read-only view of the snapshot
    bytes it was read from, and is copied the first time it is written to.
    """

    def __init__(self, dimension: int, model_id: str) -> None:
        self.dimension = dimension
        self.model_id = model_id
        self._keys: list[str] = []
        self._labels: list[str] = []
        self._hashes: list[str] = []
        self._sequencers: list[str] = []
        self._rows: dict[str, int] = {}
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        self._size = 0
        self._tombstones: dict[str, str] = {}
        # When each tombstone was written (Unix seconds), so old ones can be pruned.
        self._tombstone_times: dict[str, float] = {}

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def get(self, key: str) -> Entry | None:
        """The entry for a gallery key, or None."""
        row = self._rows.get(key)
        return None if row is None else self._entry(row)

    def _entry(self, row: int) -> Entry:
        return Entry(self._keys[row], self._labels[row], self._hashes[row], self._sequencers[row])

    def vector(self, key: str) -> np.ndarray:
        """A copy of the stored vector of a gallery key (KeyError if absent)."""
        return self._vectors[self._rows[key]].copy()

    def entries(self) -> Iterator[Entry]:
        """Every entry, in row order."""
        return (self._entry(row) for row in range(self._size))

    def labels(self) -> dict[str, int]:
        """Vectors per label."""
        return dict(sorted(Counter(self._labels).items()))

    def newest_sequencer(self, key: str) -> str:
        """The newest sequencer the index knows for key (its entry's or its tombstone's; "" if none).

        A notification that restates an object's current state (docclass reindex) carries it: it
        is then applied over what the index knows, and any later S3 event of the key still wins.
        """
        row = self._rows.get(key)
        known = [self._sequencers[row]] if row is not None else []
        if key in self._tombstones:
            known.append(self._tombstones[key])
        return max(known, key=sequencer_value, default="")

    def _newest_known(self, key: str) -> int:
        row = self._rows.get(key)
        seen = [sequencer_value(self._sequencers[row])] if row is not None else []
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
            if self._entry(row) == entry and np.array_equal(self._vectors[row], vec):
                return False
            self._writable()[row] = vec
        else:
            self._grow(self._size + 1)
            row = self._size
            self._keys.append(entry.key)
            self._labels.append("")
            self._hashes.append("")
            self._sequencers.append("")
            self._vectors[row] = vec
            self._rows[entry.key] = row
            self._size += 1
        self._labels[row] = entry.label
        self._hashes[row] = entry.content_hash
        self._sequencers[row] = entry.sequencer
        self._tombstones.pop(entry.key, None)
        self._tombstone_times.pop(entry.key, None)
        return True

    def remove(self, key: str, sequencer: str, *, at: float | None = None) -> bool:
        """Remove key's vector unless it came from a newer event; remember the deletion (at: when,
        Unix seconds, now by default).

        Returns True when the index changed (a new tombstone counts: it orders later events).
        """
        if sequencer_value(sequencer) < self._newest_known(key):
            return False
        changed = self._tombstones.get(key) != sequencer
        self._tombstones[key] = sequencer
        if changed or key not in self._tombstone_times:
            self._tombstone_times[key] = time.time() if at is None else at
        row = self._rows.pop(key, None)
        if row is None:
            return changed
        last = self._size - 1
        if row != last:
            # Keep rows dense: move the last row into the hole.
            self._writable()[row] = self._vectors[last]
            for column in (self._keys, self._labels, self._hashes, self._sequencers):
                column[row] = column[last]
            self._rows[self._keys[row]] = row
        for column in (self._keys, self._labels, self._hashes, self._sequencers):
            column.pop()
        self._size -= 1
        return True

    def tombstones(self) -> dict[str, str]:
        """The remembered deletions: gallery key -> sequencer of the delete event."""
        return dict(self._tombstones)

    def prune_tombstones(self, before: float) -> int:
        """Forget deletions recorded before this time (Unix seconds); returns how many were dropped."""
        old = [key for key, at in self._tombstone_times.items() if at < before]
        for key in old:
            del self._tombstone_times[key]
            del self._tombstones[key]
        return len(old)

    def _writable(self) -> np.ndarray:
        """The matrix, copied first if it is still the read-only view of a snapshot's bytes."""
        if not self._vectors.flags.writeable:
            self._vectors = self._vectors.copy()
        return self._vectors

    def _grow(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            self._writable()
            return
        bigger = np.empty((max(needed, 2 * capacity, 16), self.dimension), dtype=np.float32)
        bigger[: self._size] = self._vectors[: self._size]
        self._vectors = bigger

    def search(self, vector: np.ndarray, k: int) -> list[Neighbor]:
        """The k nearest gallery examples, nearest first (fewer when the gallery is smaller)."""
        if self._size == 0 or k < 1:
            return []
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dimension:
            raise ValueError(f"query has {query.shape[1]} dimensions, index has {self.dimension}")
        # The same exhaustive L2 kernel IndexFlatL2.search runs, on the matrix in place.
        squared, rows = faiss.knn(query, self._vectors[: self._size], min(k, self._size))
        hits = []
        for sq, row in zip(squared[0], rows[0], strict=True):
            if row < 0:
                continue
            r = int(row)
            hits.append(Neighbor(self._keys[r], self._labels[r], float(np.sqrt(max(float(sq), 0.0)))))
        return hits

    def candidates(self, vector: np.ndarray, count: int = 3) -> list[Neighbor]:
        """The nearest example of each of the `count` nearest distinct labels, nearest first.

        The first 64 hits usually hold that many labels; only when they do not (a label with many
        examples all nearer than the next label's) is the whole gallery ranked.
        """
        if count < 1:
            return []
        k = min(self._size, CANDIDATE_HITS)
        while True:
            best: dict[str, Neighbor] = {}
            for hit in self.search(vector, k):
                best.setdefault(hit.label, hit)
                if len(best) == count:
                    return list(best.values())
            if k >= self._size or len(best) >= len(set(self._labels)):
                return list(best.values())  # every label there is was found
            k = self._size

    def to_bytes(self) -> bytes:
        """Serialise (format 2: JSON header of columns + aligned raw float32 matrix; never pickle)."""
        label_ids: dict[str, int] = {}
        ids = [label_ids.setdefault(label, len(label_ids)) for label in self._labels]
        header = json.dumps(
            {
                "format": FORMAT_VERSION,
                "model_id": self.model_id,
                "dimension": self.dimension,
                "count": self._size,
                "keys": self._keys,
                "label_names": list(label_ids),
                "labels": ids,
                "hashes": self._hashes,
                "sequencers": self._sequencers,
                "tombstones": self._tombstones,
                "tombstone_times": self._tombstone_times,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        head = len(MAGIC) + 8 + len(header)
        matrix = np.ascontiguousarray(self._vectors[: self._size], dtype="<f4").reshape(-1).view(np.uint8)
        # One copy of the matrix: join reads the array's buffer directly.
        return b"".join([MAGIC, struct.pack("<Q", len(header)), header, bytes(-head % _ALIGN), matrix])

    @classmethod
    def from_bytes(cls, data: bytes) -> GalleryIndex:
        """Read back what to_bytes wrote; CorruptIndex on anything else.

        The matrix is not copied: the index searches a read-only view of `data` (bytes are immutable).
        """
        if not data.startswith(MAGIC_PREFIX) or len(data) < len(MAGIC) + 8:
            raise CorruptIndex("not a docclass index snapshot")
        version = data[len(MAGIC_PREFIX)]
        if version != FORMAT_VERSION:
            raise UnknownIndexFormat(
                f"unsupported index format {version} (this code reads format {FORMAT_VERSION}), "
                "written by another docclass version: deploy that version, or start a new index"
            )
        offset = len(MAGIC)
        (header_len,) = struct.unpack_from("<Q", data, offset)
        offset += 8
        try:
            header = json.loads(data[offset : offset + header_len].decode("utf-8"))
            if header.get("format") != FORMAT_VERSION:
                raise UnknownIndexFormat(f"unsupported index format {header.get('format')!r}")
            dimension, count = int(header["dimension"]), int(header["count"])
            names = header["label_names"]
            labels = [names[i] for i in header["labels"]]
            columns = [header["keys"], labels, header["hashes"], header["sequencers"]]
            tombstones = dict(header["tombstones"])
            # Snapshots written before tombstones had times: count their age from now.
            loaded_at = time.time()
            times = {key: float(header.get("tombstone_times", {}).get(key, loaded_at)) for key in tombstones}
            model_id = str(header["model_id"])
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise CorruptIndex(f"unreadable index header: {exc}") from exc
        start = offset + header_len
        start += -start % _ALIGN
        if (
            dimension < 1
            or len(data) != start + count * dimension * 4
            or any(len(c) != count for c in columns)
        ):
            raise CorruptIndex("index snapshot is truncated or inconsistent")
        index = cls(dimension, model_id)
        matrix = np.frombuffer(data, dtype="<f4", offset=start).reshape(count, dimension)
        matrix.flags.writeable = False  # even over a bytearray: writers copy first (_writable)
        index._vectors = matrix
        index._keys, index._labels, index._hashes, index._sequencers = columns
        index._rows = {key: row for row, key in enumerate(index._keys)}
        if len(index._rows) != count:
            raise CorruptIndex("index snapshot holds a key twice")
        index._size = count
        index._tombstones = tombstones
        index._tombstone_times = times
        return index

    @classmethod
    def build(cls, dimension: int, model_id: str, items: Iterable[tuple[Entry, np.ndarray]]) -> GalleryIndex:
        """An index holding the given entries (later items win for the same key)."""
        index = cls(dimension, model_id)
        for entry, vector in items:
            index.upsert(entry, vector)
        return index
