"""IndexRepository on moto S3: conditional pointer swaps, re-application on 412, the embedding cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import BUCKET
from docclass.embedding_cache import EmbeddingCache
from docclass.errors import (
    CorruptIndex,
    IndexConflict,
    IndexUnusable,
    MalformedPointer,
    ObjectNotFound,
    StorageError,
    UnknownIndexFormat,
)
from docclass.index import MAGIC, Entry, GalleryIndex
from docclass.index_store import SWEEP_GRACE_SECONDS, TOMBSTONE_RETENTION_SECONDS, IndexRepository
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


class UnconditionalStore(ObjectStore):
    """An ObjectStore that drops If-Match / If-None-Match from every PUT: a pointer swap without
    its condition, to show that the race below catches the update it loses."""

    def put(self, key, body, *, if_match=None, if_none_match=None, **kwargs):  # type: ignore[no-untyped-def]
        return super().put(key, body, **kwargs)


def two_writers_after_the_same_pointer(
    s3, store_type=ObjectStore, *, existing: bool
) -> tuple[set[str], list[int]]:
    """Two writers that both load the pointer before either swaps it (a barrier in their first
    apply), each adding one example; the keys the index then holds, and each writer's attempts."""
    if existing:
        IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM).commit(upsert("gallery/a/base.png"))
    both_loaded = threading.Barrier(2)
    attempts = [0, 0]

    def writer(slot: int) -> None:
        repo = IndexRepository(store_type(BUCKET, s3), "test-model", DIM, sleep=lambda _: None)
        first_apply = [True]

        def apply(index: GalleryIndex) -> bool:
            if first_apply[0]:
                first_apply[0] = False
                both_loaded.wait(30)  # both hold the same pointer now; neither has swapped
            return upsert(f"gallery/w{slot}/mine.png")(index)

        attempts[slot] = repo.commit(apply).attempts

    threads = [threading.Thread(target=writer, args=(slot,)) for slot in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM).load()
    return {e.key for e in index.entries()}, attempts


@pytest.mark.parametrize("existing", [False, True], ids=["first-pointer", "pointer-swap"])
def test_two_writers_that_loaded_the_same_pointer_both_land(s3, existing):
    # given two writers that loaded the same pointer (or none yet) before either swapped it
    # when both commit
    keys, attempts = two_writers_after_the_same_pointer(s3, existing=existing)
    # then one swap won, the other got 412, reloaded and re-applied: both examples are in the index
    assert {"gallery/w0/mine.png", "gallery/w1/mine.png"} <= keys
    assert sorted(attempts) == [1, 2]


@pytest.mark.parametrize("existing", [False, True], ids=["first-pointer", "pointer-swap"])
def test_the_writers_race_catches_the_update_an_unconditional_swap_loses(s3, existing):
    # given the same race, with writers whose pointer PUT carries no If-Match / If-None-Match
    # when both commit
    keys, attempts = two_writers_after_the_same_pointer(s3, UnconditionalStore, existing=existing)
    # then both swaps "won" and the second overwrote the first: one example is lost
    assert attempts == [1, 1]
    assert len({"gallery/w0/mine.png", "gallery/w1/mine.png"} & keys) == 1


def test_changed_since_tells_a_new_pointer_from_the_one_in_hand(repo, s3):
    assert not repo.changed_since(None)  # no index yet, none now
    repo.commit(upsert("gallery/a/1.png"))
    assert repo.changed_since(None)
    _, pointer = repo.load()
    assert not repo.changed_since(pointer)
    repo.commit(upsert("gallery/a/2.png"))
    assert repo.changed_since(pointer)
    s3.delete_object(Bucket=BUCKET, Key=repo.pointer_key)
    assert repo.changed_since(pointer)


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


def test_classified_documents_embeddings_go_to_the_inbox_scope_that_expires(s3):
    # given the classifier's cache (inbox scope) and the gallery's (gallery scope)
    store = ObjectStore(BUCKET, s3)
    inbox = EmbeddingCache(store, "m", DIM, "inbox")
    gallery = EmbeddingCache(store, "m", DIM, "gallery")
    # when a classified document's vector is cached
    inbox.put("doc", vec(1))
    # then it lies under embeddings/inbox/ (the lifecycle rule's prefix), not with the gallery's
    assert list(store.list_keys("embeddings/")) == ["embeddings/inbox/m/16/doc.f32"]
    # and when the same bytes become a gallery example, the gallery finds it and keeps its own copy
    np.testing.assert_array_equal(gallery.get("doc"), vec(1))
    assert "embeddings/gallery/m/16/doc.f32" in set(store.list_keys("embeddings/"))


