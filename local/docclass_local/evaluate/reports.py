"""The reports of an evaluation run: the text on stdout, the JSON object and the HTML page."""

from __future__ import annotations

import base64
import math
import re
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from docclass.decide import CANDIDATE_COUNT, Decision
from docclass_local.evaluate.core import QueryResult
from docclass_local.evaluate.stats import REVIEW_RULE, ReviewOption, Suggestion, Summary, plural

HISTOGRAM_BINS = 20


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
    # (document key, true label, decision) of each multi-page query, decided from its pages.
    multi_page: list[tuple[str, str, Decision]] = field(default_factory=list)

    @property
    def multi_page_right(self) -> int:
        """Multi-page documents whose pages' decision is their label."""
        return sum(1 for _, label, decision in self.multi_page if decision.label == label)

    @property
    def model_note(self) -> str:
        """What the model is, in words (the local embedder is never presented as Titan)."""
        if self.embedder == "local":
            return "offline stand-in embedder, NOT Amazon Titan"
        from docclass.models import resolve

        return f"{resolve(self.model_id.split('/')[0]).family.name} on Bedrock"

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
            "multi_page_documents": {
                "count": len(self.multi_page),
                "right": self.multi_page_right,
                "results": [
                    {
                        "key": key,
                        "label": label,
                        "predicted": d.label,
                        "distance": d.distance,
                        "margin": d.margin,
                        "reason": d.reason,
                    }
                    for key, label, d in self.multi_page
                ],
            },
        }


def render_text(run: Run) -> str:
    """The compact report printed on stdout."""
    s = run.summary
    lines: list[str] = []
    if s.mode == "loo":
        lines.append(f"docclass eval: leave-one-out over {run.gallery_dir}")
    else:
        lines.append(f"docclass eval: {run.query_dir} against the gallery {run.gallery_dir}")
    lines.append(f"model       {run.model_id}, {run.dimension} dimensions ({run.model_note})")
    gallery = f"{plural(s.gallery_size, 'document')} in {plural(len(s.gallery_labels), 'label')}"
    if s.mode == "loo":
        gallery += f"; each classified against the other {max(s.gallery_size - 1, 0)}"
    lines.append(f"gallery     {gallery}")
    lines.append(f"queries     {s.queries} classified, {len(run.unreadable)} unreadable (not counted)")
    limit = "none" if s.max_distance is None else f"{s.max_distance:g}"
    lines.append(f"settings    k={s.k}, MaxDistance {limit}")
    lines.append(
        f"embedding   {plural(run.documents, 'file')} ({run.distinct_images} distinct) "
        f"read and embedded in {run.seconds:.1f} s"
    )
    lines.append("")
    lines.append(
        f"accuracy    {_pct(s.accuracy)} ({s.correct} of {s.queries} right)   "
        f"coverage {_pct(s.coverage)} ({s.classified} given a label)"
    )
    if s.max_distance is not None:
        lines.append(f"            accuracy on the documents given a label: {_pct(s.accuracy_on_kept)}")
    if s.documents_scored:
        lines.append(
            f"candidates  the true label is among the {CANDIDATE_COUNT} candidates of {s.candidates_right} of "
            f"{plural(s.documents_scored, 'document')} ({_pct(s.candidates_right / s.documents_scored)}): what the review page "
            "offers as a one-key choice"
        )
    if run.multi_page:
        lines.append(
            f"documents   {run.multi_page_right} of {plural(len(run.multi_page), 'multi-page document')} right, "
            "each decided from its pages (one vote per page); the rows above score every page"
        )
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
    lines.append("")
    lines.extend(_review_lines(s.review))

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


def _review_lines(options: Sequence[ReviewOption]) -> list[str]:
    """ReviewMargin's table: each margin offered, what it sends to review/ and what it leaves."""
    if not options or options[0].mistakes == 0:
        return ["ReviewMargin: no labelled answer is wrong here, so none is suggested"]
    lines = ["ReviewMargin     to review    mistakes caught   accuracy of the rest"]
    for row in review_rows(options):
        lines.append(f"  {row['margin']:<14} {row['review']:<12} {row['caught']:<17} {row['rest']}")
    return lines + textwrap.wrap(f"rule: {REVIEW_RULE}", 100, initial_indent="  ", subsequent_indent="    ")


