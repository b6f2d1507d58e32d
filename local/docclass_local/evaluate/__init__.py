"""`docclass eval`: measure how well a labelled folder of documents classifies, before deploying it.

The run uses the library's own steps, without S3: docclass.images.load_image normalises each file,
the configured embedder (services.make_embedder) embeds it, docclass.index.GalleryIndex searches
and docclass.decide.decide picks the label, exactly as the classify function does.

Two modes: GALLERY_DIR plus QUERY_DIR classifies every query against the gallery; --loo classifies
each gallery document against all the others (leave-one-out: itself is skipped by key, so an
identical copy stored under another key still counts as a neighbour, as it would in S3).

The core (`evaluate`, `summarise`, `suggest_max_distance`) takes plain vectors and returns plain
values, so tests and benchmarks can call it without files or an embedder.

The package holds one job per module: core (collect, embed, classify), stats (summary, distances,
the MaxDistance suggestion), reports (text, JSON, HTML from templates/report.html.j2) and command
(the `docclass eval` run). This module names what callers use.
"""

from docclass_local.evaluate.command import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, run
from docclass_local.evaluate.core import (
    Document,
    Embedded,
    EvalResult,
    QueryResult,
    Sample,
    collect,
    embed_documents,
    evaluate,
)
from docclass_local.evaluate.reports import Run, render_html, render_text, short_names
from docclass_local.evaluate.stats import (
    ClassStats,
    DistanceStats,
    ReviewOption,
    Suggestion,
    Summary,
    distance_stats,
    suggest_max_distance,
    summarise,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ClassStats",
    "DistanceStats",
    "Document",
    "Embedded",
    "EvalResult",
    "QueryResult",
    "ReviewOption",
    "Run",
    "Sample",
    "Suggestion",
    "Summary",
    "UsageError",
    "collect",
    "distance_stats",
    "embed_documents",
    "evaluate",
    "render_html",
    "render_text",
    "run",
    "short_names",
    "suggest_max_distance",
    "summarise",
]
