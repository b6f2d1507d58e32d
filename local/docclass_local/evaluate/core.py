"""The evaluation itself: collect labelled files, embed them, classify each against the gallery."""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from docclass.decide import CANDIDATE_COUNT, Candidate, Decision, PageDecision, decide, decide_pages
from docclass.document_embedder import content_hash
from docclass.embeddings import Embedder, page_limits
from docclass.errors import InvalidDocument
from docclass.images import load_image
from docclass.index import CANDIDATE_HITS, Entry, GalleryIndex
from docclass.pages import embed_pages, open_document
from docclass_local.progress import Progress

# (label, key, vector): one labelled document, as the core takes it.
Sample = tuple[str, str, np.ndarray]

# A page of a multi-page query is scored as "<file>#page=N".
PAGE_MARK = "#page="
THUMBNAIL_BOX = (160, 220)  # px; a letter-size page comes out 160 x 207
THUMBNAIL_QUALITY = 75


@dataclass(frozen=True)
class QueryResult:
    """How one document was classified.

    `answer` is the label decide() picks before MaxDistance applies (None only when there was
    nothing to compare with); `predicted` is what the service would do: the answer, or None
    (unclassified) when the distance is beyond MaxDistance.
    """

    key: str
    label: str
    predicted: str | None
    distance: float | None
    neighbor: str | None
    answer: str | None
    # The nearest example of each of the nearest distinct labels, as the service writes them.
    candidates: tuple[Candidate, ...] = ()

    @property
    def decision(self) -> Decision:
        """The outcome as the service would record it (docclass-label, -distance, -candidates)."""
        return Decision(self.predicted, self.distance, self.neighbor, "", self.candidates)

    @property
    def margin(self) -> float | None:
        """docclass-margin: the nearest other label's distance less the chosen label's."""
        return self.decision.margin

    @property
    def correct(self) -> bool:
        """Given the right label (an unclassified document is never correct)."""
        return self.predicted is not None and self.predicted == self.label

    @property
    def answer_correct(self) -> bool:
        """The label before MaxDistance is the right one."""
        return self.answer is not None and self.answer == self.label


@dataclass(frozen=True)
class EvalResult:
    """Every query's outcome, with the settings and the gallery they were obtained with."""

    mode: str  # "loo" or "queries"
    k: int
    max_distance: float | None
    gallery_labels: dict[str, int]
    results: tuple[QueryResult, ...]


def evaluate(
    gallery: Sequence[Sample],
    queries: Sequence[Sample] | None = None,
    k: int = 1,
    max_distance: float | None = None,
) -> EvalResult:
    """Classify each query against the gallery, or (queries=None) each gallery item against the rest.

    Vectors are used as given (the embedders return unit vectors). Gallery keys must be unique:
    in leave-one-out a document is left out by its key, never by its content.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if max_distance is not None and not (math.isfinite(max_distance) and max_distance >= 0):
        raise ValueError(f"max_distance must be None or a finite number >= 0, got {max_distance}")
    if not gallery:
        raise ValueError("the gallery is empty")
    dimension = int(np.asarray(gallery[0][2]).size)
    index = GalleryIndex(dimension, model_id="eval")
    label_of: dict[str, str] = {}
    for label, key, vector in gallery:
        if key in label_of:
            raise ValueError(f"duplicate gallery key {key!r}")
        label_of[key] = label
        index.upsert(Entry(key, label, content_hash="", sequencer=""), vector)

    labels = len(set(label_of.values()))

    def classify(label: str, key: str, vector: np.ndarray, leave_out: str | None) -> QueryResult:
        # The k nearest and the candidates come from one search, as deep as GalleryIndex.candidates
        # looks first, and over the whole gallery only when that finds too few labels. The document
        # itself is dropped by key, not by distance, which keeps an identical file stored under
        # another key.
        depth = min(len(label_of), max(k + 1, CANDIDATE_HITS))
        while True:
            ranked = [hit for hit in index.search(vector, depth) if hit.key != leave_out]
            if depth == len(label_of) or len({hit.label for hit in ranked}) >= min(CANDIDATE_COUNT, labels):
                break
            depth = len(label_of)
        decision = decide(ranked[:k], max_distance)
        nearest: dict[str, Candidate] = {}
        for hit in ranked:
            if len(nearest) == CANDIDATE_COUNT:
                break
            nearest.setdefault(hit.label, Candidate(hit.label, hit.distance, hit.key))
        answer = label_of[decision.neighbor] if decision.neighbor is not None else None
        return QueryResult(
            key, label, decision.label, decision.distance, decision.neighbor, answer, tuple(nearest.values())
        )

    if queries is None:
        results = [classify(label, key, vector, key) for label, key, vector in gallery]
        mode = "loo"
    else:
        results = [classify(label, key, vector, None) for label, key, vector in queries]
        mode = "queries"
    return EvalResult(mode, k, max_distance, dict(sorted(Counter(label_of.values()).items())), tuple(results))


@dataclass(frozen=True)
class Document:
    """One file of a labelled folder: its label (the top folder), key (path from the root) and path."""

    label: str
    key: str
    path: Path


@dataclass
class Embedded:
    """A file's vector, or why it has none; its content hash and, for the HTML report, a thumbnail."""

    content_hash: str | None
    vector: np.ndarray | None = None
    error: str | None = None
    thumbnail: bytes | None = None


