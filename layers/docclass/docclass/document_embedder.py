"""Document bytes to vectors: content hash, embedding cache, image normalisation, then the model.

A plain image is one vector, keyed by the SHA-256 of its bytes. A PDF or a multi-page TIFF is one
vector per page (docclass.pages), each keyed by the SHA-256 of the page's pixels as rendered, so
the same page is never paid for twice, in whatever document it comes again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from aws_lambda_powertools import Logger
from PIL import Image

from docclass.embedding_cache import EmbeddingCache
from docclass.embeddings import Embedder, page_limits
from docclass.errors import StorageError
from docclass.images import load_image
from docclass.memory import MemoryBudget
from docclass.observability import tracer
from docclass.pages import DocumentKind, embed_pages, open_document

logger = Logger(child=True)


@dataclass(frozen=True)
class Embedded:
    """A document's vector, the SHA-256 of its bytes, and whether the cache already had it."""

    vector: np.ndarray
    content_hash: str
    cache_hit: bool


@dataclass(frozen=True)
class EmbeddedPage:
    """One page looked at: its number (from 1), and its vector, or None for a near-blank page."""

    number: int
    embedded: Embedded | None


@dataclass(frozen=True)
class EmbeddedDocument:
    """A document's pages as the embedder saw them: how many it has, and those looked at, in order."""

    kind: DocumentKind
    page_count: int
    pages: tuple[EmbeddedPage, ...]

    @property
    def embedded(self) -> list[tuple[int, Embedded]]:
        """(page number, vector) of every embedded page."""
        return [(p.number, p.embedded) for p in self.pages if p.embedded is not None]

    @property
    def blank_pages(self) -> list[int]:
        """The numbers of the near-blank pages, which were not embedded."""
        return [p.number for p in self.pages if p.embedded is None]


def content_hash(data: bytes) -> str:
    """SHA-256 of the object's bytes, hex: the embedding cache key."""
    return hashlib.sha256(data).hexdigest()


def page_hash(page: Image.Image) -> str:
    """SHA-256 of a rendered page's size and RGB pixels, hex: the cache key of one page."""
    digest = hashlib.sha256(f"docclass-page:{page.mode}:{page.size[0]}x{page.size[1]}:".encode())
    digest.update(page.tobytes())
    return digest.hexdigest()


class _Pending:
    """The outcome of one model call that other threads wait for (a vector, or the call's error)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None

    def result(self) -> np.ndarray:
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.vector is not None
        return self.vector


class DocumentEmbedder:
    """Embeds document bytes; the same bytes never reach the model twice (cache under embeddings/).

    Thread-safe: the gallery embeds a batch on several threads. Two threads holding the same bytes
    at once (one image uploaded under two names in one batch) make one model call; the second
    waits for the first's vector, or its error, and counts as a cache hit.
    """

    def __init__(
        self, embedder: Embedder, cache: EmbeddingCache | None = None, *, budget: MemoryBudget | None = None
    ) -> None:
        self.embedder = embedder
        self.cache = cache
        self.budget = budget  # what one document may take to decode (None: no limit but MAX_PIXELS)
        self._lock = threading.Lock()
        self._in_flight: dict[str, _Pending] = {}

    @property
    def model_id(self) -> str:
        """The model that produced the vectors."""
        return self.embedder.model_id

    @tracer.capture_method
    def embed(self, data: bytes) -> Embedded:
        """Vector of an image document; raises InvalidDocument subclasses for bad input."""
        limits = page_limits(self.embedder)
        return self._embed(
            content_hash(data),
            lambda: load_image(
                data, budget=self.budget, max_side=limits.max_side, max_pixels=limits.max_pixels
            ),
        )

    def embed_page(self, page: Image.Image) -> Embedded:
        """Vector of one rendered page (already an RGB image within the model's limits)."""
        return self._embed(page_hash(page), lambda: page)

    @tracer.capture_method
    def embed_document(
        self, data: bytes, *, max_pages: int = 1, before_page: Callable[[int], None] | None = None
    ) -> EmbeddedDocument:
        """Vectors of the document's first max_pages pages, near-blank pages skipped.

        A plain image is embedded exactly as embed() does. Of a PDF or a multi-page TIFF, each page
        up to max_pages is rendered in turn and embedded unless near-blank; if every page looked at
        is near-blank, the first is embedded anyway, so that the document is decided as a single
        image would be. before_page(n) runs before page n > 1 is rendered: it may raise to stop
        (the pages embedded so far stay in the cache).
        """
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        limits = page_limits(self.embedder)
        with open_document(
            data, budget=self.budget, max_side=limits.max_side, max_pixels=limits.max_pixels
        ) as document:
            if document.kind == "image":
                return EmbeddedDocument("image", 1, (EmbeddedPage(1, self.embed(data)),))
            pages = embed_pages(document, max_pages, self.embed_page, before_page)
            return EmbeddedDocument(
                document.kind, document.page_count, tuple(EmbeddedPage(n, e) for n, e in pages)
            )

    def _embed(self, digest: str, image: Callable[[], Image.Image]) -> Embedded:
        """The cached vector of digest, or one model call on image(); one call for one digest at once."""
        if self.cache is not None:
            cached = self.cache.get(digest)
            if cached is not None:
                return Embedded(cached, digest, True)
        with self._lock:
            pending = self._in_flight.get(digest)
            owner = pending is None
            if pending is None:
                pending = self._in_flight[digest] = _Pending()
        if not owner:
            return Embedded(pending.result(), digest, True)
        try:
            pending.vector = self.embedder.embed(image())
        except BaseException as exc:
            pending.error = exc
            raise
        finally:
            with self._lock:
                del self._in_flight[digest]
            pending.done.set()
        if self.cache is not None:
            try:
                self.cache.put(digest, pending.vector)
            except StorageError as exc:  # the vector is still good; we only lose the saving next time
                logger.warning("could not cache embedding", extra={"error": str(exc)})
        return Embedded(pending.vector, digest, False)
