"""GalleryIndex: upserts and removals ordered by S3 sequencer, exact search, safe serialisation."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from docclass.errors import CorruptIndex, UnknownIndexFormat
from docclass.index import FORMAT_VERSION, MAGIC, Entry, GalleryIndex, sequencer_value

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def entry(key: str, label: str = "invoice", seq: str = "0A") -> Entry:
    return Entry(key=key, label=label, content_hash="h-" + key, sequencer=seq)


def test_sequencers_compare_as_hex_numbers_whatever_their_length():
    assert sequencer_value("0062E99A88DC407460") < sequencer_value("0062E99A88DC407461")
    assert sequencer_value("FF") < sequencer_value("0100")  # left-padding semantics
    assert sequencer_value("") < sequencer_value("00")


def test_duplicate_delivery_does_not_duplicate_vector():
    index = GalleryIndex(DIM, "m")
    assert index.upsert(entry("gallery/a/1.png"), unit(1)) is True
    assert index.upsert(entry("gallery/a/1.png"), unit(1)) is False
    assert len(index) == 1
    assert index.labels() == {"invoice": 1}


def test_newer_upload_of_same_key_replaces_vector_and_label():
    index = GalleryIndex(DIM, "m")
    index.upsert(entry("gallery/x/1.png", "invoice", "10"), unit(1))
    index.upsert(entry("gallery/x/1.png", "letter", "11"), unit(2))
    assert len(index) == 1
    assert index.get("gallery/x/1.png").label == "letter"
    np.testing.assert_array_equal(index.vector("gallery/x/1.png"), unit(2))


def test_older_event_arriving_late_is_ignored():
    index = GalleryIndex(DIM, "m")
    index.upsert(entry("gallery/x/1.png", "letter", "11"), unit(2))
    assert index.upsert(entry("gallery/x/1.png", "invoice", "10"), unit(1)) is False
    assert index.get("gallery/x/1.png").label == "letter"


def test_delete_processed_before_its_create_keeps_the_key_out():
    index = GalleryIndex(DIM, "m")
    assert index.remove("gallery/a/1.png", "20") is True  # tombstone for a never-indexed key
    assert index.upsert(entry("gallery/a/1.png", seq="1F"), unit(1)) is False
    assert "gallery/a/1.png" not in index
    # ...but a later re-upload comes back
    assert index.upsert(entry("gallery/a/1.png", seq="21"), unit(1)) is True
    assert "gallery/a/1.png" in index


def test_removal_older_than_the_indexed_upload_is_ignored():
    index = GalleryIndex(DIM, "m")
    index.upsert(entry("gallery/a/1.png", seq="30"), unit(1))
    assert index.remove("gallery/a/1.png", "2F") is False
    assert "gallery/a/1.png" in index


def test_remove_keeps_other_rows_searchable():
    index = GalleryIndex(DIM, "m")
    for i in range(5):
        index.upsert(entry(f"gallery/l{i}/{i}.png", f"l{i}", "01"), unit(i))
    index.remove("gallery/l1/1.png", "02")
    assert len(index) == 4
    for i in (0, 2, 3, 4):
        hit = index.search(unit(i), 1)[0]
        assert hit.key == f"gallery/l{i}/{i}.png"
        assert hit.distance == pytest.approx(0.0, abs=1e-3)


def test_search_returns_euclidean_distances_nearest_first():
    index = GalleryIndex(DIM, "m")
    a, b = np.zeros(DIM, np.float32), np.zeros(DIM, np.float32)
    a[0], b[1] = 1.0, 1.0
    index.upsert(entry("gallery/a/1", "a"), a)
    index.upsert(entry("gallery/b/1", "b"), b)
    hits = index.search(a, 5)
    assert [h.label for h in hits] == ["a", "b"]
    assert hits[0].distance == pytest.approx(0.0, abs=1e-6)
    assert hits[1].distance == pytest.approx(np.sqrt(2.0), rel=1e-5)


def test_search_on_empty_index_finds_nothing():
    assert GalleryIndex(DIM, "m").search(unit(0), 3) == []


def test_search_sees_changes_made_after_a_previous_search():
    index = GalleryIndex(DIM, "m")
    index.upsert(entry("gallery/a/1", "a"), unit(1))
    assert index.search(unit(2), 1)[0].label == "a"
    index.upsert(entry("gallery/b/1", "b"), unit(2))
    assert index.search(unit(2), 1)[0].label == "b"


def test_wrong_dimension_is_refused():
    with pytest.raises(ValueError, match="dimensions"):
        GalleryIndex(DIM, "m").upsert(entry("gallery/a/1"), np.ones(DIM + 1, np.float32))


def test_round_trip_keeps_entries_vectors_and_tombstones():
    index = GalleryIndex(DIM, "model-x")
    for i in range(20):
        index.upsert(entry(f"gallery/l{i % 3}/é {i}.png", f"l{i % 3}", f"{i:04X}"), unit(i))
    index.remove("gallery/l0/é 0.png", "FFFF")
    copy = GalleryIndex.from_bytes(index.to_bytes())
    assert (copy.dimension, copy.model_id, len(copy)) == (DIM, "model-x", 19)
    assert list(copy.entries()) == list(index.entries())
    for e in index.entries():
        np.testing.assert_array_equal(copy.vector(e.key), index.vector(e.key))
    # the tombstone survived: the old create stays ignored
    assert copy.upsert(entry("gallery/l0/é 0.png", "l0", "0000"), unit(0)) is False


def test_garbage_and_truncated_snapshots_are_rejected():
    data = GalleryIndex.build(DIM, "m", [(entry("gallery/a/1"), unit(1))]).to_bytes()
    with pytest.raises(CorruptIndex):
        GalleryIndex.from_bytes(b"\x80\x04pickle?")
    with pytest.raises(CorruptIndex):
        GalleryIndex.from_bytes(data[:-4])


def test_empty_index_round_trips():
    copy = GalleryIndex.from_bytes(GalleryIndex(DIM, "m").to_bytes())
    assert (len(copy), copy.dimension, copy.labels()) == (0, DIM, {})
    assert copy.search(unit(0), 1) == []
    assert copy.upsert(entry("gallery/a/1"), unit(1)) is True


def test_matrix_is_searched_in_the_snapshot_bytes_and_copied_on_first_write():
    index = GalleryIndex(DIM, "m")
    for i in range(4):
        index.upsert(entry(f"gallery/l{i}/{i}.png", f"l{i}", "01"), unit(i))
    data = bytearray(index.to_bytes())
    snapshot = bytes(data)
    copy = GalleryIndex.from_bytes(data)
    assert copy.search(unit(2), 1)[0].key == "gallery/l2/2.png"
    assert copy.remove("gallery/l0/0.png", "02") is True
    assert copy.upsert(entry("gallery/l3/3.png", "l3", "03"), unit(7)) is True
    assert copy.upsert(entry("gallery/new/9.png", "new", "03"), unit(9)) is True
    assert bytes(data) == snapshot  # the buffer it was read from is never written to
    assert [h.key for h in copy.search(unit(7), 1)] == ["gallery/l3/3.png"]
    assert sorted(e.key for e in copy.entries()) == [
        "gallery/l1/1.png",
        "gallery/l2/2.png",
        "gallery/l3/3.png",
        "gallery/new/9.png",
    ]
    assert copy.labels() == {"l1": 1, "l2": 1, "l3": 1, "new": 1}


def test_other_format_versions_are_refused_clearly():
    data = GalleryIndex.build(DIM, "m", [(entry("gallery/a/1"), unit(1))]).to_bytes()
    version_at = len(MAGIC) - 1
    assert data[version_at] == FORMAT_VERSION
    format_1 = data[:version_at] + b"\x01" + data[version_at + 1 :]
    with pytest.raises(UnknownIndexFormat, match="unsupported index format 1"):
        GalleryIndex.from_bytes(format_1)


@pytest.mark.parametrize("cut", [len(MAGIC) + 3, len(MAGIC) + 20, -1])
def test_snapshots_cut_anywhere_are_rejected(cut: int):
    data = GalleryIndex.build(DIM, "m", [(entry(f"gallery/a/{i}"), unit(i)) for i in range(3)]).to_bytes()
    with pytest.raises(CorruptIndex):
        GalleryIndex.from_bytes(data[:cut])


def test_a_header_that_is_json_but_not_an_index_header_is_rejected():
    header = b'{"format":2,"dimension":8}'
    data = MAGIC + struct.pack("<Q", len(header)) + header
    with pytest.raises(CorruptIndex, match="unreadable index header"):
        GalleryIndex.from_bytes(data)


# -- candidates (issue 14) ----------------------------------------------------------------------


def test_candidates_are_the_nearest_example_of_each_of_the_nearest_labels():
    index = GalleryIndex(DIM, "m")
    query = unit(0)
    # examples at growing distances: a near and a far "invoice", then "letter", "form", "memo"
    for n, (label, step) in enumerate(
        [("invoice", 0.1), ("invoice", 0.9), ("letter", 0.3), ("form", 0.5), ("memo", 0.7)]
    ):
        index.upsert(
            Entry(f"gallery/{label}/{n}.png", label, f"h{n}", f"{n + 1:02d}"), query + step * unit(100 + n)
        )

    candidates = index.candidates(query, 3)

    assert [c.label for c in candidates] == ["invoice", "letter", "form"]
    assert candidates[0].key == "gallery/invoice/0.png"
    everything = {hit.key: hit.distance for hit in index.search(query, 10)}
    assert [c.distance for c in candidates] == [everything[c.key] for c in candidates]


def test_candidates_look_past_many_examples_of_one_label():
    # given 100 "invoice" examples all nearer than the one "letter" (more than the first hits looked at)
    index = GalleryIndex(DIM, "m")
    query = unit(0)
    for n in range(100):
        index.upsert(
            Entry(f"gallery/invoice/{n}.png", "invoice", f"h{n}", f"{n + 1:04d}"),
            query + 0.01 * unit(200 + n),
        )
    index.upsert(Entry("gallery/letter/x.png", "letter", "hx", "9999"), -query)
    # then the letter is still the second candidate
    assert [c.label for c in index.candidates(query, 3)] == ["invoice", "letter"]
    assert GalleryIndex(DIM, "m").candidates(query, 3) == []