def _margin_text(value: float | None) -> str:
    """A ReviewMargin as the template's parameter takes it: plain decimals (never 5e-05), or off."""
    return "off" if value is None else f"{value:.5f}".rstrip("0").rstrip(".")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def review_rows(options: Sequence[ReviewOption]) -> list[dict[str, str]]:
    """The HTML report's rows of the ReviewMargin table."""
    return [
        {
            "margin": _margin_text(o.review_margin),
            "review": f"{o.review} ({_pct(_share(o.review, o.labelled))})",
            "caught": f"{o.caught} of {o.mistakes}",
            "rest": _pct(o.accuracy_on_rest),
        }
        for o in options
    ]


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

RIGHT_COLOUR = "#2e7d32"
WRONG_COLOUR = "#c62828"


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    """The report templates, shipped as package data; autoescaping makes every value text."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("docclass_local.evaluate", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["pct"] = _pct
    environment.filters["num"] = _num
    return environment


def render_html(run: Run) -> str:
    """One self-contained HTML page: inline CSS and SVG, thumbnails as data URIs, no links out."""
    s = run.summary
    mode = (
        f"leave-one-out over {run.gallery_dir}"
        if s.mode == "loo"
        else f"{run.query_dir} against the gallery {run.gallery_dir}"
    )
    g = s.suggestion
    return (
        _templates()
        .get_template("report.html.j2")
        .render(
            run=run,
            s=s,
            mode=mode,
            limit="none" if s.max_distance is None else f"{s.max_distance:g}",
            kpis=[
                (_pct(s.accuracy), f"accuracy ({s.correct} of {s.queries} right)"),
                (_pct(s.coverage), f"coverage ({s.classified} given a label)"),
                (_pct(s.accuracy_on_kept), "accuracy on the labelled ones"),
                (
                    _pct(_share(s.candidates_right, s.documents_scored)),
                    f"true label among the {CANDIDATE_COUNT} candidates",
                ),
                ("none" if g.max_distance is None else f"{g.max_distance:g}", "suggested MaxDistance"),
            ],
            confusion=_confusion_rows(s),
            bar=_bar,
            right_colour=RIGHT_COLOUR,
            wrong_colour=WRONG_COLOUR,
            histogram=_histogram(run),
            suggestion_line=_suggestion_lines(g)[0],
            review_rows=review_rows(s.review) if s.review and s.review[0].mistakes else [],
            review_rule=REVIEW_RULE,
            mistakes=_mistakes(run),
        )
    )


def _bar(value: float | None) -> Markup:
    """A horizontal bar as wide as the share (60 px for 100%); markup built from a number only."""
    if value is None:
        return Markup("")
    return Markup('<span class="bar" style="width:{}px"></span>').format(round(60 * value))


def _confusion_rows(s: Summary) -> list[dict[str, Any]]:
    """Each row's cells, shaded by their share of the row: green right, red wrong, amber unclassified."""
    rows = []
    for i, (label, line) in enumerate(zip(s.labels, s.confusion, strict=True)):
        total = sum(line)
        cells: list[dict[str, Any] | None] = []
        for j, value in enumerate(line):
            if not value:
                cells.append(None)
                continue
            rgb = (46, 125, 50) if i == j else (198, 40, 40) if j < len(s.labels) else (180, 120, 0)
            alpha = 0.12 + 0.78 * value / total
            cells.append(
                {
                    "value": value,
                    "column": s.columns[j],
                    "background": f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})",
                    "ink": "#fff" if alpha > 0.55 else "#1d2330",
                }
            )
        rows.append({"label": label, "cells": cells, "total": total})
    return rows


