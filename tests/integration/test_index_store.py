"""IndexRepository on moto S3: conditional pointer swaps, re-application on 412, the embedding cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import BUCKET
from docclass.errors import IndexConflict, ObjectNotFound, StorageError
from docclass.index import MAGIC, CorruptIndex, Entry, GalleryIndex
from docclass.index_store import EmbeddingCache, IndexRepository
from docclass.store import ObjectStore

DIM = 16


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def upsert(key: str, seq: str = "01"):
    def apply(index: GalleryIndex) -> bool:
        return index.upsert(Entry(key, key.split("/")[1], "h", seq), vec(hash(key) % 1000))

    return apply


@pytest.fixture
def repo(s3) -> IndexRepository:
    return IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM, sleep=lambda _: None)


def test_first_commit_creates_the_pointer_and_a_snapshot(repo, s3):
    result = repo.commit(upsert("gallery/a/1.png"))
    assert result.changed and result.attempts == 1
    index, pointer = repo.load()
    assert [e.key for e in index.entries()] == ["gallery/a/1.png"]
    assert pointer is not None and pointer.snapshot == result.snapshot
    assert pointer.labels == {"a": 1}


def test_unchanged_index_is_not_rewritten(repo):
    repo.commit(upsert("gallery/a/1.png"))
    again = repo.commit(upsert("gallery/a/1.png"))
    assert not again.changed
    assert again.bytes_written == 0


def test_old_snapshots_are_removed_after_the_swap(repo, s3):
    for i in range(3):
        repo.commit(upsert(f"gallery/a/{i}.png"))
    snapshots = [k for k in repo.store.list_keys(repo.root + "snapshots/")]
    assert len(snapshots) == 1


def test_lost_race_is_reapplied_on_top_of_the_winner(repo, s3):
    # given a writer whose pointer swap is overtaken by another writer in the middle of its attempt
    other = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM)
    repo.commit(upsert("gallery/a/base.png"))
    calls = []

    def racing_apply(index: GalleryIndex) -> bool:
        calls.append(len(index))
        if len(calls) == 1:
            other.commit(upsert("gallery/b/winner.png"))  # swaps the pointer under us
        return upsert("gallery/a/mine.png")(index)

    # when it commits
    result = repo.commit(racing_apply)
    # then it got a 412, reloaded and re-applied: both updates are present
    assert result.attempts == 2
    assert calls == [1, 2]
    index, _ = repo.load()
    assert sorted(e.key for e in index.entries()) == [
        "gallery/a/base.png",
        "gallery/a/mine.png",
        "gallery/b/winner.png",
    ]


def test_first_writers_race_on_if_none_match(repo, s3):
    other = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM)
    state = {"raced": False}

    def racing_apply(index: GalleryIndex) -> bool:
        if not state["raced"]:
            state["raced"] = True
            other.commit(upsert("gallery/b/first.png"))
        return upsert("gallery/a/second.png")(index)

    assert repo.commit(racing_apply).attempts == 2
    index, _ = repo.load()
    assert len(index) == 2


def test_gives_up_with_index_conflict_when_it_always_loses(s3):
    repo = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM, max_attempts=3, sleep=lambda _: None)
    other = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM)
    n = iter(range(100))

    def always_overtaken(index: GalleryIndex) -> bool:
        other.commit(upsert(f"gallery/b/{next(n)}.png"))
        return upsert("gallery/a/never.png")(index)

    with pytest.raises(IndexConflict):
        repo.commit(always_overtaken)


def test_concurrent_writers_from_threads_lose_no_update(s3):
    # given 6 threads committing 5 upserts each, all against the same pointer
    def worker(t: int) -> None:
        repo = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM, max_attempts=200)
        for i in range(5):
            repo.commit(upsert(f"gallery/t{t}/{i}.png"))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM).load()
    assert sorted(e.key for e in index.entries()) == sorted(
        f"gallery/t{t}/{i}.png" for t in range(6) for i in range(5)
    )


def test_load_if_changed_is_none_while_the_pointer_is_unchanged(repo):
    repo.commit(upsert("gallery/a/1.png"))
    _, pointer = repo.load()
    assert repo.load_if_changed(pointer.etag) is None
    repo.commit(upsert("gallery/a/2.png"))
    reloaded = repo.load_if_changed(pointer.etag)
    assert reloaded is not None and len(reloaded[0]) == 2


def test_each_model_and_dimension_has_its_own_index(s3):
    store = ObjectStore(BUCKET, s3)
    IndexRepository(store, "model-a", DIM).commit(upsert("gallery/a/1.png"))
    index, pointer = IndexRepository(store, "model-b", DIM).load()
    assert pointer is None and len(index) == 0


def test_embedding_cache_round_trips_raw_float32(s3):
    cache = EmbeddingCache(ObjectStore(BUCKET, s3), "amazon.titan-embed-image-v1", DIM)
    assert cache.get("abc") is None
    cache.put("abc", vec(1))
    np.testing.assert_array_equal(cache.get("abc"), vec(1))
    body = s3.get_object(Bucket=BUCKET, Key=cache.key("abc"))["Body"].read()
    assert len(body) == DIM * 4  # raw vector, nothing else (no pickle)


def test_damaged_cache_entry_is_a_miss(s3):
    cache = EmbeddingCache(ObjectStore(BUCKET, s3), "m", DIM)
    s3.put_object(Bucket=BUCKET, Key=cache.key("abc"), Body=b"short")
    assert cache.get("abc") is None


def test_an_index_read_from_s3_can_be_changed_and_written_again(repo):
    # the loaded matrix is a read-only view of the GET body; a writer's first change copies it
    for i in range(3):
        repo.commit(upsert(f"gallery/a/{i}.png"))
    result = repo.commit(lambda index: index.remove("gallery/a/0.png", "02"))
    assert result.changed and result.vectors == 2
    repo.commit(upsert("gallery/b/9.png"))
    index, _ = repo.load()
    assert sorted(e.key for e in index.entries()) == ["gallery/a/1.png", "gallery/a/2.png", "gallery/b/9.png"]
    for key in ("gallery/a/2.png", "gallery/b/9.png"):
        assert index.search(vec(hash(key) % 1000), 1)[0].key == key


def test_a_snapshot_in_another_format_is_refused_clearly(repo, s3):
    repo.commit(upsert("gallery/a/1.png"))
    _, pointer = repo.load()
    body = s3.get_object(Bucket=BUCKET, Key=pointer.snapshot)["Body"].read()
    s3.put_object(
        Bucket=BUCKET, Key=pointer.snapshot, Body=body[: len(MAGIC) - 1] + b"\x01" + body[len(MAGIC) :]
    )
    with pytest.raises(CorruptIndex, match="unsupported index format 1"):
        repo.load()


def test_a_snapshot_replaced_under_a_reader_is_read_again_from_the_new_pointer(repo, monkeypatch):
    # given an index, and a reader that twice finds its snapshot gone (a writer swapped and deleted it)
    repo.commit(upsert("gallery/a/1.png"))
    read = repo._read_snapshot
    misses = iter([True, True])

    def racing(pointer):
        if next(misses, False):
            raise ObjectNotFound(pointer.snapshot)
        return read(pointer)

    monkeypatch.setattr(repo, "_read_snapshot", racing)
    # when it loads, then it still gets the index
    index, _ = repo.load()
    assert [e.key for e in index.entries()] == ["gallery/a/1.png"]


def test_a_snapshot_that_never_stays_gives_a_clear_error_after_the_retries(repo, monkeypatch):
    repo.commit(upsert("gallery/a/1.png"))
    calls = []

    def gone(pointer):
        calls.append(pointer.snapshot)
        raise ObjectNotFound(pointer.snapshot)

    monkeypatch.setattr(repo, "_read_snapshot", gone)
    with pytest.raises(StorageError, match="keeps disappearing"):
        repo.load()
    assert len(calls) == repo.max_attempts
