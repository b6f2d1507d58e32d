"""`docclass eval`: measure how well a labelled folder of documents classifies, before deploying it.

The run uses the library's own steps, without S3: docclass.images.load_image normalises each file,
the configured embedder (services.make_embedder) embeds it, docclass.index.GalleryIndex searches
and docclass.decide.decide picks the label, exactly as the classify function does.

Two modes: GALLERY_DIR plus QUERY_DIR classifies every query against the gallery; --loo classifies
each gallery document against all the others (leave-one-out: itself is skipped by key, so an
identical copy stored under another key still counts as a neighbour, as it would in S3).

The core (`evaluate`, `summarise`, `suggest_max_distance`) takes plain vectors and returns plain
values, so tests and benchmarks can call it without files or an embedder.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import re
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from docclass.config import Settings
from docclass.decide import decide
from docclass.embeddings import Embedder
from docclass.errors import DocclassError, InvalidDocument
from docclass.images import load_image
from docclass.index import Entry, GalleryIndex
from docclass.pipeline import content_hash
from docclass.routing import validate_label
from docclass.services import make_embedder
from docclass_local.progress import Progress

# (label, key, vector): one labelled document, as the core takes it.
Sample = tuple[str, str, np.ndarray]

UNCLASSIFIED = "unclassified"
THUMBNAIL_BOX = (160, 220)  # px; a letter-size page comes out 160 x 207
THUMBNAIL_QUALITY = 75
HISTOGRAM_BINS = 20
SUGGESTION_RULE = (
    'the threshold with the best F1 of "right and kept" (precision = accuracy on the documents kept, '
    "recall = share of the right answers kept; ties keep more documents), placed halfway between "
    "the farthest kept and the nearest rejected distance"
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# --------------------------------------------------------------------------- the core: vectors in


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

    def classify(label: str, key: str, vector: np.ndarray, leave_out: str | None) -> QueryResult:
        if leave_out is None:
            hits = index.search(vector, k)
        else:
            # One extra hit makes room for the document itself; dropping it by key (not by
            # distance) keeps an identical file stored under another key.
            hits = [hit for hit in index.search(vector, k + 1) if hit.key != leave_out][:k]
        decision = decide(hits, max_distance)
        answer = label_of[decision.neighbor] if decision.neighbor is not None else None
        return QueryResult(key, label, decision.label, decision.distance, decision.neighbor, answer)

    if queries is None:
        results = [classify(label, key, vector, key) for label, key, vector in gallery]
        mode = "loo"
    else:
        results = [classify(label, key, vector, None) for label, key, vector in queries]
        mode = "queries"
    return EvalResult(mode, k, max_distance, dict(sorted(Counter(label_of.values()).items())), tuple(results))


# --------------------------------------------------------------------------- the summary


@dataclass(frozen=True)
class ClassStats:
    """Precision, recall and support of one label (None where the ratio has no denominator)."""

    label: str
    support: int
    predicted: int
    correct: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class DistanceStats:
    """Count, min, median, 90th percentile and max of some nearest distances."""

    count: int
    min: float | None = None
    median: float | None = None
    p90: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Suggestion:
    """A MaxDistance to deploy, with what it would have done on this evaluation (None: no limit)."""

    max_distance: float | None
    kept: int
    total: int
    coverage: float | None
    accuracy_on_kept: float | None
    f1: float | None
    right_rejected: int
    wrong_rejected: int
    reason: str
    rule: str = SUGGESTION_RULE


@dataclass(frozen=True)
class Summary:
    """The numbers of an evaluation: accuracy, per-class table, confusion, distances, suggestion."""

    mode: str
    k: int
    max_distance: float | None
    gallery_size: int
    gallery_labels: dict[str, int]
    queries: int
    correct: int
    classified: int
    accuracy: float | None
    coverage: float | None
    accuracy_on_kept: float | None
    per_class: tuple[ClassStats, ...]
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    right: DistanceStats
    wrong: DistanceStats
    suggestion: Suggestion
    mistakes: tuple[QueryResult, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def summarise(result: EvalResult) -> Summary:
    """Accuracy (top-1; unclassified counts as wrong), per-class precision/recall, confusion
    (rows true, columns predicted, plus an "unclassified" column when any), the nearest-distance
    spread of right and wrong answers (before MaxDistance) and a suggested MaxDistance.
    """
    results = result.results
    labels = sorted(set(result.gallery_labels) | {r.label for r in results})
    unclassified = UNCLASSIFIED if UNCLASSIFIED not in labels else f"({UNCLASSIFIED})"
    has_unclassified = any(r.predicted is None for r in results)
    columns = labels + ([unclassified] if has_unclassified else [])
    column_of = {name: i for i, name in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in labels]
    for r, row in ((r, labels.index(r.label)) for r in results):
        matrix[row][column_of[r.predicted if r.predicted is not None else unclassified]] += 1

    per_class = []
    for row, label in enumerate(labels):
        support = sum(matrix[row])
        predicted = sum(line[row] for line in matrix)
        correct = matrix[row][row]
        per_class.append(
            ClassStats(
                label, support, predicted, correct, _ratio(correct, predicted), _ratio(correct, support)
            )
        )

    correct = sum(r.correct for r in results)
    classified = sum(r.predicted is not None for r in results)
    notes = []
    if result.mode == "loo":
        alone = [label for label, n in result.gallery_labels.items() if n == 1]
        if alone:
            notes.append(
                f"{_plural(len(alone), 'label')} with a single example can never be right in "
                f"leave-one-out: {', '.join(alone)}"
            )
    else:
        missing = sorted({r.label for r in results} - set(result.gallery_labels))
        if missing:
            notes.append(f"query labels absent from the gallery can never be right: {', '.join(missing)}")

    return Summary(
        mode=result.mode,
        k=result.k,
        max_distance=result.max_distance,
        gallery_size=sum(result.gallery_labels.values()),
        gallery_labels=dict(result.gallery_labels),
        queries=len(results),
        correct=correct,
        classified=classified,
        accuracy=_ratio(correct, len(results)),
        coverage=_ratio(classified, len(results)),
        accuracy_on_kept=_ratio(correct, classified),
        per_class=tuple(per_class),
        labels=tuple(labels),
        columns=tuple(columns),
        confusion=tuple(tuple(line) for line in matrix),
        right=distance_stats(r.distance for r in results if r.answer_correct),
        wrong=distance_stats(r.distance for r in results if not r.answer_correct),
        suggestion=suggest_max_distance([(r.distance, r.answer_correct) for r in results]),
        mistakes=tuple(r for r in results if not r.correct),
        notes=tuple(notes),
    )


def distance_stats(distances: Iterable[float | None]) -> DistanceStats:
    """Count, min, median, p90 (linear interpolation) and max, ignoring missing distances."""
    values = np.array([d for d in distances if d is not None], dtype=np.float64)
    if values.size == 0:
        return DistanceStats(0)
    return DistanceStats(
        int(values.size),
        float(values.min()),
        float(np.median(values)),
        float(np.percentile(values, 90)),
        float(values.max()),
    )


def suggest_max_distance(answers: Sequence[tuple[float | None, bool]]) -> Suggestion:
    """Pick the MaxDistance with the best F1 of "right and kept", from (distance, answer right) pairs.

    A threshold t keeps the documents whose distance is <= t. Of those kept, the share that is
    right is the precision (accuracy on the documents kept); the share of all right answers that
    is kept is the recall; F1 = 2 * right_kept / (kept + right). Every distinct observed distance is
    tried as the last one kept; ties in F1 keep more documents. The suggested value sits halfway
    between the farthest kept distance and the nearest rejected one, rounded to as few decimals
    as stay strictly in between. When keeping everything scores best, the suggestion is None
    (no limit). Documents without a distance count in the total but are never kept.
    """
    total = len(answers)
    right = sum(ok for _, ok in answers)
    scored = sorted((float(d), bool(ok)) for d, ok in answers if d is not None)
    if not scored:
        return Suggestion(None, 0, total, _ratio(0, total), None, None, right, 0, "no distances to compare")
    if right == 0:
        return _suggestion(None, scored, total, right, "no right answers, so no threshold helps")

    distinct = sorted({d for d, _ in scored})
    best_f1, best_at = -1.0, 0
    kept = kept_right = 0
    position = 0
    for i, d in enumerate(distinct):
        while position < len(scored) and scored[position][0] == d:
            kept += 1
            kept_right += scored[position][1]
            position += 1
        f1 = 2 * kept_right / (kept + right)
        if f1 >= best_f1:
            best_f1, best_at = f1, i
    if best_at == len(distinct) - 1:
        return _suggestion(None, scored, total, right, "keeping every answer scores best")
    threshold = _between(distinct[best_at], distinct[best_at + 1])
    return _suggestion(threshold, scored, total, right, "best F1 of right and kept")


def _suggestion(
    threshold: float | None, scored: list[tuple[float, bool]], total: int, right: int, reason: str
) -> Suggestion:
    kept = [ok for d, ok in scored if threshold is None or d <= threshold]
    kept_right = sum(kept)
    return Suggestion(
        max_distance=threshold,
        kept=len(kept),
        total=total,
        coverage=_ratio(len(kept), total),
        accuracy_on_kept=_ratio(kept_right, len(kept)),
        f1=_ratio(2 * kept_right, len(kept) + right),
        right_rejected=right - kept_right,
        wrong_rejected=(len(scored) - sum(ok for _, ok in scored)) - (len(kept) - kept_right),
        reason=reason,
    )


def _between(low: float, high: float) -> float:
    """A short decimal strictly between low and high, near their midpoint."""
    middle = (low + high) / 2
    for digits in range(1, 10):
        value = round(middle, digits)
        if low < value < high:
            return value
    return middle


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------------------- files and embedding


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
    documents: Sequence[Document], embedder: Embedder, *, thumbnails: bool = False
) -> list[Embedded]:
    """Embed every file once per distinct content (cache by SHA-256 within the run), in order.

    Unreadable files and inputs the model refuses get an error instead of a vector; an
    unavailable model (EmbeddingUnavailable, ConfigError) stops the run by raising.
    """
    cache: dict[str, Embedded] = {}
    out: list[Embedded] = []
    with Progress(len(documents), "embedding") as progress:
        for document in documents:
            try:
                data = document.path.read_bytes()
            except OSError as exc:
                out.append(Embedded(None, error=f"cannot read the file: {exc.strerror or exc}"))
                progress.advance()
                continue
            digest = content_hash(data)
            if digest not in cache:
                cache[digest] = _embed_one(data, digest, embedder, thumbnails)
            out.append(cache[digest])
            progress.advance()
    return out


def _embed_one(data: bytes, digest: str, embedder: Embedder, thumbnail: bool) -> Embedded:
    try:
        image = load_image(data)
        vector = np.asarray(embedder.embed(image), dtype=np.float32)
    except InvalidDocument as exc:
        return Embedded(digest, error=str(exc) or type(exc).__name__)
    return Embedded(digest, vector, thumbnail=_thumbnail(image) if thumbnail else None)


def _thumbnail(image: Image.Image) -> bytes:
    """A small JPEG of the normalised page (shrinks the image in place: it is not needed after)."""
    image.thumbnail(THUMBNAIL_BOX)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------- a run


@dataclass
class Run:
    """Everything one `docclass eval` run reports: where, with what model, and the summary."""

    gallery_dir: str
    query_dir: str | None
    embedder: str
    model_id: str
    dimension: int
    documents: int
    distinct_images: int
    seconds: float
    unreadable: list[tuple[str, str, str]]  # (gallery|query, key, reason)
    summary: Summary
    results: tuple[QueryResult, ...] = ()
    thumbnails: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (role, key) -> JPEG

    @property
    def model_note(self) -> str:
        """What the model is, in words (the local embedder is never presented as Titan)."""
        if self.embedder == "local":
            return "offline stand-in embedder, NOT Amazon Titan"
        return "Amazon Titan Multimodal Embeddings on Bedrock"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object `--json` prints."""
        return {
            "gallery_dir": self.gallery_dir,
            "query_dir": self.query_dir,
            "embedder": self.embedder,
            "model_id": self.model_id,
            "model_note": self.model_note,
            "dimension": self.dimension,
            "documents": self.documents,
            "distinct_images": self.distinct_images,
            "seconds": round(self.seconds, 3),
            "unreadable": [{"role": r, "key": k, "reason": why} for r, k, why in self.unreadable],
            **self.summary.to_dict(),
        }


