"""DocumentEmbedder.embed_document: one vector per page, blank pages skipped, the cache per page."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import draw_document, draw_page
from docclass.document_embedder import DocumentEmbedder, content_hash
from docclass.errors import MessageDeferred
from docclass.local_embedder import LocalEmbedder


class DictCache:
    """An in-memory embedding cache."""

    def __init__(self) -> None:
        self.stored: dict[str, np.ndarray] = {}

    def get(self, digest: str) -> np.ndarray | None:
        return self.stored.get(digest)

    def put(self, digest: str, vector: np.ndarray) -> None:
        self.stored[digest] = vector


class CountingModel(LocalEmbedder):
    """The offline embedder, counting its calls."""

    def __init__(self) -> None:
        super().__init__(dimension=256)
        self.calls = 0

    def embed(self, image):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().embed(image)


@pytest.fixture
def model() -> CountingModel:
    return CountingModel()


def test_every_page_of_a_pdf_gets_its_own_vector(model: CountingModel):
    # given
    embedder = DocumentEmbedder(model, DictCache())
    # when
    document = embedder.embed_document(draw_document(["letter", "invoice", "form"]), max_pages=20)
    # then
    assert (document.kind, document.page_count) == ("pdf", 3)
    assert [number for number, _ in document.embedded] == [1, 2, 3]
    assert model.calls == 3
    vectors = [e.vector for _, e in document.embedded]
    assert not np.allclose(vectors[0], vectors[1])


def test_near_blank_pages_are_not_embedded(model: CountingModel):
    # given a letter scanned on both sides: every back side is empty
    data = draw_document(["letter", None, "letter", None])
    # when
    document = DocumentEmbedder(model).embed_document(data, max_pages=20)
    # then
    assert [n for n, _ in document.embedded] == [1, 3]
    assert document.blank_pages == [2, 4]
    assert model.calls == 2


def test_a_document_of_blank_pages_is_decided_by_its_first_page(model: CountingModel):
    document = DocumentEmbedder(model).embed_document(draw_document([None, None]), max_pages=20)
    assert [n for n, _ in document.embedded] == [1]
    assert document.blank_pages == [2]


def test_pages_past_max_pages_are_not_read(model: CountingModel):
    # when
    document = DocumentEmbedder(model).embed_document(draw_document(["letter"] * 5), max_pages=2)
    # then
    assert (document.page_count, len(document.pages), model.calls) == (5, 2, 2)


def test_the_same_page_in_another_document_is_not_paid_for_twice(model: CountingModel):
    # given a packet, then a document that repeats its second page
    embedder = DocumentEmbedder(model, DictCache())
    embedder.embed_document(draw_document(["letter", "invoice"]), max_pages=20)
    calls = model.calls
    # when: the same invoice page (same seed) comes as page 1 of another PDF
    again = embedder.embed_document(draw_document(["invoice"], seed=1), max_pages=20)
    # then
    assert model.calls == calls
    assert [e.cache_hit for _, e in again.embedded] == [True]


def test_a_plain_image_is_embedded_as_before(model: CountingModel):
    # given
    data = draw_page("invoice")
    cache = DictCache()
    # when
    document = DocumentEmbedder(model, cache).embed_document(data, max_pages=20)
    # then: one page, keyed by the bytes' hash as embed() keys it
    assert (document.kind, document.page_count, document.blank_pages) == ("image", 1, [])
    ((number, embedded),) = document.embedded
    assert number == 1 and embedded.content_hash == content_hash(data)
    assert set(cache.stored) == {content_hash(data)}


def test_a_page_that_may_not_start_stops_the_document_and_keeps_what_was_embedded(model: CountingModel):
    # given a budget that admits the first two pages only
    cache = DictCache()

    def before_page(number: int) -> None:
        if number > 2:
            raise MessageDeferred(f"not started: page {number}")

    data = draw_document(["letter", "invoice", "form"])
    # when
    with pytest.raises(MessageDeferred):
        DocumentEmbedder(model, cache).embed_document(data, max_pages=20, before_page=before_page)
    # then the next delivery pays only for the third page
    assert len(cache.stored) == 2
    model.calls = 0
    document = DocumentEmbedder(model, cache).embed_document(data, max_pages=20)
    assert model.calls == 1
    assert [e.cache_hit for _, e in document.embedded] == [True, True, False]
