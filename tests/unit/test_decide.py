"""decide(): nearest label, weighted vote, MaxDistance and the empty gallery."""

from __future__ import annotations

import pytest

from docclass.decide import Candidate, Decision, PageDecision, decide, decide_pages
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


# -- the margin (issue 14) --------------------------------------------------------------------------


def test_the_margin_is_measured_from_the_chosen_label_even_when_a_vote_chose_a_farther_one():
    # given k=3 hits A 0.40, B 0.41, B 0.42: the vote picks B although A is nearer
    hits = [Neighbor("g/a", "A", 0.40), Neighbor("g/b1", "B", 0.41), Neighbor("g/b2", "B", 0.42)]
    decision = decide(hits).with_candidates(Candidate(h.label, h.distance, h.key) for h in hits)
    assert decision.label == "B"
    # then the margin says another label is nearer: negative, a call for review at any ReviewMargin
    assert decision.margin == pytest.approx(0.40 - 0.41)


def test_a_multi_page_documents_margin_is_from_its_label_not_from_an_odd_page():
    # given two invoice pages at 0.30 and a cover page very near a letter example
    def page(n, label, distance):
        decision = Decision(label, distance, f"g/{label}", "nearest")
        others = {"invoice": 0.30, "letter": 0.10}
        return PageDecision(
            n,
            decision.with_candidates(
                Candidate(lbl, d if lbl != label else distance, f"g/{lbl}") for lbl, d in others.items()
            ),
        )

    pages = [page(1, "letter", 0.10), page(2, "invoice", 0.30), page(3, "invoice", 0.30)]
    decision = decide_pages(pages)
    # then the document is an invoice whose nearest other label is 0.20 nearer: not a clear call
    assert decision.label == "invoice"
    assert [c.label for c in decision.candidates] == ["letter", "invoice"]
    assert decision.margin == pytest.approx(0.10 - 0.30)


def test_an_unclassified_documents_margin_is_the_gap_of_its_first_two_candidates():
    candidates = (Candidate("A", 0.9, "g/a"), Candidate("B", 0.95, "g/b"))
    assert Decision(None, 0.9, "g/a", "too far", candidates).margin == pytest.approx(0.05)
    assert Decision("A", 0.9, "g/a", "nearest", candidates[:1]).margin is None
