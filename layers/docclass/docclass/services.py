"""Wiring: build the services from Settings, once per container (handlers call these factories)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from docclass import invocation, memory
from docclass.classify import Classifier
from docclass.config import Settings
from docclass.document_embedder import DocumentEmbedder
from docclass.embedding_cache import CacheScope, EmbeddingCache
from docclass.embeddings import Embedder
from docclass.errors import ConfigError
from docclass.gallery import GalleryIndexer
from docclass.index_store import IndexRepository
from docclass.memory import MemoryBudget
from docclass.store import ObjectStore


def make_embedder(settings: Settings) -> Embedder:
    """The configured model on Bedrock (docclass.models), or the offline stand-in when EMBEDDER=local."""
    if settings.embedder == "local":
        from docclass.local_embedder import LocalEmbedder

        return LocalEmbedder(dimension=settings.dimension)
    from docclass.bedrock import BedrockEmbedder

    return BedrockEmbedder(settings.model_id, settings.dimension, options=settings.model_options)


def _parts(
    settings: Settings, store: ObjectStore, scope: CacheScope, budget: MemoryBudget
) -> tuple[DocumentEmbedder, IndexRepository]:
    embedder = make_embedder(settings)
    cache = EmbeddingCache(store, embedder.model_id, embedder.dimension, scope)
    return (
        DocumentEmbedder(embedder, cache, budget=budget),
        IndexRepository(store, embedder.model_id, embedder.dimension),
    )


def build_gallery_indexer(settings: Settings, store: ObjectStore | None = None) -> GalleryIndexer:
    """A GalleryIndexer for these settings; with NEXT_EMBEDDING_MODEL_ID, one that also keeps the
    next model's index (see GalleryIndexer._keep_next_index)."""
    store = store or ObjectStore(settings.bucket)
    budget = memory.gallery_budget(settings.memory_mb, settings.gallery_embed_concurrency)
    embedder, repository = _parts(settings, store, "gallery", budget)

    def indexer(
        parts: tuple[DocumentEmbedder, IndexRepository], following: GalleryIndexer | None
    ) -> GalleryIndexer:
        return GalleryIndexer(
            store,
            *parts,
            embed_concurrency=settings.gallery_embed_concurrency,
            budget=invocation.gallery_budget(settings),
            gallery_pages=settings.gallery_pages,
            next_indexer=following,
        )

    next_indexer = None
    if settings.next_model_id:
        following = replace(
            settings,
            model_id=settings.next_model_id,
            dimension=settings.next_dimension,
            model_options=settings.next_model_options,
        )
        next_parts = _parts(following, store, "gallery", budget)
        if next_parts[1].root == repository.root:
            raise ConfigError(
                f"the next index ({settings.next_model_id} at {settings.next_dimension}) is the live one; "
                "set NextEmbeddingModelId, NextEmbeddingDimension or a Next* option to another model, "
                "dimension or option, or NextEmbeddingModelId empty"
            )
        next_indexer = indexer(next_parts, None)
    return indexer((embedder, repository), next_indexer)


def build_classifier(settings: Settings, store: ObjectStore | None = None) -> Classifier:
    """A Classifier for these settings."""
    store = store or ObjectStore(settings.bucket)
    embedder, repository = _parts(settings, store, "inbox", memory.classify_budget(settings.memory_mb))
    return Classifier(
        store,
        embedder,
        repository,
        neighbor_count=settings.neighbor_count,
        max_distance=settings.max_distance,
        refresh_seconds=settings.index_refresh_seconds,
        budget=invocation.classify_budget(settings),
        max_pages=settings.max_pages,
        split_packets=settings.split_packets,
        review_margin=settings.review_margin,
    )


@lru_cache(maxsize=1)
def gallery_indexer() -> GalleryIndexer:
    """The container's GalleryIndexer, built from the environment on first use."""
    return build_gallery_indexer(Settings.from_env())


@lru_cache(maxsize=1)
def classifier() -> Classifier:
    """The container's Classifier (and its in-memory index), built from the environment on first use."""
    return build_classifier(Settings.from_env())