class UsageError(Exception):
    """Bad arguments or folders: exit code 2 with a one-line message."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `docclass eval` arguments."""
    parser.add_argument(
        "gallery_dir", metavar="GALLERY_DIR", type=Path, help="labelled examples: <dir>/<label>/<file>"
    )
    parser.add_argument(
        "query_dir",
        metavar="QUERY_DIR",
        type=Path,
        nargs="?",
        help="labelled documents to classify against GALLERY_DIR (same layout)",
    )
    parser.add_argument(
        "--loo", action="store_true", help="leave-one-out: classify each gallery document against the others"
    )
    parser.add_argument("-k", "--k", type=int, default=1, help="neighbours that vote (default 1)")
    parser.add_argument(
        "--max-distance", type=float, default=None, help="beyond this distance a document is unclassified"
    )
    parser.add_argument(
        "--embedder",
        choices=("local", "bedrock"),
        default="local",
        help="local: the offline stand-in (default); bedrock: Amazon Titan (needs AWS credentials)",
    )
    parser.add_argument("--dimension", type=int, default=1024, help="embedding length: 256, 384 or 1024")
    parser.add_argument(
        "--report", type=Path, metavar="REPORT.html", help="also write a self-contained HTML report"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; 0 when it ran, 2 for usage errors, 1 when the model or a write failed."""
    try:
        return _run(args)
    except UsageError as exc:
        print(f"docclass eval: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DocclassError as exc:  # the embedder could not run (credentials, throttling, ...)
        print(f"docclass eval: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    gallery_dir: Path = args.gallery_dir
    query_dir: Path | None = args.query_dir
    report: Path | None = getattr(args, "report", None)
    if args.loo and query_dir is not None:
        raise UsageError("give either QUERY_DIR or --loo, not both")
    if not args.loo and query_dir is None:
        raise UsageError("give QUERY_DIR to classify, or --loo for leave-one-out over GALLERY_DIR")
    if args.k < 1:
        raise UsageError(f"--k must be at least 1, got {args.k}")
    if args.max_distance is not None and not (math.isfinite(args.max_distance) and args.max_distance >= 0):
        raise UsageError(f"--max-distance must be a number >= 0, got {args.max_distance}")
    if report is not None and not report.parent.is_dir():
        raise UsageError(f"cannot write the report: folder {report.parent} does not exist")
    try:
        settings = Settings(bucket="eval", embedder=args.embedder, dimension=args.dimension)
    except DocclassError as exc:
        raise UsageError(str(exc)) from None

    gallery_docs = _documents(gallery_dir, "GALLERY_DIR")
    query_docs = _documents(query_dir, "QUERY_DIR") if query_dir is not None else []
    embedder = make_embedder(settings)

    started = time.monotonic()
    embedded = embed_documents([*gallery_docs, *query_docs], embedder, thumbnails=report is not None)
    seconds = time.monotonic() - started

    unreadable: list[tuple[str, str, str]] = []
    thumbnails: dict[tuple[str, str], bytes] = {}
    samples: dict[str, list[Sample]] = {"gallery": [], "query": []}
    roles = ["gallery"] * len(gallery_docs) + ["query"] * len(query_docs)
    for role, document, outcome in zip(roles, [*gallery_docs, *query_docs], embedded, strict=True):
        if outcome.vector is None:
            unreadable.append((role, document.key, outcome.error or "unreadable"))
            continue
        samples[role].append((document.label, document.key, outcome.vector))
        if outcome.thumbnail is not None:
            thumbnails[(role, document.key)] = outcome.thumbnail
    if not samples["gallery"]:
        raise UsageError(f"no readable image in GALLERY_DIR {gallery_dir}")
    if query_dir is not None and not samples["query"]:
        raise UsageError(f"no readable image in QUERY_DIR {query_dir}")

    result = evaluate(
        samples["gallery"], samples["query"] if query_dir is not None else None, args.k, args.max_distance
    )
    outcome_run = Run(
        gallery_dir=str(gallery_dir),
        query_dir=None if query_dir is None else str(query_dir),
        embedder=settings.embedder,
        model_id=embedder.model_id,
        dimension=embedder.dimension,
        documents=len(embedded),
        distinct_images=len({e.content_hash for e in embedded if e.content_hash}),
        seconds=seconds,
        unreadable=unreadable,
        summary=summarise(result),
        results=result.results,
        thumbnails=thumbnails,
    )
    if getattr(args, "json", False):
        print(json.dumps(outcome_run.to_dict(), ensure_ascii=False, allow_nan=False))
    else:
        print(render_text(outcome_run), end="")
    if report is not None:
        try:
            report.write_text(render_html(outcome_run), encoding="utf-8")
        except OSError as exc:
            print(f"docclass eval: failed: cannot write {report}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        if not getattr(args, "json", False):
            print(f"report: {report}")
    return EXIT_OK


def _documents(root: Path, name: str) -> list[Document]:
    """The documents of a labelled folder; UsageError when there is nothing to use."""
    if not root.is_dir():
        raise UsageError(
            f"{name} {root} is not a folder" if root.exists() else f"{name} {root} does not exist"
        )
    documents, stray = collect(root)
    if not documents:
        raise UsageError(f"{name} {root} has no labels: put files in {root}/<label>/")
    if stray:
        print(
            f"docclass eval: ignoring {_plural(len(stray), 'file')} outside a label folder in {root}",
            file=sys.stderr,
        )
    for label in sorted({d.label for d in documents}):
        try:
            validate_label(label)
        except DocclassError:
            print(f"docclass eval: warning: the service would refuse the label {label!r}", file=sys.stderr)
    return documents


# --------------------------------------------------------------------------- text output


def render_text(run: Run) -> str:
    """The compact report printed on stdout."""
    s = run.summary
    lines: list[str] = []
    if s.mode == "loo":
        lines.append(f"docclass eval: leave-one-out over {run.gallery_dir}")
    else:
        lines.append(f"docclass eval: {run.query_dir} against the gallery {run.gallery_dir}")
    lines.append(f"model       {run.model_id}, {run.dimension} dimensions ({run.model_note})")
    gallery = f"{_plural(s.gallery_size, 'document')} in {_plural(len(s.gallery_labels), 'label')}"
    if s.mode == "loo":
        gallery += f"; each classified against the other {max(s.gallery_size - 1, 0)}"
    lines.append(f"gallery     {gallery}")
    lines.append(f"queries     {s.queries} classified, {len(run.unreadable)} unreadable (not counted)")
    limit = "none" if s.max_distance is None else f"{s.max_distance:g}"
    lines.append(f"settings    k={s.k}, MaxDistance {limit}")
    lines.append(
        f"embedding   {_plural(run.documents, 'file')} ({run.distinct_images} distinct) "
        f"read and embedded in {run.seconds:.1f} s"
    )
    lines.append("")
    lines.append(
        f"accuracy    {_pct(s.accuracy)} ({s.correct} of {s.queries} right)   "
        f"coverage {_pct(s.coverage)} ({s.classified} given a label)"
    )
    if s.max_distance is not None:
        lines.append(f"            accuracy on the documents given a label: {_pct(s.accuracy_on_kept)}")
    lines.append("")

    width = max([len("label"), *(len(c.label) for c in s.per_class)])
    lines.append(f"{'label':<{width}}  support  predicted  precision  recall")
    for c in s.per_class:
        lines.append(
            f"{c.label:<{width}}  {c.support:>7}  {c.predicted:>9}  "
            f"{_pct(c.precision):>9}  {_pct(c.recall):>6}"
        )
    lines.append("")

    short = short_names(s.columns)
    cell = max([3, *(len(short[c]) for c in s.columns), *(len(str(v)) for row in s.confusion for v in row)])
    lines.append("confusion matrix (rows: true label, columns: predicted label, . = 0)")
    lines.append(" " * (width + 5) + " ".join(f"{short[c]:>{cell}}" for c in s.columns))
    for label, row in zip(s.labels, s.confusion, strict=True):
        cells = " ".join(f"{(str(v) if v else '.'):>{cell}}" for v in row)
        lines.append(f"{label:<{width}} {short[label]:>3}  {cells}")
    lines.append("")

    lines.append("nearest distance (before MaxDistance)  count     min  median     p90     max")
    for name, stats in (("right answers", s.right), ("wrong answers", s.wrong)):
        values = "  ".join(f"{_num(v):>6}" for v in (stats.min, stats.median, stats.p90, stats.max))
        lines.append(f"  {name:<36}{stats.count:>6}  {values}")
    lines.append("")
    lines.extend(_suggestion_lines(s.suggestion))

    for note in s.notes:
        lines.append(f"note: {note}")
    if run.unreadable:
        lines.append(f"unreadable ({len(run.unreadable)}, not counted above):")
        for role, key, reason in run.unreadable[:20]:
            lines.append(f"  {role} {key}: {reason}")
        if len(run.unreadable) > 20:
            lines.append(f"  ... and {len(run.unreadable) - 20} more")
    return "\n".join(lines) + "\n"


def _suggestion_lines(g: Suggestion) -> list[str]:
    if g.max_distance is None:
        head = f"suggested MaxDistance: none ({g.reason})"
    else:
        head = (
            f"suggested MaxDistance: {g.max_distance:g} -> keeps {g.kept} of {g.total} ({_pct(g.coverage)} "
            f"coverage), {_pct(g.accuracy_on_kept)} right among them; rejects {g.wrong_rejected} wrong "
            f"and {g.right_rejected} right answers"
        )
    return [head, *textwrap.wrap(f"rule: {g.rule}", 100, initial_indent="  ", subsequent_indent="    ")]


def short_names(names: Sequence[str], width: int = 3) -> dict[str, str]:
    """Distinct abbreviations of at most `width` characters, for column headers.

    The first characters of the name when they are unique; else the first characters of the first
    word plus the initials of the others (scientific_report -> scr); else a numbered prefix.
    """
    firsts = Counter(name[:width] for name in names)
    taken: set[str] = set()
    out: dict[str, str] = {}
    for name in names:
        words = [w for w in re.split(r"[\s_.\-]+", name) if w] or [name]
        options = [name[:width]] if firsts[name[:width]] == 1 else []
        if len(words) > 1:
            initials = "".join(w[0] for w in words[1:])[: width - 1]
            options.append(words[0][: width - len(initials)] + initials)
        options += [f"{name[: width - len(str(i))]}{i}" for i in range(1, 10 ** (width - 1))]
        out[name] = next(o for o in options if o not in taken)
        taken.add(out[name])
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


# --------------------------------------------------------------------------- HTML report

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fff;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;
padding-bottom:4px}
.meta{color:#555}.meta b{color:#1d2330}.warn{color:#a14b00}
.kpis{display:flex;gap:14px;margin:14px 0;flex-wrap:wrap}
.kpi{border:1px solid #dde;border-radius:6px;padding:8px 14px;min-width:120px}
.kpi .v{font-size:22px;font-weight:600}.kpi .l{color:#666;font-size:12px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 7px;border:1px solid #e3e5ea;text-align:right}
th{background:#f5f6f8;font-weight:600}td.name,th.name{text-align:left}
table.cm td{min-width:24px;text-align:center}
table.cm th.col{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;padding:6px 2px;
white-space:nowrap}
.bar{display:inline-block;height:9px;background:#4a78c2;vertical-align:middle;margin-left:6px}
.legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px;vertical-align:-1px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #dde;border-radius:6px;padding:8px;width:352px;font-size:12px}
.card .pair{display:flex;gap:8px}.card figure{margin:0;width:168px}
.card img{display:block;max-width:160px;max-height:220px;border:1px solid #ccd;background:#fafafa}
.card figcaption{word-break:break-all;color:#444;margin-top:3px}
.card .verdict{margin-top:6px}.wrong{color:#b3261e;font-weight:600}.right{color:#2e7d32;font-weight:600}
.noimg{width:158px;height:120px;border:1px dashed #bbb;color:#888;display:flex;align-items:center;
justify-content:center}
code{font-size:12px}
"""
_RIGHT_COLOUR = "#2e7d32"
_WRONG_COLOUR = "#c62828"


def render_html(run: Run) -> str:
    """One self-contained HTML page: inline CSS and SVG, thumbnails as data URIs, no links out."""
    s = run.summary
    e = html.escape
    mode = (
        f"leave-one-out over {run.gallery_dir}"
        if s.mode == "loo"
        else f"{run.query_dir} against the gallery {run.gallery_dir}"
    )
    limit = "none" if s.max_distance is None else f"{s.max_distance:g}"
    g = s.suggestion
    suggested = "none" if g.max_distance is None else f"{g.max_distance:g}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>docclass eval: {e(mode)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>docclass eval</h1>",
        f'<div class="meta">{e(mode)}</div>',
        f'<div class="meta">model <b>{e(run.model_id)}</b>, {run.dimension} dimensions '
        f'<span class="{"warn" if run.embedder == "local" else ""}">({e(run.model_note)})</span></div>',
        f'<div class="meta">gallery {s.gallery_size} documents in {len(s.gallery_labels)} labels; '
        f"{s.queries} queries classified, {len(run.unreadable)} unreadable; "
        f"k={s.k}, MaxDistance {e(limit)}</div>",
        '<div class="kpis">',
        _kpi(_pct(s.accuracy), f"accuracy ({s.correct} of {s.queries} right)"),
        _kpi(_pct(s.coverage), f"coverage ({s.classified} given a label)"),
        _kpi(_pct(s.accuracy_on_kept), "accuracy on the labelled ones"),
        _kpi(e(suggested), "suggested MaxDistance"),
        "</div>",
    ]
    for note in s.notes:
        parts.append(f'<p class="warn">{e(note)}</p>')

    parts.append("<h2>Confusion matrix</h2>")
    parts.append(
        '<p class="meta">Rows: true label; columns: predicted label. Shade = share of the row: green right, red wrong, amber unclassified.</p>'
    )
    parts.append(_confusion_html(s))

    parts.append("<h2>Per class</h2>")
    parts.append(
        '<table><tr><th class="name">label</th><th>support</th><th>predicted</th>'
        "<th>precision</th><th>recall</th></tr>"
    )
    for c in s.per_class:
        parts.append(
            f'<tr><td class="name">{e(c.label)}</td><td>{c.support}</td><td>{c.predicted}</td>'
            f"<td>{_pct(c.precision)}{_bar(c.precision)}</td><td>{_pct(c.recall)}{_bar(c.recall)}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Nearest distance of right and wrong answers</h2>")
    parts.append(
        '<p class="meta legend">before MaxDistance applies'
        f'<span style="background:{_RIGHT_COLOUR}"></span>right ({s.right.count})'
        f'<span style="background:{_WRONG_COLOUR}"></span>wrong ({s.wrong.count})</p>'
    )
    parts.append(_histogram_svg(run))
    parts.append(
        '<table><tr><th class="name"></th><th>count</th>'
        "<th>min</th><th>median</th><th>p90</th><th>max</th></tr>"
    )
    for name, st in (("right", s.right), ("wrong", s.wrong)):
        parts.append(
            f'<tr><td class="name">{name}</td><td>{st.count}</td><td>{_num(st.min)}</td>'
            f"<td>{_num(st.median)}</td><td>{_num(st.p90)}</td><td>{_num(st.max)}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<p>{e(_suggestion_lines(g)[0])}</p>")
    parts.append(f'<p class="meta">Rule: {e(g.rule)}.</p>')

    parts.append(f"<h2>Mistakes ({len(s.mistakes)})</h2>")
    parts.append(_mistakes_html(run))
    if run.unreadable:
        parts.append(f"<h2>Unreadable files ({len(run.unreadable)})</h2><ul>")
        for role, key, reason in run.unreadable:
            parts.append(f"<li>{e(role)} <code>{e(key)}</code>: {e(reason)}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _kpi(value: str, label: str) -> str:
    return f'<div class="kpi"><div class="v">{value}</div><div class="l">{html.escape(label)}</div></div>'


def _bar(value: float | None) -> str:
    return "" if value is None else f'<span class="bar" style="width:{round(60 * value)}px"></span>'


def _confusion_html(s: Summary) -> str:
    e = html.escape
    rows = ['<table class="cm"><tr><th class="name">true \\ predicted</th>']
    rows += [f'<th class="col">{e(c)}</th>' for c in s.columns]
    rows.append("<th>total</th></tr>")
    for i, (label, line) in enumerate(zip(s.labels, s.confusion, strict=True)):
        total = sum(line)
        rows.append(f'<tr><th class="name">{e(label)}</th>')
        for j, value in enumerate(line):
            if not value:
                rows.append("<td></td>")
                continue
            share = value / total
            rgb = (46, 125, 50) if i == j else (198, 40, 40) if j < len(s.labels) else (180, 120, 0)
            alpha = 0.12 + 0.78 * share
            ink = "#fff" if alpha > 0.55 else "#1d2330"
            rows.append(
                f'<td style="background:rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f});color:{ink}" '
                f'title="{e(label)} as {e(s.columns[j])}: {value}">{value}</td>'
            )
        rows.append(f"<td>{total}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _histogram_svg(run: Run) -> str:
    """Side-by-side bars of right and wrong answers per distance bin, with the suggested threshold."""
    s = run.summary
    right = [r.distance for r in run.results if r.distance is not None and r.answer_correct]
    wrong = [r.distance for r in run.results if r.distance is not None and not r.answer_correct]
    if not right and not wrong:
        return '<p class="meta">no distances</p>'
    marks = [m for m in (s.suggestion.max_distance, s.max_distance) if m is not None]
    low, top, step = _axis_range([*right, *wrong, *marks])
    edges = np.linspace(low, top, HISTOGRAM_BINS + 1)
    right_counts = np.histogram(right, bins=edges)[0] if right else np.zeros(HISTOGRAM_BINS, int)
    wrong_counts = np.histogram(wrong, bins=edges)[0] if wrong else np.zeros(HISTOGRAM_BINS, int)
    peak = max(1, int(right_counts.max()), int(wrong_counts.max()))
    width, height, left, bottom, top_pad = 720, 240, 40, 34, 12
    plot_w, plot_h = width - left - 12, height - bottom - top_pad
    slot = plot_w / HISTOGRAM_BINS
    out = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    base = top_pad + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>')
    out.append(f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{base}" stroke="#888"/>')
    out.append(f'<text x="{left - 6}" y="{top_pad + 10}" font-size="11" text-anchor="end">{peak}</text>')
    out.append(f'<text x="{left - 6}" y="{base}" font-size="11" text-anchor="end">0</text>')
    for i in range(HISTOGRAM_BINS):
        x = left + i * slot
        for offset, count, colour in (
            (0.1, right_counts[i], _RIGHT_COLOUR),
            (0.5, wrong_counts[i], _WRONG_COLOUR),
        ):
            if count:
                h = plot_h * int(count) / peak
                out.append(
                    f'<rect x="{x + offset * slot:.1f}" y="{base - h:.1f}" width="{0.4 * slot:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{edges[i]:.3f}-{edges[i + 1]:.3f}: '
                    f"{int(count)}</title></rect>"
                )
    for tick in np.arange(low, top + step / 2, step):
        x = left + plot_w * (tick - low) / (top - low)
        out.append(f'<text x="{x:.1f}" y="{base + 16}" font-size="11" text-anchor="middle">{tick:.3g}</text>')
    out.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 2}" font-size="11" text-anchor="middle">'
        "distance to the nearest example of the chosen label</text>"
    )
    for value, name, colour in (
        (s.suggestion.max_distance, "suggested", "#1d2330"),
        (s.max_distance, "MaxDistance", "#4a78c2"),
    ):
        label_y = top_pad + (10 if name == "suggested" else 24)
        if value is not None:
            x = left + plot_w * (value - low) / (top - low)
            out.append(
                f'<line x1="{x:.1f}" y1="{top_pad}" x2="{x:.1f}" y2="{base}" stroke="{colour}" '
                'stroke-dasharray="5,4"/>'
            )
            out.append(
                f'<text x="{x + 4:.1f}" y="{label_y}" font-size="11" fill="{colour}">{name} {value:g}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def _axis_range(values: Sequence[float]) -> tuple[float, float, float]:
    """Axis ends around the values, and the tick step: multiples of a tenth of a 1-2-2.5-5 span."""
    low, high = min(values), max(values)
    step = _nice_ceiling(max(high - low, 0.1 * high, 1e-3)) / 10
    low = max(0.0, step * math.floor(low / step + 1e-9))
    return low, max(low + step, step * math.ceil(high / step - 1e-9)), step


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is >= value."""
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value - 1e-12:
            return step * power
    return 10.0 * power


def _mistakes_html(run: Run) -> str:
    s = run.summary
    if not s.mistakes:
        return "<p>None: every document got its label.</p>"
    e = html.escape
    query_role = "gallery" if s.mode == "loo" else "query"
    cards = ['<div class="cards">']
    for m in sorted(s.mistakes, key=lambda r: (r.label, r.distance if r.distance is not None else math.inf)):
        if m.predicted is not None:
            verdict = f'predicted <span class="wrong">{e(m.predicted)}</span>'
        elif m.answer is not None:
            verdict = f'<span class="wrong">unclassified</span> (nearest label {e(m.answer)})'
        else:
            verdict = '<span class="wrong">unclassified</span> (nothing to compare with)'
        distance = "" if m.distance is None else f" at distance {m.distance:.4f}"
        neighbor = (
            _figure(run.thumbnails.get(("gallery", m.neighbor)), f"nearest: {m.neighbor}", m.answer or "")
            if m.neighbor is not None
            else ""
        )
        cards.append(
            '<div class="card"><div class="pair">'
            + _figure(run.thumbnails.get((query_role, m.key)), m.key, m.label)
            + neighbor
            + '</div><div class="verdict">'
            + f'true <span class="right">{e(m.label)}</span>, {verdict}{distance}</div></div>'
        )
    cards.append("</div>")
    return "".join(cards)


def _figure(jpeg: bytes | None, caption: str, label: str) -> str:
    e = html.escape
    if jpeg is None:
        picture = '<div class="noimg">no thumbnail</div>'
    else:
        data = base64.b64encode(jpeg).decode("ascii")
        picture = f'<img src="data:image/jpeg;base64,{data}" alt="{e(caption)}">'
    return f"<figure>{picture}<figcaption>{e(caption)}<br>label: {e(label)}</figcaption></figure>"
