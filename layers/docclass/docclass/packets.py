"""Packet splitting (pure logic): which consecutive pages of a PDF form one section, and its name.

A packet is one scan of several documents (a form, two bank statements, an ID). Its pages are
decided one by one; sections are the runs of consecutive pages with the same label, after two
rules that keep a section from being cut by one page that says nothing or says the wrong thing:
- a near-blank page belongs to the page before it (the empty back side of a sheet), or to the page
  after it when it opens the document; pages past MaxPages, never read, belong to the last section;
- one page whose label differs from the pages on both sides of it, which agree, takes their label
  (an odd page inside a run: a cover sheet, a page the gallery has no example like); pages are
  taken in order, each against its left neighbour as smoothed already, so in an alternation
  (A B A B A) every B joins the A run instead of A and B swapping.
Every page is in exactly one section, and sections cover the document in order.

With ReviewMargin, a section whose own margin is below it goes to review/<label>/ as a whole
document would; the plan records that choice, so a split finished by a later delivery writes each
section where it was planned, whatever the gallery or the setting has become.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

from docclass.config import CLASSIFIED_PREFIX, PACKETS_PREFIX, REVIEW_PREFIX, UNCLASSIFIED_PREFIX
from docclass.decide import Candidate, Decision, PageDecision, merge_candidates

# Ends a label in the plan when its section went to review/ (a percent-encoded label has no ":").
REVIEW_MARK = ":review"


@dataclass(frozen=True)
class Section:
    """Pages first..last (from 1) of a packet, with their label (None: unclassified)."""

    first: int
    last: int
    label: str | None
    distance: float | None = None
    neighbor: str | None = None
    # The section's pages' candidates: each label at its nearest page (docclass.decide).
    candidates: tuple[Candidate, ...] = ()
    # Goes to review/<label>/ instead of classified/<label>/ (a close call under ReviewMargin).
    review: bool = False

    @property
    def pages(self) -> str:
        """ "3" or "1-3"."""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    @property
    def decision(self) -> Decision:
        """The section's outcome as a document's, for its metadata and the review rule."""
        return Decision(self.label, self.distance, self.neighbor, "section", self.candidates)


def plan_sections(page_count: int, pages: Sequence[PageDecision], blank: Sequence[int]) -> list[Section]:
    """The sections of a document from its embedded pages' decisions (see the module's rules)."""
    if not pages:
        raise ValueError("a packet is planned from at least one embedded page")
    decided = {p.number: p.decision for p in pages}
    read = max([*decided, *blank])
    labels: list[str | None] = []
    for number in range(1, read + 1):
        if number in decided:
            labels.append(decided[number].label)
        elif labels:  # blank: with the page before it
            labels.append(labels[-1])
        else:  # a blank first page: with the first decided page
            labels.append(decided[min(decided)].label)
    labels += [labels[-1]] * (page_count - read)  # never read: with the last section
    # Left to right over what is already smoothed: in an alternation (A B A B A) each odd page
    # joins the run before it, instead of pages swapping labels with their neighbours.
    smoothed = list(labels)
    for i in range(1, len(labels) - 1):
        if smoothed[i - 1] == labels[i + 1] != labels[i]:
            smoothed[i] = smoothed[i - 1]
    sections: list[Section] = []
    start = 1
    for number in range(2, len(smoothed) + 2):
        if number > len(smoothed) or smoothed[number - 1] != smoothed[start - 1]:
            sections.append(_section(start, number - 1, smoothed[start - 1], decided))
            start = number
    return sections


def with_evidence(sections: Sequence[Section], pages: Sequence[PageDecision]) -> list[Section]:
    """The sections of a plan (pages and labels only) with their distance and neighbour, taken from
    the pages' decisions as plan_sections takes them; None where no page of a section carries its
    label any more (the gallery changed since the plan was made)."""
    decided = {p.number: p.decision for p in pages}
    return [replace(_section(s.first, s.last, s.label, decided), review=s.review) for s in sections]


def _section(first: int, last: int, label: str | None, decided: dict[int, Decision]) -> Section:
    """A section, with the distance and neighbour of its nearest page that carries its label."""
    own = [
        d for n, d in decided.items() if first <= n <= last and d.label == label and d.distance is not None
    ]
    best = min(own, key=lambda d: d.distance or 0.0, default=None)
    candidates = merge_candidates(c for n, d in decided.items() if first <= n <= last for c in d.candidates)
    return Section(
        first, last, label, best.distance if best else None, best.neighbor if best else None, candidates
    )


def format_plan(sections: Sequence[Section]) -> str:
    """docclass-sections: "1-3:invoice,4:receipt:review,5-6:" (an empty label: unclassified;
    ":review": the section went to review/); a label is percent-encoded (S3 metadata is ASCII, and
    "," and ":" separate)."""
    return ",".join(
        f"{s.pages}:{quote(s.label or '', safe='')}{REVIEW_MARK if s.review else ''}" for s in sections
    )


def parse_plan(text: str) -> list[Section]:
    """The sections a packet's docclass-sections names (labels only; distances are on the sections)."""
    sections = []
    for item in text.split(","):
        pages, _, label = item.partition(":")
        review = label.endswith(REVIEW_MARK)
        label = label.removesuffix(REVIEW_MARK)
        first, _, last = pages.partition("-")
        sections.append(Section(int(first), int(last or first), unquote(label) or None, review=review))
    return sections


def checked_plan(text: str, page_count: int | None) -> list[Section] | None:
    """The sections a packets/ copy's plan names when they cover pages 1..page_count (page_count
    None: 1..their last) once each, in order; None for a plan that does not describe the document
    (edited by hand, empty)."""
    try:
        sections = parse_plan(text)
    except ValueError:
        return None
    expected = 1
    for section in sections:
        if section.first != expected or section.last < section.first:
            return None
        expected = section.last + 1
    if not sections or (page_count is not None and expected != page_count + 1):
        return None
    return sections


def section_key(path: str, index: int, section: Section) -> str:
    """Where section `index` (from 1) of the packet at inbox path `path` goes.

    classified/<label>/<path without extension>/part-01-p1-3.pdf, or review/<label>/... or
    unclassified/...
    """
    # The path as it is (no normalising: "a//b.pdf" and "./b.pdf" are keys of their own), less the
    # extension of its last segment.
    folder, slash, name = path.rpartition("/")
    base, dot, _ = name.rpartition(".")
    stem = folder + slash + (base if dot and base.strip(".") else name)
    if not section.label:
        prefix = UNCLASSIFIED_PREFIX
    else:
        prefix = f"{REVIEW_PREFIX if section.review else CLASSIFIED_PREFIX}{section.label}/"
    return f"{prefix}{stem}/part-{index:02d}-p{section.pages}.pdf"


def packet_key(path: str) -> str:
    """packets/<path>: where the original of a split packet is kept."""
    return f"{PACKETS_PREFIX}{path}"
