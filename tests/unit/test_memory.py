"""docclass.memory and the budget check in load_image: refuse from the header, before any pixel."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from docclass.config import Settings
from docclass.errors import ConfigError, DocumentTooLarge
from docclass.images import decode_need, load_image
from docclass.memory import MB, classify_budget, gallery_budget
from huge_images import PNG_RGBA, header_only_png, zero_png, zero_tiff

CLASSIFY = classify_budget(1024)  # template.yaml's ClassifyFunction MemorySize


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image is decoded (ImageFile.load is where Pillow reads pixels)."""

    def load(self):
        raise AssertionError(f"decoded a {self.size} {self.mode} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_classify_budget_leaves_room_for_the_runtime_and_a_100k_x_1024_index():
    # given ClassifyFunction's 1024 MB: 128 runtime + 480 index + 48 after the decode
    # then one document may use 368 MB, and an object at most half of it
    assert CLASSIFY.per_document == 368 * MB
    assert CLASSIFY.max_object_bytes == 184 * MB


def test_gallery_budget_is_shared_by_the_images_decoded_at_once():
    # given GalleryFunction's 1536 MB and 4 images in flight: (1536 - 128) / 4 - 48
    budget = gallery_budget(1536, 4)
    assert budget.per_document == 304 * MB
    # then 4 documents at their budget, plus what each holds after its decode, fit beside the runtime
    assert 4 * (budget.per_document + 48 * MB) + 128 * MB <= 1536 * MB


def test_every_gallery_concurrency_the_template_allows_fits_a_300_dpi_page():
    from docclass_local.template import load_template

    # given the template's GalleryFunction MemorySize and GalleryEmbedConcurrency range
    template = load_template()
    memory = template["Resources"]["GalleryFunction"]["Properties"]["MemorySize"]
    parameter = template["Parameters"]["GalleryEmbedConcurrency"]
    # then every allowed value builds (no ConfigError) and accepts a 300-dpi letter JPEG (116 MB)
    for concurrency in range(parameter["MinValue"], parameter["MaxValue"] + 1):
        assert gallery_budget(memory, concurrency).per_document >= 116 * MB, concurrency
    assert Settings(bucket="b", gallery_embed_concurrency=parameter["MaxValue"])
    with pytest.raises(ConfigError):
        Settings(bucket="b", gallery_embed_concurrency=parameter["MaxValue"] + 1)


def test_a_memory_size_too_small_for_any_document_fails_at_start_up():
    with pytest.raises(ConfigError, match="raise MemorySize"):
        classify_budget(512)
    with pytest.raises(ConfigError, match="16 at once"):
        gallery_budget(1536, 16)


def test_settings_read_the_function_memory_lambda_sets():
    assert (
        Settings.from_env({"BUCKET_NAME": "b", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1536"}).memory_mb == 1536
    )
    assert Settings.from_env({"BUCKET_NAME": "b"}).memory_mb == 1024
    with pytest.raises(ConfigError, match="AWS_LAMBDA_FUNCTION_MEMORY_SIZE"):
        Settings.from_env({"BUCKET_NAME": "b", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "64"})


@pytest.mark.parametrize(
    ("name", "make", "what"),
    [
        ("12000x12000 RGBA PNG (0.57 MB)", lambda: zero_png(12_000, 12_000), "12000x12000 px RGBA PNG"),
        ("13000x13000 RGBA PNG", lambda: zero_png(13_000, 13_000), "13000x13000 px RGBA PNG"),
        ("8000x8000 16-bit RGBA PNG", lambda: zero_png(8_000, 8_000, PNG_RGBA, 16), "8000x8000 px RGBA PNG"),
        ("16000x11000 RGB TIFF", lambda: zero_tiff(16_000, 11_000), "16000x11000 px RGB TIFF"),
    ],
)
def test_an_image_over_the_budget_is_refused_from_its_header(name, make, what, no_decoding):
    # given an image whose header declares more than ClassifyFunction can decode
    data = make()
    # when it is loaded with the budget, then it is refused before Pillow decodes a pixel,
    # with the size, the need and the budget in the reason
    with pytest.raises(DocumentTooLarge) as refused:
        load_image(data, budget=CLASSIFY)
    reason = str(refused.value)
    assert reason.startswith(f"image too large to decode in memory: {what} needs about ")
    assert "the budget is 368 MB per document (ClassifyFunction MemorySize 1024 MB)" in reason


def test_a_big_jpeg_that_fits_once_drafted_is_accepted():
    # given an 8000x8000 JPEG: decoded at full scale it would not fit, at 1/2 scale it does
    buffer = io.BytesIO()
    Image.new("RGB", (8000, 8000), (250, 250, 250)).save(buffer, "JPEG", quality=80)
    data = buffer.getvalue()
    full = Image.open(io.BytesIO(data))
    assert decode_need(full) > CLASSIFY.per_document
    # when it is loaded with the budget
    page = load_image(data, budget=CLASSIFY)
    # then it was accepted and shrunk to the model's size
    assert page.size == (2048, 2048)


def test_the_largest_page_a_scanner_makes_fits_the_classify_budget():
    # given a 600-dpi letter scan (5100 x 6600 px) as RGB PNG and as RGBA PNG (no pixel decoded here)
    for colour_type in (2, 6):
        image = Image.open(io.BytesIO(header_only_png(5100, 6600, colour_type)))
        # then its decode fits ClassifyFunction's budget
        assert decode_need(image) < CLASSIFY.per_document, colour_type


def test_refused_gallery_image_names_its_share_of_the_function():
    with pytest.raises(DocumentTooLarge, match=r"GalleryFunction MemorySize 1536 MB, 4 documents at once"):
        load_image(zero_png(9_000, 9_000), budget=gallery_budget(1536, 4))


def test_an_object_too_large_to_download_is_refused_with_its_size():
    with pytest.raises(DocumentTooLarge, match=r"document is 200000000 bytes; the limit is 192937984 \("):
        CLASSIFY.check_object(200_000_000)
    CLASSIFY.check_object(CLASSIFY.max_object_bytes)  # the limit itself is accepted
