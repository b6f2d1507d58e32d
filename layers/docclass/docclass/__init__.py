"""docclass: classify document images by their nearest labelled example (embeddings + FAISS on S3).

What a caller needs, and nothing more: the two handlers' services (`classifier`, `gallery_indexer`),
the builders that take explicit settings and clients, what they return, and the root of the
error tree. Everything else is reached by its module (`docclass.index`, `docclass.routing`, ...).

The names load on first use (PEP 562), so `import docclass.config` or `import docclass.routing`
does not pull in FAISS, NumPy or Pillow: the CLI's light commands stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docclass.classify import Classifier, Outcome
    from docclass.config import Settings
    from docclass.errors import DocclassError
    from docclass.gallery import GalleryIndexer
    from docclass.services import build_classifier, build_gallery_indexer, classifier, gallery_indexer

_HOMES = {
    "classifier": "docclass.services",
    "gallery_indexer": "docclass.services",
    "build_classifier": "docclass.services",
    "build_gallery_indexer": "docclass.services",
    "Classifier": "docclass.classify",
    "Outcome": "docclass.classify",
    "GalleryIndexer": "docclass.gallery",
    "Settings": "docclass.config",
    "DocclassError": "docclass.errors",
}

__all__ = [
    "Classifier",
    "DocclassError",
    "GalleryIndexer",
    "Outcome",
    "Settings",
    "build_classifier",
    "build_gallery_indexer",
    "classifier",
    "gallery_indexer",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'docclass' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
