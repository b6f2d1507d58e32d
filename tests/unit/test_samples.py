"""docclass_local.samples: reproducible, non-blank, right-sized synthetic scans of every class."""

from __future__ import annotations

import hashlib
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from docclass_local.samples import CLASSES, documents, encode, generate, glyphs, render

SKEW = math.sin(math.radians(1.5))  # the largest skew the scanner applies
LETTER_IN = (8.5, 11.0)
RECEIPT_WIDTH_IN = 3.1
RECEIPT_LENGTH_IN = (3.5, 9.0)
ID_CARD_IN = (3.37 + 0.6, 2.125 + 0.6)  # the ID-1 card plus 0.3 in of background on each side


def grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


def assert_skewed_size(actual: int, nominal: float, other_side: int) -> None:
    """A skewed scan grows by at most sin(1.5 deg) of the other side, plus a pixel or two."""
    assert round(nominal) <= actual <= round(nominal) + math.ceil(SKEW * other_side) + 3, (actual, nominal)


# --- determinism -----------------------------------------------------------------------------------


@pytest.mark.parametrize("label", CLASSES)
def test_same_label_and_seed_give_identical_png_bytes(label):
    # given / when
    first = encode(render(label, 7), "PNG")
    second = encode(render(label, 7), "PNG")
    # then
    assert first == second


def test_pages_are_identical_in_a_fresh_process_with_another_hash_seed():
    # given: a page made here
    here = hashlib.sha256(np.asarray(render("invoice", 3)).tobytes()).hexdigest()
    code = (
        "import hashlib, numpy as np; from docclass_local.samples import render; "
        "print(hashlib.sha256(np.asarray(render('invoice', 3)).tobytes()).hexdigest())"
    )
    # when: the same page is made by another interpreter whose str hashes differ
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    # then
    assert there == here


@pytest.mark.parametrize("label", CLASSES)
def test_different_seeds_give_different_pages(label):
    # given / when
    one, two = render(label, 1), render(label, 2)
    # then
    assert one.size != two.size or not np.array_equal(np.asarray(one), np.asarray(two))


def test_sample_sets_for_different_seeds_do_not_overlap():
    # given / when
    first = {body for _, _, body in documents(2, seed=0, classes=("receipt",))}
    second = {body for _, _, body in documents(2, seed=1, classes=("receipt",))}
    # then
    assert len(first) == 2
    assert len(second) == 2
    assert not first & second


# --- sizes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [150, 300])
@pytest.mark.parametrize("label", [c for c in CLASSES if c not in ("receipt", "id_card")])
def test_letter_size_classes_are_8_5_by_11_inches(label, dpi):
    # given / when
    width, height = render(label, 0, dpi=dpi).size
    # then
    assert_skewed_size(width, LETTER_IN[0] * dpi, height)
    assert_skewed_size(height, LETTER_IN[1] * dpi, width)


def test_letter_page_at_150_dpi_is_1275_by_1650_before_skew():
    # given / when
    width, height = render("letter", 0).size
    # then
    assert 1275 <= width <= 1275 + 45
    assert 1650 <= height <= 1650 + 45


@pytest.mark.parametrize("dpi", [150, 300])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_receipts_are_narrow_strips_of_varied_length(seed, dpi):
    # given / when
    width, height = render("receipt", seed, dpi=dpi).size
    # then
    assert_skewed_size(width, RECEIPT_WIDTH_IN * dpi, height)
    assert RECEIPT_LENGTH_IN[0] * dpi <= height <= (RECEIPT_LENGTH_IN[1] + 0.2) * dpi
    assert height > 1.3 * width


def test_receipt_length_follows_its_content():
    # given / when
    heights = {render("receipt", seed).height for seed in range(6)}
    # then
    assert len(heights) > 1


@pytest.mark.parametrize("dpi", [150, 300])
def test_id_cards_are_an_id1_card_on_a_background(dpi):
    # given / when
    image = render("id_card", 0, dpi=dpi)
    width, height = image.size
    # then
    assert_skewed_size(width, ID_CARD_IN[0] * dpi, height)
    assert_skewed_size(height, ID_CARD_IN[1] * dpi, width)


# --- content ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("label", CLASSES)
def test_pages_are_rgb_with_ink_on_a_light_ground(label, seed):
    # given / when
    image = render(label, seed)
    pixels = grey(image)
    # then
    assert image.mode == "RGB"
    ink = (pixels < 128).mean()
    assert 0.005 < ink < 0.6, ink
    assert (pixels > 200).mean() > 0.35
    assert pixels.std() > 15


