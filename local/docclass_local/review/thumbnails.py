"""Thumbnails of documents and gallery examples: the first page, drawn server-side as a small JPEG.

Cached in memory by (key, ETag), least recently used first out: the page names the ETag in each
thumbnail's URL, so a cached thumbnail costs no S3 request and a replaced object gets a new one.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from docclass.errors import DocclassError
from docclass.pages import open_document
from docclass.store import ObjectStore

THUMBNAIL_SIDE = 220  # pixels, the longer side
# Objects larger than this are not downloaded for a thumbnail (the row says "no preview").
MAX_THUMBNAIL_SOURCE_BYTES = 50 * 1024 * 1024
CACHE_ENTRIES = 512  # at about 10 KB a thumbnail, a few MB


class Thumbnails:
    """JPEG thumbnails of one bucket's objects, LRU-cached by key and ETag; thread-safe."""

    def __init__(
        self, store: ObjectStore, *, side: int = THUMBNAIL_SIDE, entries: int = CACHE_ENTRIES
    ) -> None:
        self.store = store
        self.side = side
        self.entries = entries
        self._cache: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many thumbnails were drawn (not served from the cache)

    def get(self, key: str, etag: str = "") -> bytes | None:
        """The thumbnail of key (None: no preview: unreadable, too large or gone)."""
        etag = etag.strip('"')
        if etag:
            with self._lock:
                if (key, etag) in self._cache:
                    self._cache.move_to_end((key, etag))
                    return self._cache[(key, etag)]
        try:
            stored = self.store.get(key, max_bytes=MAX_THUMBNAIL_SOURCE_BYTES)
        except DocclassError:
            return None
        if stored is None:
            return None
        data = self._draw(stored.body) if stored.body is not None else None
        with self._lock:
            self._cache[(key, stored.etag.strip('"'))] = data
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return data

    def _draw(self, body: bytes) -> bytes | None:
        try:
            first = open_document(body).page(1)
        except (DocclassError, OSError, ValueError):
            return None
        self.renders += 1
        first = first.convert("RGB")
        first.thumbnail((self.side, self.side))
        out = io.BytesIO()
        first.save(out, format="JPEG", quality=80)
        return out.getvalue()
