"""decide(): nearest label, weighted vote, MaxDistance and the empty gallery."""

from __future__ import annotations

import pytest

from docclass.decide import decide
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
