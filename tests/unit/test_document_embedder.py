"""DocumentEmbedder (no network): cache first, and one model call for bytes two threads embed at once."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest

from conftest import draw_page
from docclass.document_embedder import DocumentEmbedder, content_hash
from docclass.errors import EmbeddingUnavailable

DIM = 8


class GatedEmbedder:
    """A model whose calls wait for `release`; counts them."""

    model_id = "gated"
    dimension = DIM

    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.error = error

    def embed(self, image) -> np.ndarray:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        if self.error is not None:
            raise self.error
        return np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)


class CountingCache:
    """An empty cache that counts lookups and keeps what is put."""

    def __init__(self) -> None:
        self.gets = 0
        self.stored: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> np.ndarray | None:
        with self._lock:
            self.gets += 1
        return self.stored.get(digest)

    def put(self, digest: str, vector: np.ndarray) -> None:
        self.stored[digest] = vector


def embed_twice_at_once(
    monkeypatch: pytest.MonkeyPatch, model: GatedEmbedder, cache: CountingCache, data: bytes
) -> list[object]:
    """Two threads embed the same bytes; the second starts while the first is inside the model,
    and the model answers only once the second is waiting for the first's call."""
    embedder = DocumentEmbedder(model, cache)  # type: ignore[arg-type]
    results: list[object] = [None, None]
    # DocumentEmbedder's module keeps the call other threads wait for in a _Pending; a thread that
    # asks for its result has missed the cache and is waiting for that call.
    pending = inspect.getmodule(DocumentEmbedder)._Pending  # type: ignore[union-attr]
    wait_for_result = pending.result
    waiting = threading.Event()

    def result(self: object) -> np.ndarray:
        waiting.set()
        return wait_for_result(self)

    monkeypatch.setattr(pending, "result", result)

    def run(slot: int) -> None:
        try:
            results[slot] = embedder.embed(data)
        except Exception as exc:
            results[slot] = exc

    first = threading.Thread(target=run, args=(0,))
    first.start()
    assert model.entered.wait(10)
    second = threading.Thread(target=run, args=(1,))
    second.start()
    assert waiting.wait(10)
    model.release.set()
    first.join(10)
    second.join(10)
    return results


def test_the_same_bytes_at_once_make_one_model_call(monkeypatch):
    model, cache = GatedEmbedder(), CountingCache()
    data = draw_page("letter")
    first, second = embed_twice_at_once(monkeypatch, model, cache, data)
    assert model.calls == 1
    assert not first.cache_hit and second.cache_hit  # type: ignore[attr-defined]
    assert np.array_equal(first.vector, second.vector)  # type: ignore[attr-defined]
    assert set(cache.stored) == {content_hash(data)}


def test_the_waiting_thread_gets_the_calls_error(monkeypatch):
    model = GatedEmbedder(error=EmbeddingUnavailable("ThrottlingException"))
    first, second = embed_twice_at_once(monkeypatch, model, CountingCache(), draw_page("form", seed=3))
    assert model.calls == 1
    assert isinstance(first, EmbeddingUnavailable) and isinstance(second, EmbeddingUnavailable)


def test_after_a_failed_call_the_next_one_tries_again():
    model = GatedEmbedder(error=EmbeddingUnavailable("ThrottlingException"))
    model.release.set()
    embedder = DocumentEmbedder(model, CountingCache())  # type: ignore[arg-type]
    data = draw_page("form")
    for _ in range(2):
        with pytest.raises(EmbeddingUnavailable):
            embedder.embed(data)
    assert model.calls == 2


def test_a_cached_vector_skips_the_model():
    model, cache = GatedEmbedder(), CountingCache()
    data = draw_page("invoice")
    cache.stored[content_hash(data)] = np.zeros(DIM, dtype=np.float32)
    result = DocumentEmbedder(model, cache).embed(data)  # type: ignore[arg-type]
    assert result.cache_hit and model.calls == 0
