"""The statistics of an evaluation: summary, per-class table, distance spread, MaxDistance suggestion,
and what ReviewMargin would send to review."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from docclass.decide import Decision
from docclass.routing import needs_review
from docclass_local.evaluate.core import PAGE_MARK, EvalResult, QueryResult, document_results

UNCLASSIFIED = "unclassified"
SUGGESTION_RULE = (
    'the threshold with the best F1 of "right and kept" (precision = accuracy on the documents kept, '
    "recall = share of the right answers kept; ties keep more documents), placed halfway between "
    "the farthest kept and the nearest rejected distance"
)


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
class ReviewOption:
    """What one ReviewMargin (None: off) would have done to the labelled answers of an evaluation:
    how many go to review/, how many of the mistakes are among them, and the accuracy of the rest."""

    review_margin: float | None
    review: int
    caught: int
    mistakes: int
    labelled: int
    accuracy_on_rest: float | None


# ReviewMargins offered: the smallest that catch this share of the labelled mistakes.
REVIEW_SHARES = (0.25, 0.5, 0.75, 1.0)
REVIEW_RULE = (
    "a labelled document whose margin (the nearest other label's distance less its own, to four "
    "decimals) is below ReviewMargin goes to review/; each margin offered is halfway between the "
    "margin of the last mistake it catches (a quarter, half, three quarters, all of them) and the "
    "next margin above, and at least 0 (a negative margin: a vote chose a farther label); a "
    "multi-page document counts once, by its pages' decision"
)


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
    review: tuple[ReviewOption, ...] = field(default=())
    # Documents (a multi-page one once) whose true label is among their candidates: what the review
    # page offers a reviewer as a one-key choice.
    candidates_right: int = 0
    documents_scored: int = 0
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
                f"{plural(len(alone), 'label')} with a single example can never be right in "
                f"leave-one-out: {', '.join(alone)}"
            )
    else:
        missing = sorted({r.label for r in results} - set(result.gallery_labels))
        if missing:
            notes.append(f"query labels absent from the gallery can never be right: {', '.join(missing)}")

    # Each document once, as the service decides it: a multi-page one by its pages' decision.
    documents = [(r.decision, r.label) for r in results if PAGE_MARK not in r.key] + [
        (decision, label) for _, label, decision in document_results(results)
    ]
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
        review=review_options(documents),
        candidates_right=sum(label in {c.label for c in d.candidates} for d, label in documents),
        documents_scored=len(documents),
        notes=tuple(notes),
    )


def review_options(decided: Sequence[tuple[Decision, str]]) -> tuple[ReviewOption, ...]:
    """ReviewMargin off, then the margins that catch a quarter, half, three quarters and all of the
    labelled mistakes that have a margin (see REVIEW_RULE), each once, smallest first; from each
    document's decision and its true label. Margins are taken as the service compares them
    (docclass-margin's four decimals), so each offered value catches what its row says."""
    labelled = [(d, label) for d, label in decided if d.label is not None]
    margins = sorted({round(m, 4) for m in (d.margin for d, _ in labelled) if m is not None})
    wrong = sorted(
        round(m, 4) for m in (d.margin for d, label in labelled if d.label != label) if m is not None
    )
    chosen: list[float | None] = [None]
    for share in REVIEW_SHARES:
        if not wrong:
            break
        last = wrong[max(math.ceil(share * len(wrong)), 1) - 1]
        above = [m for m in margins if m > last]
        # ReviewMargin is 0..2: a negative margin (a vote chose a farther label) is caught by 0
        value = max(_between(last, above[0] if above else last + 0.002), 0.0)
        if value not in chosen:
            chosen.append(value)
    return tuple(_review_option(labelled, margin) for margin in chosen)


def _review_option(labelled: Sequence[tuple[Decision, str]], margin: float | None) -> ReviewOption:
    review = [(d, label) for d, label in labelled if needs_review(d, margin)]
    rest = [(d, label) for d, label in labelled if not needs_review(d, margin)]
    return ReviewOption(
        review_margin=margin,
        review=len(review),
        caught=sum(d.label != label for d, label in review),
        mistakes=sum(d.label != label for d, label in labelled),
        labelled=len(labelled),
        accuracy_on_rest=_ratio(sum(d.label == label for d, label in rest), len(rest)),
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


def plural(n: int, word: str) -> str:
    """'1 file', '2 files': a count with its noun."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
