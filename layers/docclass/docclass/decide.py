"""The nearest-neighbour decision: which label, if any, a document gets (pure logic)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the decision is pure logic: it needs no FAISS to run
    from docclass.index import Neighbor

# Keeps the vote weight finite for an exact duplicate (distance 0).
_EPSILON = 1e-6


# Labels a document's candidates name (docclass-candidates).
CANDIDATE_COUNT = 3


@dataclass(frozen=True)
class Candidate:
    """A label the document may be: the distance to its nearest example, and that example's key."""

    label: str
    distance: float
    example: str


@dataclass(frozen=True)
class Decision:
    """The outcome of a nearest-neighbour search: a label, or None for unclassified.

    candidates: the nearest distinct labels, nearest first (at most CANDIDATE_COUNT), each with its
    nearest example; what a reviewer chooses from.
    """

    label: str | None
    distance: float | None
    neighbor: str | None
    reason: str
    candidates: tuple[Candidate, ...] = ()

    @property
    def margin(self) -> float | None:
        """How clear the call was: the nearest other label's distance less the chosen label's.

        Negative when another label is nearer than the chosen one (a weighted vote or a multi-page
        decision can choose so). For an unclassified document, the gap between its first two
        candidates. None without a second label among the candidates.
        """
        if self.label is None or self.distance is None:
            if len(self.candidates) < 2:
                return None
            return self.candidates[1].distance - self.candidates[0].distance
        others = [c.distance for c in self.candidates if c.label != self.label]
        if not others:
            return None
        return min(others) - self.distance

    def with_candidates(self, candidates: Iterable[Candidate]) -> Decision:
        """This decision with its candidates: the nearest example of each label, nearest first."""
        return replace(self, candidates=merge_candidates(candidates))


def merge_candidates(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """The nearest candidate of each label, nearest first, at most CANDIDATE_COUNT (of a document,
    from its pages' candidates: each label at its nearest page)."""
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        if candidate.label not in best or candidate.distance < best[candidate.label].distance:
            best[candidate.label] = candidate
    ranked = sorted(best.values(), key=lambda c: (c.distance, c.label))
    return tuple(ranked[:CANDIDATE_COUNT])


def decide(neighbors: Sequence[Neighbor], max_distance: float | None = None) -> Decision:
    """Label of the nearest example (k=1) or a distance-weighted vote (k>1); None if too far.

    Each neighbour votes 1/distance for its label; the heaviest label wins (ties: the one with
    the nearer example). The reported distance and neighbour are the winning label's nearest
    example; beyond max_distance the document is unclassified.
    """
    if not neighbors:
        return Decision(None, None, None, "the gallery is empty")
    weight: dict[str, float] = defaultdict(float)
    nearest: dict[str, Neighbor] = {}
    for hit in neighbors:
        weight[hit.label] += 1.0 / (hit.distance + _EPSILON)
        if hit.label not in nearest or hit.distance < nearest[hit.label].distance:
            nearest[hit.label] = hit
    label = max(weight, key=lambda name: (weight[name], -nearest[name].distance, name))
    best = nearest[label]
    if max_distance is not None and best.distance > max_distance:
        return Decision(
            None,
            best.distance,
            best.key,
            f"nearest example is {best.distance:.4f} away, beyond {max_distance}",
        )
    return Decision(label, best.distance, best.key, "nearest" if len(neighbors) == 1 else "weighted vote")


@dataclass(frozen=True)
class PageDecision:
    """The decision of one embedded page of a multi-page document (page numbers from 1)."""

    number: int
    decision: Decision


def decide_pages(pages: Sequence[PageDecision]) -> Decision:
    """The document's decision from its pages' decisions: one vote per page.

    The label held by the most pages wins; between labels with as many pages, the one whose
    nearest page is nearer. Pages beyond MaxDistance vote "unclassified", which wins only with more
    pages than the leading label. A page's vote does not grow with its closeness, so one odd page
    (a cover sheet, a near-duplicate of some example, a blank the detector let through) cannot
    outvote two pages, whatever its distance. One page decides alone, exactly as a single image.
    The reported distance and neighbour are the winning label's nearest page's (for an unclassified
    document, the nearest page's); the candidates are each label at its nearest page.
    """
    if not pages:
        raise ValueError("a document is decided from at least one page")
    if len(pages) == 1:
        return pages[0].decision
    merged = _decide_pages(pages)
    return merged.with_candidates(c for page in pages for c in page.decision.candidates)


def _decide_pages(pages: Sequence[PageDecision]) -> Decision:
    count: dict[str, int] = defaultdict(int)
    nearest: dict[str, Decision] = {}
    unclassified = [p.decision for p in pages if p.decision.label is None]
    for page in pages:
        label, decision = page.decision.label, page.decision
        if label is None:
            continue
        count[label] += 1
        if label not in nearest or _distance(decision) < _distance(nearest[label]):
            nearest[label] = decision
    total = len(pages)
    if count:
        label = min(count, key=lambda name: (-count[name], _distance(nearest[name]), name))
        if count[label] >= len(unclassified):
            best = nearest[label]
            return Decision(label, best.distance, best.neighbor, f"{count[label]} of {total} pages")
    best = min(unclassified, key=_distance)
    return Decision(None, best.distance, best.neighbor, f"{len(unclassified)} of {total} pages unclassified")


def _distance(decision: Decision) -> float:
    return float("inf") if decision.distance is None else decision.distance
