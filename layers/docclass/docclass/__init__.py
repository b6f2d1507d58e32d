"""docclass: classify document images by their nearest labelled example (embeddings + FAISS on S3).

The public surface is what this module names; everything else is private to the package.
"""

from docclass.classify import Classifier, Outcome
from docclass.config import Settings
from docclass.decide import decide
from docclass.embeddings import Embedder, l2_normalise
from docclass.errors import (
    ConfigError,
    DocclassError,
    DocumentTooLarge,
    EmbeddingMisconfigured,
    EmbeddingRejected,
    EmbeddingThrottled,
    EmbeddingUnavailable,
    IndexConflict,
    InvalidDocument,
    InvalidGalleryKey,
    MessageDeferred,
    ObjectNotFound,
    ObjectUnreadable,
    PreconditionFailed,
    StorageError,
    UnreadableImage,
)
from docclass.events import S3Change, iter_changes, process_event
from docclass.gallery import GalleryIndexer
from docclass.index import Entry, GalleryIndex, Neighbor
from docclass.index_store import EmbeddingCache, IndexRepository
from docclass.routing import Decision
from docclass.services import (
    build_classifier,
    build_gallery_indexer,
    classifier,
    gallery_indexer,
    make_embedder,
)
from docclass.store import ObjectStore

__all__ = [
    "Classifier",
    "ConfigError",
    "Decision",
    "DocclassError",
    "DocumentTooLarge",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingMisconfigured",
    "EmbeddingRejected",
    "EmbeddingThrottled",
    "EmbeddingUnavailable",
    "Entry",
    "GalleryIndex",
    "GalleryIndexer",
    "IndexConflict",
    "IndexRepository",
    "InvalidDocument",
    "InvalidGalleryKey",
    "MessageDeferred",
    "Neighbor",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectUnreadable",
    "Outcome",
    "PreconditionFailed",
    "S3Change",
    "Settings",
    "StorageError",
    "UnreadableImage",
    "build_classifier",
    "build_gallery_indexer",
    "classifier",
    "decide",
    "gallery_indexer",
    "iter_changes",
    "l2_normalise",
    "make_embedder",
    "process_event",
]
