"""Embedders: one interface, `embed(image) -> unit vector`, for Bedrock models and the offline stand-in."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from docclass.models import PageLimits

# The page size of embedders that name no limits of their own: Titan's 2048 px (docclass.models).
DEFAULT_LIMITS = PageLimits(max_side=2048)


@runtime_checkable
class Embedder(Protocol):
    """Turns a normalised RGB page (see docclass.images) into an L2-normalised float32 vector."""

    model_id: str
    dimension: int

    def embed(self, image: Image.Image) -> np.ndarray:
        """Return a float32 vector of shape (dimension,) with unit L2 norm."""
        ...


def page_limits(embedder: Embedder) -> PageLimits:
    """The largest page the embedder's model looks at (`limits`, if it names them): pages are drawn
    to fit it, so no pixel is sent that the model would throw away."""
    limits = getattr(embedder, "limits", None)
    return limits if isinstance(limits, PageLimits) else DEFAULT_LIMITS


def l2_normalise(vector: np.ndarray) -> np.ndarray:
    """Scale to unit length (float32) so L2 distance and cosine similarity rank alike."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("cannot normalise a zero or non-finite vector")
    return v / norm


def model_slug(model_id: str) -> str:
    """A model id as one S3 key segment: the index and the embedding cache keep each model apart."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)
