"""Thumbnails of documents and gallery examples: one page, drawn server-side as a small JPEG.

Cached in memory by (key, ETag, page), least recently used first out: the page names the ETag in
each thumbnail's URL (documents and candidate examples alike), so a cached thumbnail costs no S3
request and a replaced object gets a new URL, hence a new thumbnail.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict

from docclass.errors import DocclassError
from docclass.pages import open_document
from docclass.store import ObjectStore

THUMBNAIL_SIDE = 220  # pixels, the longer side
# A PDF page is rendered this many times the thumbnail's side, then reduced: sharp enough, and far
# less work for PDFium than the model's 2,048 px.
RENDER_FACTOR = 4
# Objects larger than this are not downloaded for a thumbnail (the row says "no preview").
MAX_THUMBNAIL_SOURCE_BYTES = 50 * 1024 * 1024
CACHE_ENTRIES = 512  # at about 10 KB a thumbnail, a few MB
# A gallery page id, as the index and docclass-candidate-examples name page N (from 2) of an example.
_PAGE_ID = re.compile(r"^(?P<key>.+)#page=(?P<page>[1-9][0-9]{0,4})$")


def split_page_id(example: str) -> tuple[str, int]:
    """(key, page) of a gallery key or page id: "gallery/x.pdf#page=2" -> ("gallery/x.pdf", 2)."""
    found = _PAGE_ID.match(example)
    if found is None:
        return example, 1
    return found.group("key"), int(found.group("page"))


class Thumbnails:
    """JPEG thumbnails of one bucket's objects, LRU-cached by key, ETag and page; thread-safe."""

    def __init__(
        self, store: ObjectStore, *, side: int = THUMBNAIL_SIDE, entries: int = CACHE_ENTRIES
    ) -> None:
        self.store = store
        self.side = side
        self.entries = entries
        self._cache: OrderedDict[tuple[str, str, int], bytes | None] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many thumbnails were drawn (not served from the cache)

    def get(self, key: str, etag: str = "", page: int = 1) -> bytes | None:
        """The thumbnail of page `page` of key (None: no preview: unreadable, too large, no such
        page, or gone)."""
        etag = etag.strip('"')
        if etag:
            with self._lock:
                if (key, etag, page) in self._cache:
                    self._cache.move_to_end((key, etag, page))
                    return self._cache[(key, etag, page)]
        try:
            stored = self.store.get(key, max_bytes=MAX_THUMBNAIL_SOURCE_BYTES)
        except DocclassError:
            return None
        if stored is None:
            return None
        data = self._draw(stored.body, page) if stored.body is not None else None
        with self._lock:
            self._cache[(key, stored.etag.strip('"'), page)] = data
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return data

    def _draw(self, body: bytes, number: int) -> bytes | None:
        try:
            # `with`: a PDF's temporary copy and its open document in the PDFium worker are released.
            with open_document(body, max_side=self.side * RENDER_FACTOR) as document:
                if number > document.page_count:
                    return None
                picture = document.page(number)
        except (DocclassError, OSError, ValueError):
            return None
        self.renders += 1
        picture = picture.convert("RGB")
        picture.thumbnail((self.side, self.side))
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=80)
        return out.getvalue()
