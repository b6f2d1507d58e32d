"""Key routing and labels: where a document goes and what metadata it carries."""

from __future__ import annotations

import pytest

from docclass.decide import Candidate, Decision
from docclass.errors import InvalidGalleryKey
from docclass.routing import (
    MAX_USER_METADATA_BYTES,
    PAGE_LABELS_METADATA,
    candidates_metadata,
    destination_key,
    destination_names,
    error_metadata,
    failed_key,
    fit_page_labels,
    fits_with,
    gallery_label,
    inbox_path,
    metadata_size,
    page_labels,
    pages_metadata,
    parse_candidates,
    result_metadata,
)


def test_label_comes_from_the_folder_under_gallery():
    assert gallery_label("gallery/invoice/2024/a.png", {}) == "invoice"


def test_label_metadata_wins_over_the_prefix():
    assert gallery_label("gallery/misc/a.png", {"label": "bank-statement"}) == "bank-statement"


@pytest.mark.parametrize("key", ["gallery/a.png", "gallery//a.png", "gallery/invoice/"])
def test_gallery_key_without_label_is_rejected_with_a_hint(key):
    with pytest.raises(InvalidGalleryKey, match="no label"):
        gallery_label(key, {})


@pytest.mark.parametrize("label", ["..", "-x", "a" * 65, "in\nvoice", "in<voice>", "a/b"])
def test_unsafe_labels_are_rejected(label):
    with pytest.raises(InvalidGalleryKey):
        gallery_label("gallery/x/a.png", {"label": label})


def test_blank_label_metadata_falls_back_to_the_folder():
    assert gallery_label("gallery/invoice/a.png", {"label": "  "}) == "invoice"


def test_destinations_keep_the_path_below_inbox():
    path = inbox_path("inbox/2026/March 2026+urgent.png")
    assert path == "2026/March 2026+urgent.png"
    assert (
        destination_key(Decision("invoice", 0.1, "k", ""), path)
        == "classified/invoice/2026/March 2026+urgent.png"
    )
    assert destination_key(Decision(None, 1.5, "k", ""), path) == "unclassified/2026/March 2026+urgent.png"
    assert failed_key(path) == "failed/2026/March 2026+urgent.png"


def test_inbox_path_refuses_keys_outside_inbox():
    with pytest.raises(ValueError):
        inbox_path("classified/invoice/a.png")


def test_result_metadata_is_ascii_and_complete():
    meta = result_metadata(Decision("invoice", 0.123456789, "gallery/invoice/Rechnung ü.png", ""), "m1")
    assert meta == {
        "docclass-label": "invoice",
        "docclass-distance": "0.123457",
        "docclass-neighbor": "gallery/invoice/Rechnung %C3%BC.png",
        "docclass-model": "m1",
    }
    assert all(v.isascii() for v in meta.values())


def test_error_metadata_is_one_bounded_ascii_line():
    meta = error_metadata("cannot decode\n" + "é" * 2000, "m1")
    assert "\n" not in meta["docclass-error"]
    assert meta["docclass-error"].isascii()
    assert len(meta["docclass-error"]) < 2048


@pytest.mark.parametrize(
    ("key", "second", "third"),
    [
        ("classified/a/scan.png", "classified/a/scan~0123abcd.png", "classified/a/scan~0123abcdef45672.png"),
        ("failed/2026/x.y/no-extension", "failed/2026/x.y/no-extension~0123abcd", None),
        ("unclassified/.hidden", "unclassified/.hidden~0123abcd", None),
        ("classified/a/archive.tar.gz", "classified/a/archive.tar~0123abcd.gz", None),
    ],
)
def test_a_taken_destination_name_gives_way_to_names_from_the_etag(key, second, third):
    names = destination_names(key, '"0123abcdef4567-2"')
    assert names[:2] == [key, second]
    assert len(names) == 3 and len(set(names)) == 3
    if third:
        assert names[2] == third


def test_without_an_etag_a_destination_has_one_name():
    assert destination_names("classified/a/scan.png", "") == ["classified/a/scan.png"]


# --- page metadata of multi-page documents -----------------------------------------------------------


def test_page_labels_are_runs_of_consecutive_pages():
    summary = page_labels(
        [(1, "invoice"), (2, "invoice"), (3, "invoice"), (4, "receipt"), (5, "blank"), (7, "x")]
    )
    assert summary == "1-3:invoice,4:receipt,5:blank,7:x"


def test_pages_metadata_says_how_many_pages_were_embedded_blank_and_unread():
    assert pages_metadata(25, read=20, embedded=18, blank=2) == "total=25 embedded=18 blank=2 unread=5"


def test_a_page_summary_too_long_for_s3_is_cut_at_a_run_with_a_marker():
    # given 100 pages alternating between two 60-character labels, and a long neighbour key
    labels = ["a" * 60, "b" * 60]
    metadata = {
        "docclass-neighbor": "gallery/" + "k" * 400,
        PAGE_LABELS_METADATA: page_labels([(i, labels[i % 2]) for i in range(1, 101)]),
    }
    # when
    fitted = fit_page_labels(metadata)
    # then it fits S3's 2 KB, ends with the marker, and every run left is whole
    assert metadata_size(fitted) <= MAX_USER_METADATA_BYTES < metadata_size(metadata)
    runs = fitted[PAGE_LABELS_METADATA].split(",")
    assert runs[-1] == "..." and runs[:-1] == metadata[PAGE_LABELS_METADATA].split(",")[: len(runs) - 1]
    assert fitted["docclass-neighbor"] == metadata["docclass-neighbor"]


