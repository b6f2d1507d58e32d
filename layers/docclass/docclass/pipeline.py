"""Bytes to vector: hash, embedding cache, image normalisation and the embedder, in that order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from aws_lambda_powertools import Logger

from docclass.embeddings import Embedder
from docclass.errors import StorageError
from docclass.images import load_image
from docclass.index_store import EmbeddingCache
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


class DocumentEmbedder:
    """Embeds document bytes; the same bytes never reach the model twice (cache under embeddings/)."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache | None = None) -> None:
        self.embedder = embedder
        self.cache = cache

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
        vector = self.embedder.embed(load_image(data))
        if self.cache is not None:
            try:
                self.cache.put(digest, vector)
            except StorageError as exc:  # the vector is still good; we only lose the saving next time
                logger.warning("could not cache embedding", extra={"error": str(exc)})
        return Embedded(vector, digest, False)