def test_the_classifier_finds_a_gallery_examples_vector_without_copying_it(s3):
    store = ObjectStore(BUCKET, s3)
    EmbeddingCache(store, "m", DIM, "gallery").put("ex", vec(2))
    np.testing.assert_array_equal(EmbeddingCache(store, "m", DIM, "inbox").get("ex"), vec(2))
    assert list(store.list_keys("embeddings/")) == ["embeddings/gallery/m/16/ex.f32"]


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
    with pytest.raises(UnknownIndexFormat, match="unsupported index format 1"):
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


# -- a lost answer from S3 (issue 9, point 1) ----------------------------------------------


def lose_answer_once(s3, operation: str, key_suffix: str) -> list[int]:
    """Make S3's answer to the first `operation` on a key ending in key_suffix get lost after S3
    applied the request: botocore sends the same request again (docclass_local.faults does the same,
    at random, for `--faults s3-lost-response=P`). Returns the list of attempts it saw."""
    seen: list[int] = []

    def needs_retry(response, attempts, request_dict, **_):
        if seen or response is None or response[0].status_code >= 300:
            return None
        if not request_dict["url_path"].split("?")[0].endswith(key_suffix):
            return None
        seen.append(attempts)
        return 0  # retry now: the request was applied, its answer is "lost"

    s3.meta.events.register(f"needs-retry.s3.{operation}", needs_retry)
    return seen


def test_a_pointer_swap_whose_answer_was_lost_keeps_the_live_snapshot(repo, s3):
    # given an index, and a pointer PUT that S3 applies but whose answer is lost (retried: 412)
    repo.commit(upsert("gallery/a/1.png"))
    lost = lose_answer_once(s3, "PutObject", "CURRENT.json")
    # when the next batch is committed
    result = repo.commit(upsert("gallery/a/2.png"))
    # then the swap counts as done at the first attempt, and the snapshot it names still exists
    assert lost == [1]
    assert result.changed and result.attempts == 1
    index, pointer = repo.load()
    assert pointer.snapshot == result.snapshot
    assert sorted(e.key for e in index.entries()) == ["gallery/a/1.png", "gallery/a/2.png"]
    assert list(repo.store.list_keys(repo.root + "snapshots/")) == [result.snapshot]


def test_a_first_pointer_write_whose_answer_was_lost_is_not_mistaken_for_a_race(repo, s3):
    lost = lose_answer_once(s3, "PutObject", "CURRENT.json")
    result = repo.commit(upsert("gallery/a/1.png"))
    assert lost == [1] and result.attempts == 1
    index, pointer = repo.load()
    assert pointer.snapshot == result.snapshot and len(index) == 1


def test_a_lost_race_deletes_only_the_losers_own_snapshot(repo, s3):
    # given a writer overtaken by another one mid-commit
    other = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM)
    repo.commit(upsert("gallery/a/base.png"))
    raced = []

    def racing_apply(index: GalleryIndex) -> bool:
        if not raced:
            raced.append(other.commit(upsert("gallery/b/winner.png")).snapshot)
        return upsert("gallery/a/mine.png")(index)

    # when it commits, then the winner's snapshot was never deleted, and only the final one is left
    result = repo.commit(racing_apply)
    assert result.attempts == 2
    _, pointer = repo.load()
    assert list(repo.store.list_keys(repo.root + "snapshots/")) == [pointer.snapshot] == [result.snapshot]


def test_snapshots_are_deleted_by_version_in_a_versioned_bucket(repo, s3):
    # given a versioned bucket (as template.yaml deploys it)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        repo.commit(upsert(f"gallery/a/{i}.png"))
    # then no noncurrent version or delete marker of a superseded snapshot is left behind
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=repo.root + "snapshots/")
    _, pointer = repo.load()
    assert [v["Key"] for v in versions.get("Versions", [])] == [pointer.snapshot]
    assert versions.get("DeleteMarkers", []) == []
    assert pointer.snapshot_version is not None