def test_pages_carry_colour_as_well_as_grey():
    # given: an invoice, whose layouts all use a brand colour somewhere
    rgb = np.asarray(render("invoice", 0)).astype(int)
    # when
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    # then
    assert (saturation > 60).mean() > 0.001


def test_classes_are_not_the_same_picture():
    # given
    small = {label: grey(render(label, 0).resize((64, 80))).astype(float) for label in CLASSES}
    # when / then
    for a in CLASSES:
        for b in CLASSES:
            if a < b:
                assert np.abs(small[a] - small[b]).mean() > 2, (a, b)


def test_renders_with_the_bitmap_font_when_freetype_is_missing(monkeypatch):
    # given: Pillow without FreeType, as far as the module can tell
    monkeypatch.setattr(glyphs, "SCALABLE", False)
    # when
    image = render("letter", 0)
    # then
    assert image.mode == "RGB"
    assert 1275 <= image.width <= 1320
    assert 0.005 < (grey(image) < 128).mean() < 0.6


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_label_raises_value_error_naming_the_valid_ones():
    # given / when
    with pytest.raises(ValueError, match="passport") as raised:
        render("passport", 0)
    # then
    for label in CLASSES:
        assert label in str(raised.value)


def test_generate_checks_every_class_before_writing_anything(tmp_path):
    # given / when
    with pytest.raises(ValueError, match="invoice"):
        generate(tmp_path, per_class=1, classes=("receipt", "passport"))
    # then
    assert list(tmp_path.iterdir()) == []


def test_documents_checks_its_classes_when_called():
    # given / when / then
    with pytest.raises(ValueError, match="passport"):
        documents(1, classes=("passport",))


@pytest.mark.parametrize("dpi", [0, 10, 5000])
def test_unreasonable_dpi_is_refused(dpi):
    # given / when / then
    with pytest.raises(ValueError, match="dpi"):
        render("letter", 0, dpi=dpi)


def test_unknown_format_is_refused():
    # given
    image = Image.new("RGB", (8, 8), "white")
    # when / then
    with pytest.raises(ValueError, match="BMP"):
        encode(image, "BMP")


# --- encode, generate, documents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"), [("JPEG", "JPEG"), ("jpg", "JPEG"), ("PNG", "PNG"), ("tif", "TIFF")]
)
def test_encode_writes_the_requested_format(fmt, expected):
    # given
    image = render("id_card", 0)
    # when
    decoded = Image.open(io.BytesIO(encode(image, fmt)))
    # then
    assert decoded.format == expected
    assert decoded.size == image.size
    if expected != "JPEG":
        assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(image))


def test_jpeg_quality_changes_the_bytes():
    # given
    image = render("receipt", 0)
    # when / then
    assert len(encode(image, quality=40)) < len(encode(image, quality=95))


def test_generate_writes_per_class_files_in_class_folders(tmp_path):
    # given / when
    written = generate(tmp_path / "out", per_class=2, seed=5)
    # then
    assert [label for label, _ in written] == [label for label in CLASSES for _ in range(2)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(CLASSES)
    for label, path in written:
        assert path.parent == tmp_path / "out" / label
        assert path.name in (f"{label}-000.jpg", f"{label}-001.jpg")
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
    assert sum(1 for p in (tmp_path / "out").rglob("*") if p.is_file()) == 2 * len(CLASSES)


@pytest.mark.parametrize(("fmt", "extension", "expected"), [("png", "png", "PNG"), ("tiff", "tif", "TIFF")])
def test_generate_writes_other_formats(tmp_path, fmt, extension, expected):
    # given / when
    written = generate(tmp_path, per_class=1, fmt=fmt, classes=("id_card",))
    # then
    [(label, path)] = written
    assert label == "id_card"
    assert path == tmp_path / "id_card" / f"id_card-000.{extension}"
    with Image.open(path) as image:
        assert image.format == expected


def test_documents_yields_the_same_jpeg_bytes_generate_writes(tmp_path):
    # given
    classes = ("receipt", "id_card")
    # when
    in_memory = list(documents(2, seed=3, classes=classes))
    on_disk = generate(tmp_path, per_class=2, seed=3, classes=classes)
    # then
    assert [(label, name) for label, name, _ in in_memory] == [(label, p.name) for label, p in on_disk]
    for (_, _, body), (_, path) in zip(in_memory, on_disk, strict=True):
        assert body[:3] == b"\xff\xd8\xff"
        assert body == Path(path).read_bytes()