def test_a_page_summary_that_fits_is_left_alone():
    metadata = {PAGE_LABELS_METADATA: "1-3:invoice"}
    assert fit_page_labels(metadata) == metadata


def test_a_plan_fits_only_if_the_metadata_stays_within_2_kb():
    # given 30 sections with 60-character labels (about 2 KB of plan)
    plan = ",".join(f"{n}:{'x' * 60}" for n in range(1, 31))
    # then it does not fit beside a long neighbour key, and a short one does
    assert not fits_with({"docclass-neighbor": "k" * 200}, "docclass-sections", plan)
    assert fits_with({"docclass-neighbor": "k" * 200}, "docclass-sections", "1-3:form,4:id")


def test_a_sections_metadata_with_very_long_keys_fits_s3s_2_kb_by_dropping_neighbour_then_packet():
    from docclass.routing import MAX_USER_METADATA_BYTES, fit_section_metadata, metadata_size

    # given a section of a packet whose key and nearest example's key are both near S3's 1,024 bytes
    metadata = {
        "docclass-model": "amazon.titan-embed-image-v1",
        "docclass-label": "invoice",
        "docclass-distance": "0.412000",
        "docclass-neighbor": "gallery/invoice/" + "n" * 1000,
        "docclass-packet": "packets/" + "p" * 1000,
        "docclass-packet-pages": "1-3",
        "docclass-source-etag": "d41d8cd98f00b204e9800998ecf8427e",
    }
    assert metadata_size(metadata) > MAX_USER_METADATA_BYTES
    # when / then the neighbour goes first, and what is left fits
    fitted = fit_section_metadata(metadata)
    assert metadata_size(fitted) <= MAX_USER_METADATA_BYTES
    assert "docclass-neighbor" not in fitted and fitted["docclass-packet"] == metadata["docclass-packet"]
    # and metadata that fits is left as it is
    short = {k: v for k, v in metadata.items() if k != "docclass-neighbor"}
    assert fit_section_metadata(short) == short


# -- candidates (issue 14) ----------------------------------------------------------------------


def test_candidates_round_trip_through_ascii_metadata_whatever_the_keys_hold():
    candidates = (
        Candidate("invoice", 0.41234, "gallery/invoice/a,b:c.png"),
        Candidate("bank statement", 0.448, "gallery/bank statement/Überweisung 100%.png"),
        Candidate("letter", 0.53, "gallery/letter/x#page=2"),
    )

    metadata = candidates_metadata(candidates, margin=0.448 - 0.41234)

    assert metadata["docclass-candidates"] == "invoice:0.4123,bank statement:0.4480,letter:0.5300"
    assert metadata["docclass-margin"] == "0.0357"
    assert all(value.isascii() for value in metadata.values())
    parsed = parse_candidates(metadata)
    assert [(c.label, c.example) for c in parsed] == [(c.label, c.example) for c in candidates]
    assert [c.distance for c in parsed] == [0.4123, 0.448, 0.53]


def test_review_needs_a_label_a_margin_and_the_setting():
    two = (Candidate("invoice", 0.40, "g/1"), Candidate("receipt", 0.43, "g/2"))
    close = Decision("invoice", 0.40, "g/1", "nearest", two)
    assert destination_key(close, "a.png", review_margin=0.05) == "review/invoice/a.png"
    assert destination_key(close, "a.png", review_margin=0.03) == "classified/invoice/a.png"
    assert destination_key(close, "a.png") == "classified/invoice/a.png"
    unlabelled = Decision(None, 0.40, "g/1", "too far", two)
    assert destination_key(unlabelled, "a.png", review_margin=1.0) == "unclassified/a.png"
    alone = Decision("invoice", 0.40, "g/1", "nearest", two[:1])
    assert destination_key(alone, "a.png", review_margin=1.0) == "classified/invoice/a.png"


def test_the_candidates_examples_are_left_out_before_the_page_labels_are_cut():
    long_key = "gallery/invoice/" + "x" * 700 + ".png"
    candidates = tuple(Candidate(label, 0.1 * n, long_key) for n, label in enumerate(("a", "b", "c"), 1))
    metadata = {**candidates_metadata(candidates), "docclass-page-labels": "1:a,2:b"}

    fitted = fit_page_labels(metadata)

    assert "docclass-candidate-examples" not in fitted
    assert fitted["docclass-page-labels"] == "1:a,2:b"
    assert [c.example for c in parse_candidates(fitted)] == ["", "", ""]


def test_candidates_with_the_longest_non_ascii_labels_are_trimmed_to_fit_s3s_2_kb():
    # given three valid 64-letter labels in CJK (9 bytes each once percent-encoded)
    labels = [chr(0x4E00 + n) * 64 for n in range(3)]
    candidates = tuple(
        Candidate(label, 0.1 * (n + 1), f"gallery/{label}/a.png") for n, label in enumerate(labels)
    )
    decision = Decision(labels[0], 0.1, f"gallery/{labels[0]}/a.png", "nearest", candidates)
    metadata = result_metadata(decision, "amazon.titan-embed-image-v1")
    assert metadata_size(metadata) > MAX_USER_METADATA_BYTES
    # when it is fitted, as every copy's metadata is
    fitted = fit_page_labels(metadata)
    # then it fits, the candidates kept are the nearest ones, and they still parse
    assert metadata_size(fitted) <= MAX_USER_METADATA_BYTES
    kept = parse_candidates(fitted)
    assert 1 <= len(kept) < 3 and [c.label for c in kept] == labels[: len(kept)]
    assert fitted["docclass-label"] == metadata["docclass-label"]
