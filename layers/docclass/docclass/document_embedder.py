"""Document bytes to a vector: content hash, embedding cache, image normalisation, then the model."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
from aws_lambda_powertools import Logger

from docclass.embedding_cache import EmbeddingCache
from docclass.embeddings import Embedder
from docclass.errors import StorageError
from docclass.images import load_image
from docclass.memory import MemoryBudget
from docclass.observability import tracer

logger = Logger(child=True)


@dataclass(frozen=True)
class Embedded:
    """A document's vector, the SHA-256 of its bytes, and whether the cache already had it."""

    vector: np.ndarray
    content_hash: str
    cache_hit: bool


def content_hash(data: bytes) -> str:
    """SHA-256 of the object's bytes, hex: the embedding cache key."""
    return hashlib.sha256(data).hexdigest()


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
        """Vector of the document; raises InvalidDocument subclasses for bad input."""
        digest = content_hash(data)
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
            pending.vector = self.embedder.embed(load_image(data, budget=self.budget))
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
