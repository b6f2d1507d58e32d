"""Key routing and labels: where a document goes and what metadata it carries."""

from __future__ import annotations

import pytest

from docclass.decide import Decision
from docclass.errors import InvalidGalleryKey
from docclass.routing import (
    MAX_USER_METADATA_BYTES,
    PAGE_LABELS_METADATA,
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