def test_orphan_snapshots_are_swept_once_past_the_grace_period(s3):
    # given a snapshot left by a writer that died between its snapshot PUT and its pointer swap
    store = ObjectStore(BUCKET, s3)
    now = [1_000_000.0]
    repo = IndexRepository(store, "test-model", DIM, sleep=lambda _: None, clock=lambda: now[0])
    repo.commit(upsert("gallery/a/1.png"))
    orphan = repo.root + "snapshots/19990101T000000000000Z-deadbeef0000.idx"
    store.put(orphan, b"an orphan")
    age = store.head(orphan)  # moto stamps LastModified with the real clock
    assert age is not None
    real_now = max(item.last_modified.timestamp() for item in store.list_objects(repo.root))
    # when the next commit happens within the grace period, the orphan stays
    now[0] = real_now + SWEEP_GRACE_SECONDS - 60
    repo.commit(upsert("gallery/a/2.png"))
    assert orphan in set(store.list_keys(repo.root + "snapshots/"))
    # and when one happens after it, the orphan goes, the current snapshot stays
    now[0] = real_now + SWEEP_GRACE_SECONDS + 60
    result = repo.commit(upsert("gallery/a/3.png"))
    assert list(store.list_keys(repo.root + "snapshots/")) == [result.snapshot]
    index, _ = repo.load()
    assert len(index) == 3


# -- tombstones are forgotten after the retention window (issue 9, point 8) ----------------


def test_tombstones_older_than_the_retention_window_are_pruned_on_the_next_commit(s3):
    now = [1_000_000.0]
    repo = IndexRepository(
        ObjectStore(BUCKET, s3), "test-model", DIM, sleep=lambda _: None, clock=lambda: now[0]
    )
    # given two deletions, one old and one recent
    repo.commit(lambda index: index.remove("gallery/a/old.png", "05", at=now[0]))
    now[0] += TOMBSTONE_RETENTION_SECONDS - 10
    repo.commit(lambda index: index.remove("gallery/a/recent.png", "06", at=now[0]))
    # when a commit happens after the old one's window has passed
    now[0] += 20
    repo.commit(upsert("gallery/b/new.png"))
    # then only the old tombstone is gone; a late create of the recent key is still refused
    index, _ = repo.load()
    assert index.tombstones() == {"gallery/a/recent.png": "06"}
    assert not index.upsert(Entry("gallery/a/recent.png", "a", "h", "03"), vec(3))


def test_a_commit_that_changes_nothing_does_not_write_just_to_prune(s3):
    now = [1_000_000.0]
    repo = IndexRepository(
        ObjectStore(BUCKET, s3), "test-model", DIM, sleep=lambda _: None, clock=lambda: now[0]
    )
    repo.commit(lambda index: index.remove("gallery/a/old.png", "05", at=now[0]))
    now[0] += TOMBSTONE_RETENTION_SECONDS + 10
    result = repo.commit(lambda index: False)
    assert not result.changed and result.bytes_written == 0


# -- a pointer that is not what docclass writes (issue 9, point 9) ---------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"vectors": 3}',
        b'{"snapshot": "../../inbox/secret.png"}',
        b'{"snapshot": 7}',
    ],
)
def test_a_malformed_pointer_is_a_clear_error_that_says_what_to_do(repo, s3, body):
    s3.put_object(Bucket=BUCKET, Key=repo.pointer_key, Body=body)
    with pytest.raises(
        MalformedPointer, match=r"is not one docclass wrote.*delete index/test-model/16/CURRENT\.json"
    ):
        repo.load()


def test_an_unreadable_snapshot_names_itself_and_the_way_out(repo, s3):
    result = repo.commit(upsert("gallery/a/1.png"))
    s3.put_object(Bucket=BUCKET, Key=result.snapshot, Body=MAGIC + b"\x00" * 8)
    with pytest.raises(CorruptIndex, match=f"{result.snapshot}.*delete {repo.pointer_key}") as caught:
        repo.load()
    assert isinstance(caught.value, IndexUnusable)


def test_a_lost_race_is_not_retried_without_the_time_for_another_attempt(s3):
    # given a writer that always loses its race, in an invocation whose time runs out
    repo = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM, max_attempts=50, sleep=lambda _: None)
    other = IndexRepository(ObjectStore(BUCKET, s3), "test-model", DIM)
    n = iter(range(100))
    attempts = []

    def always_overtaken(index: GalleryIndex) -> bool:
        attempts.append(1)
        other.commit(upsert(f"gallery/b/{next(n)}.png"))
        return upsert("gallery/a/late.png")(index)

    left = iter([30.0, 20.0, 0.001])  # seconds the invocation has left after each lost race
    # when it commits, then it gives up with IndexConflict once another attempt cannot fit
    with pytest.raises(IndexConflict, match="too little for another attempt"):
        repo.commit(always_overtaken, seconds_left=lambda: next(left))
    assert len(attempts) == 3
