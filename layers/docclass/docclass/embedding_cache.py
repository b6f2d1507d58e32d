"""The embedding cache: a vector per (model, dimension, content hash) under embeddings/, never pickled."""

from __future__ import annotations

from typing import Literal

import numpy as np
from aws_lambda_powertools import Logger

from docclass.config import EMBEDDINGS_PREFIX
from docclass.embeddings import model_slug
from docclass.errors import ObjectNotFound, StorageError
from docclass.store import ObjectStore

logger = Logger(child=True)

VECTOR_DTYPE = "<f4"
CacheScope = Literal["gallery", "inbox"]
CACHE_SCOPES: tuple[CacheScope, ...] = ("gallery", "inbox")


class EmbeddingCache:
    """Vectors by (model, dimension, content hash) under embeddings/: the same bytes are paid for once.

    Two scopes, so that a lifecycle rule can expire one and keep the other:
    embeddings/gallery/... holds the vectors of gallery examples (kept: rebuilding the index reads
    them instead of calling the model again), embeddings/inbox/... those of classified documents
    (expired by template.yaml's lifecycle rule). A cache reads both scopes and writes its own; the
    gallery copies a vector it finds in the inbox scope into its own (a classified document that
    later becomes an example is not paid for again, and stays once the inbox copy expires).
    """

    def __init__(
        self, store: ObjectStore, model_id: str, dimension: int, scope: CacheScope = "gallery"
    ) -> None:
        if scope not in CACHE_SCOPES:
            raise ValueError(f"scope must be one of {CACHE_SCOPES}, got {scope!r}")
        self.store = store
        self.dimension = dimension
        self.scope = scope
        self._prefixes = {
            s: f"{EMBEDDINGS_PREFIX}{s}/{model_slug(model_id)}/{dimension}/" for s in CACHE_SCOPES
        }
        self.prefix = self._prefixes[scope]

    def key(self, content_hash: str, scope: CacheScope | None = None) -> str:
        """The cache key of a content hash (in this cache's own scope unless told)."""
        return f"{self._prefixes[scope or self.scope]}{content_hash}.f32"

    def get(self, content_hash: str) -> np.ndarray | None:
        """The cached vector from either scope, own first, or None (a damaged entry counts as a miss)."""
        own = self._read(self.key(content_hash))
        if own is not None:
            return own
        other: CacheScope = "inbox" if self.scope == "gallery" else "gallery"
        found = self._read(self.key(content_hash, other))
        if found is not None and self.scope == "gallery":
            try:
                self.put(content_hash, found)
            except StorageError as exc:  # the vector is still good; the next use pays a second GET
                logger.warning("could not keep an inbox embedding for the gallery", extra={"error": str(exc)})
        return found

    def _read(self, key: str) -> np.ndarray | None:
        try:
            obj = self.store.get(key)
        except ObjectNotFound:
            return None
        if obj is None or obj.body is None or len(obj.body) != self.dimension * 4:
            return None
        return np.frombuffer(obj.body, dtype=VECTOR_DTYPE).astype(np.float32)

    def put(self, content_hash: str, vector: np.ndarray) -> None:
        """Store a vector in this cache's scope as raw little-endian float32 (never pickle)."""
        self.store.put(self.key(content_hash), np.asarray(vector, dtype=VECTOR_DTYPE).tobytes())