def _histogram(run: Run) -> dict[str, Any] | None:
    """Geometry of side-by-side bars of right and wrong answers per distance bin, with thresholds."""
    s = run.summary
    right = [r.distance for r in run.results if r.distance is not None and r.answer_correct]
    wrong = [r.distance for r in run.results if r.distance is not None and not r.answer_correct]
    if not right and not wrong:
        return None
    marks = [m for m in (s.suggestion.max_distance, s.max_distance) if m is not None]
    low, top, step = _axis_range([*right, *wrong, *marks])
    edges = np.linspace(low, top, HISTOGRAM_BINS + 1)
    right_counts = np.histogram(right, bins=edges)[0] if right else np.zeros(HISTOGRAM_BINS, int)
    wrong_counts = np.histogram(wrong, bins=edges)[0] if wrong else np.zeros(HISTOGRAM_BINS, int)
    peak = max(1, int(right_counts.max()), int(wrong_counts.max()))
    width, height, left, bottom, top_pad = 720, 240, 40, 34, 12
    plot_w, plot_h = width - left - 12, height - bottom - top_pad
    slot = plot_w / HISTOGRAM_BINS
    base = top_pad + plot_h
    bars = []
    for i in range(HISTOGRAM_BINS):
        x = left + i * slot
        for offset, count, colour in (
            (0.1, right_counts[i], RIGHT_COLOUR),
            (0.5, wrong_counts[i], WRONG_COLOUR),
        ):
            if count:
                h = plot_h * int(count) / peak
                bars.append(
                    {
                        "x": f"{x + offset * slot:.1f}",
                        "y": f"{base - h:.1f}",
                        "width": f"{0.4 * slot:.1f}",
                        "height": f"{h:.1f}",
                        "fill": colour,
                        "title": f"{edges[i]:.3f}-{edges[i + 1]:.3f}: {int(count)}",
                    }
                )
    ticks = [
        {"x": f"{left + plot_w * (tick - low) / (top - low):.1f}", "text": f"{tick:.3g}"}
        for tick in np.arange(low, top + step / 2, step)
    ]
    lines = []
    for value, name, colour in (
        (s.suggestion.max_distance, "suggested", "#1d2330"),
        (s.max_distance, "MaxDistance", "#4a78c2"),
    ):
        if value is not None:
            x = left + plot_w * (value - low) / (top - low)
            lines.append(
                {
                    "x": f"{x:.1f}",
                    "text_x": f"{x + 4:.1f}",
                    "y": top_pad + (10 if name == "suggested" else 24),
                    "colour": colour,
                    "text": f"{name} {value:g}",
                }
            )
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": left + plot_w,
        "top": top_pad,
        "base": base,
        "middle": f"{left + plot_w / 2:.0f}",
        "peak": peak,
        "bars": bars,
        "ticks": ticks,
        "marks": lines,
    }


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


def _mistakes(run: Run) -> list[dict[str, Any]]:
    """The mistakes by true label then distance, each with its own and its neighbour's thumbnail."""
    s = run.summary
    query_role = "gallery" if s.mode == "loo" else "query"
    cards = []
    for m in sorted(s.mistakes, key=lambda r: (r.label, r.distance if r.distance is not None else math.inf)):
        figures = [_figure(run.thumbnails.get((query_role, m.key)), m.key, m.label)]
        if m.neighbor is not None:
            figures.append(
                _figure(run.thumbnails.get(("gallery", m.neighbor)), f"nearest: {m.neighbor}", m.answer or "")
            )
        distance = "" if m.distance is None else f" at distance {m.distance:.4f}"
        if m.margin is not None:
            distance += f", margin {m.margin:.4f}"
        rank = next((n for n, c in enumerate(m.candidates, start=1) if c.label == m.label), None)
        if m.candidates:
            distance += (
                f"; the true label is candidate {rank} ({m.candidates[rank - 1].distance:.4f})"
                if rank
                else "; the true label is not among the candidates"
            )
        cards.append({"result": m, "figures": figures, "distance": distance})
    return cards


def _figure(jpeg: bytes | None, caption: str, label: str) -> dict[str, str | None]:
    data = None if jpeg is None else base64.b64encode(jpeg).decode("ascii")
    return {"data": data, "caption": caption, "label": label}
