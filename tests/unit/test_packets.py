"""docclass.packets: sections of consecutive pages, blank and odd pages kept inside their run."""

from __future__ import annotations

import pytest

from docclass.decide import Decision, PageDecision
from docclass.packets import (
    Section,
    checked_plan,
    format_plan,
    parse_plan,
    plan_sections,
    section_key,
    with_evidence,
)


def decided(*labels: str | None, start: int = 1) -> list[PageDecision]:
    return [
        PageDecision(n, Decision(label, 0.1 * n, f"gallery/{label}/{n}.png", "nearest"))
        for n, label in enumerate(labels, start=start)
    ]


def runs(sections: list[Section]) -> list[tuple[int, int, str | None]]:
    return [(s.first, s.last, s.label) for s in sections]


def test_runs_of_labels_become_sections_covering_every_page_once():
    sections = plan_sections(5, decided("form", "statement", "statement", "id", "id"), [])
    assert runs(sections) == [(1, 1, "form"), (2, 3, "statement"), (4, 5, "id")]


def test_one_odd_page_between_two_of_the_same_label_is_smoothed():
    sections = plan_sections(5, decided("invoice", "invoice", "letter", "invoice", "invoice"), [])
    assert runs(sections) == [(1, 5, "invoice")]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("A", "B", "A", "B", "A"), [(1, 5, "A")]),
        (("A", "B", "A", "B"), [(1, 3, "A"), (4, 4, "B")]),
        (("A", "A", "B", "A", "B"), [(1, 4, "A"), (5, 5, "B")]),
    ],
)
def test_in_an_alternation_odd_pages_join_the_run_before_them_instead_of_swapping(labels, expected):
    # (each page against its left neighbour as already smoothed: no page lands in a section whose
    # label no page of it had; before, A B A B A became 1-2:A, 3:B, 4-5:A)
    sections = plan_sections(len(labels), decided(*labels), [])
    assert runs(sections) == expected
    assert all(section.distance is not None for section in sections)


def test_a_one_page_document_at_the_edge_is_its_own_section():
    assert runs(plan_sections(3, decided("id", "statement", "statement"), [])) == [
        (1, 1, "id"),
        (2, 3, "statement"),
    ]


def test_blank_pages_stay_with_the_page_before_and_a_leading_blank_with_the_next():
    # given pages 1 and 4 blank, 2-3 a form, 5 an id
    pages = [p for p in decided(None, "form", "form", None, "id") if p.number not in (1, 4)]
    # when
    sections = plan_sections(5, pages, blank=[1, 4])
    # then
    assert runs(sections) == [(1, 4, "form"), (5, 5, "id")]


def test_pages_past_max_pages_go_to_the_last_section():
    assert runs(plan_sections(9, decided("form", "id"), [])) == [(1, 1, "form"), (2, 9, "id")]


def test_unclassified_pages_form_sections_of_their_own():
    assert runs(plan_sections(4, decided("form", "form", None, None), [])) == [(1, 2, "form"), (3, 4, None)]


def test_a_section_reports_its_nearest_page():
    (first, _) = plan_sections(3, decided("form", "form", "id"), [])
    assert (first.distance, first.neighbor) == (pytest.approx(0.1), "gallery/form/1.png")


def test_the_plan_reads_back_as_written():
    sections = plan_sections(6, decided("form", "statement", "statement", None, None, "id"), [])
    assert format_plan(sections) == "1:form,2-3:statement,4-5:,6:id"
    assert runs(parse_plan(format_plan(sections))) == runs(sections)


def test_a_plan_with_labels_outside_ascii_or_holding_separators_is_ascii_and_reads_back():
    sections = plan_sections(3, decided("Kündigung", "Kündigung", "a,b:c"), [])
    plan = format_plan(sections)
    assert plan.isascii() and plan.count(",") == 1
    assert runs(parse_plan(plan)) == [(1, 2, "Kündigung"), (3, 3, "a,b:c")]


def test_a_plan_marks_the_sections_that_went_to_review_and_reads_them_back():
    sections = [Section(1, 2, "form", review=True), Section(3, 3, "id"), Section(4, 4, None)]
    plan = format_plan(sections)
    assert plan == "1-2:form:review,3:id,4:"
    assert [(s.first, s.last, s.label, s.review) for s in parse_plan(plan)] == [
        (1, 2, "form", True),
        (3, 3, "id", False),
        (4, 4, None, False),
    ]
    # a label that is itself "review" or ends so is percent-encoded apart from the mark
    tricky = [Section(1, 1, "x:review"), Section(2, 2, "review", review=True)]
    assert [(s.label, s.review) for s in parse_plan(format_plan(tricky))] == [
        ("x:review", False),
        ("review", True),
    ]


def test_a_plan_written_before_review_existed_reads_as_classified():
    assert [s.review for s in parse_plan("1-3:form,4:invoice,5-6:letter")] == [False, False, False]


@pytest.mark.parametrize(
    ("plan", "pages", "sound"),
    [
        ("1-3:form,4:invoice:review,5-6:letter", 6, True),
        ("1-6:", 6, True),
        ("1-3:form,4:invoice", 6, False),  # pages 5-6 in no section
        ("1-3:form,3-6:letter", 6, False),  # page 3 twice
        ("2-6:form", 6, False),  # page 1 in none
        ("4-3:form", 3, False),
        ("garbage", 6, False),
        ("", 6, False),
        # the page count unknown (the document cannot be read again): pages 1..the plan's last
        ("1-3:form,4:id", None, True),
        ("2-3:form", None, False),
    ],
)
def test_a_stored_plan_is_followed_only_when_it_covers_every_page_once(
    plan: str, pages: int | None, sound: bool
):
    assert (checked_plan(plan, pages) is not None) is sound


def test_with_evidence_keeps_where_the_plan_sent_each_section():
    planned = parse_plan("1-2:form:review,3:id")
    again = with_evidence(planned, decided("form", "form", "id"))
    assert [(s.label, s.review) for s in again] == [("form", True), ("id", False)]
    assert again[0].distance == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("path", "section", "key"),
    [
        ("scans/loan.pdf", Section(1, 3, "invoice"), "classified/invoice/scans/loan/part-02-p1-3.pdf"),
        ("loan.PDF", Section(4, 4, None), "unclassified/loan/part-02-p4.pdf"),
        ("no-extension", Section(2, 5, "id"), "classified/id/no-extension/part-02-p2-5.pdf"),
        # the path as it is: no segment collapsed, no "./" dropped or added
        ("a//b.pdf", Section(1, 1, "id"), "classified/id/a//b/part-02-p1.pdf"),
        ("./x/b.pdf", Section(1, 1, "id"), "classified/id/./x/b/part-02-p1.pdf"),
        ("a/..pdf", Section(1, 1, "id"), "classified/id/a/..pdf/part-02-p1.pdf"),
        (
            "scans/loan.pdf",
            Section(1, 3, "invoice", review=True),
            "review/invoice/scans/loan/part-02-p1-3.pdf",
        ),
    ],
)
def test_section_keys_say_where_the_pages_came_from(path: str, section: Section, key: str):
    assert section_key(path, 2, section) == key
