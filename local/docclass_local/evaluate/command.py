"""`docclass eval`: check the arguments, run the evaluation, print and write the reports."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from docclass.config import Settings
from docclass.errors import DocclassError
from docclass.models import ModelOptions
from docclass.routing import validate_label
from docclass.services import make_embedder
from docclass_local.evaluate.core import (
    Document,
    Sample,
    collect,
    document_results,
    embed_documents,
    evaluate,
)
from docclass_local.evaluate.reports import Run, render_html, render_text
from docclass_local.evaluate.stats import plural, summarise

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or folders: exit code 2 with a one-line message."""


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
        if args.embedder == "local" and args.model_id != Settings.model_id:
            raise UsageError("--model-id chooses a Bedrock model: add --embedder bedrock")
        settings = Settings(
            bucket="eval",
            embedder=args.embedder,
            model_id=args.model_id,
            dimension=args.dimension,
            model_options=ModelOptions(args.nova_detail_level, args.nova_purpose, args.cohere_input_type),
        )
    except DocclassError as exc:
        raise UsageError(str(exc)) from None

    gallery_docs = _documents(gallery_dir, "GALLERY_DIR")
    query_docs = _documents(query_dir, "QUERY_DIR") if query_dir is not None else []
    embedder = make_embedder(settings)

    started = time.monotonic()
    # As the service: a multi-page gallery example gives its first page (GalleryPages 1), a query
    # every page up to MaxPages, each scored, and the document decided from its pages.
    limits = [1] * len(gallery_docs) + [settings.max_pages] * len(query_docs)
    pairs = embed_documents(
        [*gallery_docs, *query_docs], embedder, thumbnails=report is not None, max_pages=limits
    )
    seconds = time.monotonic() - started
    # Gallery documents come first and give one pair each (their first page): the rest are queries.
    roles = ["gallery"] * len(gallery_docs) + ["query"] * (len(pairs) - len(gallery_docs))
    embedded = [e for _, e in pairs]

    unreadable: list[tuple[str, str, str]] = []
    thumbnails: dict[tuple[str, str], bytes] = {}
    samples: dict[str, list[Sample]] = {"gallery": [], "query": []}
    for role, (document, outcome) in zip(roles, pairs, strict=True):
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
        documents=len(gallery_docs) + len(query_docs),
        distinct_images=len({e.content_hash for e in embedded if e.content_hash}),
        seconds=seconds,
        unreadable=unreadable,
        summary=summarise(result),
        results=result.results,
        thumbnails=thumbnails,
        multi_page=document_results(result.results),
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
            f"docclass eval: ignoring {plural(len(stray), 'file')} outside a label folder in {root}",
            file=sys.stderr,
        )
    for label in sorted({d.label for d in documents}):
        try:
            validate_label(label)
        except DocclassError:
            print(f"docclass eval: warning: the service would refuse the label {label!r}", file=sys.stderr)
    return documents
