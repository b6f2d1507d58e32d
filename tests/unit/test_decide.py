"""decide(): nearest label, weighted vote, MaxDistance and the empty gallery."""

from __future__ import annotations

import pytest

from docclass.decide import Decision, PageDecision, decide, decide_pages
from docclass.index import Neighbor


def n(label: str, distance: float, key: str | None = None) -> Neighbor:
    return Neighbor(key or f"gallery/{label}/{distance}.png", label, distance)


def test_empty_gallery_is_unclassified():
    decision = decide([], None)
    assert decision.label is None
    assert decision.distance is None
    assert "empty" in decision.reason


def test_k1_takes_the_nearest_label_with_its_distance_and_key():
    decision = decide([n("invoice", 0.4, "gallery/invoice/a.png")])
    assert (decision.label, decision.distance, decision.neighbor) == ("invoice", 0.4, "gallery/invoice/a.png")


def test_no_max_distance_always_takes_the_nearest_class():
    assert decide([n("letter", 1.9)], None).label == "letter"


def test_beyond_max_distance_is_unclassified_but_reports_the_distance():
    decision = decide([n("letter", 0.81)], max_distance=0.8)
    assert decision.label is None
    assert decision.distance == pytest.approx(0.81)
    assert decision.neighbor == "gallery/letter/0.81.png"
    assert decide([n("letter", 0.8)], max_distance=0.8).label == "letter"


def test_weighted_vote_lets_two_close_neighbours_outvote_one_slightly_closer():
    # 1/0.30 = 3.33 for form; 1/0.32 + 1/0.33 = 6.16 for invoice
    decision = decide([n("form", 0.30), n("invoice", 0.32), n("invoice", 0.33)])
    assert decision.label == "invoice"
    assert decision.distance == pytest.approx(0.32)


def test_weighted_vote_prefers_a_very_close_neighbour_over_two_far_ones():
    assert decide([n("form", 0.05), n("invoice", 0.9), n("invoice", 0.95)]).label == "form"


def test_exact_duplicate_wins_without_dividing_by_zero():
    assert decide([n("receipt", 0.0), n("invoice", 0.1), n("invoice", 0.1)]).label == "receipt"


# --- a document's decision from its pages ------------------------------------------------------------


def pages(*decisions: tuple[str | None, float]) -> list[PageDecision]:
    """Page decisions in order, numbered from 1."""
    return [
        PageDecision(i, Decision(label, distance, f"gallery/{label}/{i}.png", "nearest"))
        for i, (label, distance) in enumerate(decisions, start=1)
    ]


def test_one_page_decides_exactly_as_a_single_image():
    (only,) = pages(("invoice", 0.3))
    assert decide_pages([only]) is only.decision


def test_one_odd_page_cannot_flip_the_document_however_close_it_is():
    # given two invoice pages, and a last page nearly identical to some letter example
    decision = decide_pages(pages(("invoice", 0.6), ("invoice", 0.7), ("letter", 0.01)))
    # then
    assert decision.label == "invoice"
    assert (decision.distance, decision.neighbor) == (0.6, "gallery/invoice/1.png")
    assert decision.reason == "2 of 3 pages"


def test_between_labels_with_as_many_pages_the_nearer_wins():
    assert decide_pages(pages(("letter", 0.5), ("invoice", 0.4))).label == "invoice"


def test_a_label_wins_against_as_many_unclassified_pages():
    assert decide_pages(pages(("invoice", 0.5), (None, 1.2))).label == "invoice"


def test_more_unclassified_pages_than_any_label_leave_the_document_unclassified():
    # given
    decision = decide_pages(pages((None, 1.3), ("invoice", 0.5), (None, 1.1)))
    # then: the nearest unclassified page is reported
    assert (decision.label, decision.distance, decision.neighbor) == (None, 1.1, "gallery/None/3.png")
    assert decision.reason == "2 of 3 pages unclassified"


def test_no_pages_is_a_programming_error():
    with pytest.raises(ValueError, match="at least one page"):
        decide_pages([])