def collect(root: Path) -> tuple[list[Document], list[str]]:
    """The files under root/<label>/ (any depth, hidden names skipped), sorted by key.

    Also returns the names of files lying directly in root, which have no label.
    """
    documents: list[Document] = []
    stray: list[str] = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith("."):
            continue
        if folder.is_file():
            stray.append(folder.name)
            continue
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            inside = path.relative_to(folder).parts
            if any(part.startswith(".") for part in inside) or not path.is_file():
                continue
            documents.append(Document(folder.name, path.relative_to(root).as_posix(), path))
    return documents, stray


def embed_documents(
    documents: Sequence[Document],
    embedder: Embedder,
    *,
    thumbnails: bool = False,
    max_pages: Sequence[int] | None = None,
) -> list[tuple[Document, Embedded]]:
    """Embed every file once per distinct content (cache by SHA-256 within the run), in order.

    A PDF or multi-page TIFF gives one (document, vector) pair per page, as the service embeds it:
    pages up to max_pages[i] (1 for a gallery example, MaxPages for a query), near-blank pages
    skipped unless all are; page N's key is `<key>#page=N`. Unreadable files and inputs the model
    refuses get an error instead of a vector; an unavailable model (EmbeddingUnavailable,
    ConfigError) stops the run by raising.
    """
    cache: dict[tuple[str, int], list[tuple[int, Embedded]]] = {}
    out: list[tuple[Document, Embedded]] = []
    limits = list(max_pages) if max_pages is not None else [1] * len(documents)
    with Progress(len(documents), "embedding") as progress:
        for document, limit in zip(documents, limits, strict=True):
            try:
                data = document.path.read_bytes()
            except OSError as exc:
                out.append((document, Embedded(None, error=f"cannot read the file: {exc.strerror or exc}")))
                progress.advance()
                continue
            digest = content_hash(data)
            if (digest, limit) not in cache:
                cache[(digest, limit)] = _embed_pages(data, digest, embedder, thumbnails, limit)
            pages = cache[(digest, limit)]
            for number, embedded in pages:
                key = (
                    document.key if len(pages) == 1 and number == 1 else f"{document.key}{PAGE_MARK}{number}"
                )
                out.append((Document(document.label, key, document.path), embedded))
            progress.advance()
    return out


def _embed_pages(
    data: bytes, digest: str, embedder: Embedder, thumbnail: bool, max_pages: int
) -> list[tuple[int, Embedded]]:
    """(page number, vector or error) of each page embedded, as DocumentEmbedder picks them."""
    try:
        limits = page_limits(embedder)
        with open_document(data, max_side=limits.max_side, max_pixels=limits.max_pixels) as document:
            if document.kind == "image":
                page = load_image(data, max_side=limits.max_side, max_pixels=limits.max_pixels)
                return [(1, _embed_image(page, digest, embedder, thumbnail))]
            pages = embed_pages(
                document, max_pages, lambda page: _embed_image(page, digest, embedder, thumbnail)
            )
            return [(number, embedded) for number, embedded in pages if embedded is not None]
    except InvalidDocument as exc:
        return [(1, Embedded(digest, error=str(exc) or type(exc).__name__))]


def _embed_image(image: Image.Image, digest: str, embedder: Embedder, thumbnail: bool) -> Embedded:
    try:
        vector = np.asarray(embedder.embed(image), dtype=np.float32)
    except InvalidDocument as exc:
        return Embedded(digest, error=str(exc) or type(exc).__name__)
    return Embedded(digest, vector, thumbnail=_thumbnail(image) if thumbnail else None)


def document_results(results: Sequence[QueryResult]) -> list[tuple[str, str, Decision]]:
    """(document key, true label, decision) of every multi-page query document, decided from its
    pages' results by the service's rule (decide_pages: one vote per page)."""
    pages: dict[str, list[PageDecision]] = {}
    labels: dict[str, str] = {}
    for r in results:
        key, sep, number = r.key.partition(PAGE_MARK)
        if not sep:
            continue
        labels[key] = r.label
        pages.setdefault(key, []).append(
            PageDecision(int(number), Decision(r.predicted, r.distance, r.neighbor, "page", r.candidates))
        )
    return [(key, labels[key], decide_pages(found)) for key, found in pages.items()]


def _thumbnail(image: Image.Image) -> bytes:
    """A small JPEG of the normalised page (shrinks the image in place: it is not needed after)."""
    image.thumbnail(THUMBNAIL_BOX)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return buffer.getvalue()
