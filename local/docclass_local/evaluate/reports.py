"""The reports of an evaluation run: the text on stdout, the JSON object and the HTML page."""

from __future__ import annotations

import base64
import html
import math
import re
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docclass_local.evaluate.core import QueryResult
from docclass_local.evaluate.stats import Suggestion, Summary, plural

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
