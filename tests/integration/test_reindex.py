"""`docclass reindex` against the local stack: GalleryFunction rebuilds the index from gallery/."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import QUICK_STACK, draw_page
from docclass.index import Entry
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID, LocalEmbedder
from docclass.store import ObjectStore
from docclass_local.cli import main
from docclass_local.stack import LocalStack

KINDS = ("invoice", "letter", "form")
GALLERY = [f"gallery/{kind}/{kind}-{i}.png" for kind in KINDS for i in range(2)]


@pytest.fixture(scope="module")
def stack():
    """A local stack whose gallery of 6 examples is indexed (shared: each test leaves the index
    equal to the gallery, as it found it)."""
    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-reindex") as stack:
        s3 = stack.client("s3")
        for key in GALLERY:
            s3.put_object(Bucket=stack.bucket, Key=key, Body=draw_page(key.split("/")[1], int(key[-5])))
        stack.wait_until_idle(timeout=90)
        yield stack


def repository(stack: LocalStack) -> IndexRepository:
    return IndexRepository(ObjectStore(stack.bucket, stack.client("s3")), MODEL_ID, 1024)


def indexed(stack: LocalStack) -> dict[str, str]:
    index, _ = repository(stack).load()
    return {entry.key: entry.label for entry in index.entries()}


def reindex(stack: LocalStack, *extra: str) -> int:
    return main(
        [
            "reindex",
            "--endpoint-url",
            stack.endpoint_url,
            "--bucket",
            stack.bucket,
            "--poll",
            "0.2",
            "--timeout",
            "90",
            *extra,
        ]
    )


@pytest.fixture
def model_calls(monkeypatch) -> list[int]:
    """One item per call of the offline model, wherever the stack's functions run it."""
    calls: list[int] = []
    real = LocalEmbedder.embed
    monkeypatch.setattr(LocalEmbedder, "embed", lambda self, image: calls.append(1) or real(self, image))
    return calls


def test_reindex_rebuilds_a_corrupt_index_through_gallery_function_with_no_model_call(
    stack, model_calls, capsys
):
    # given an indexed gallery whose index snapshot is then overwritten with garbage
    before = indexed(stack)
    assert sorted(before) == sorted(GALLERY)
    s3 = stack.client("s3")
    pointer = repository(stack).read_pointer()
    assert pointer is not None
    s3.put_object(Bucket=stack.bucket, Key=pointer.snapshot, Body=b"not an index")
    model_calls.clear()
    # when reindex runs
    assert reindex(stack, "--yes") == 0
    # then it said what it found, and the index holds every example again with its label
    out = capsys.readouterr().out
    assert "UNUSABLE" in out and "6 of 6 gallery examples indexed" in out
    assert indexed(stack) == before
    # and no example cost a model call: GalleryFunction took their vectors from its cache
    assert model_calls == []


def test_reindex_adds_what_lost_events_left_out_and_removes_what_is_gone(stack, capsys):
    # given an index that lost one example (its event lost) and keeps one that was deleted
    gone = "gallery/letter/deleted-long-ago.png"

    def drift(index) -> bool:  # type: ignore[no-untyped-def]
        index.remove(GALLERY[0], "FFFF")
        index.upsert(Entry(gone, "letter", "0" * 64, "00AA"), np.eye(1, 1024, dtype=np.float32)[0])
        return True

    repository(stack).commit(drift)
    assert GALLERY[0] not in indexed(stack) and gone in indexed(stack)
    # when a dry run comes first
    assert reindex(stack, "--dry-run") == 0
    # then it says what it would do and does nothing
    assert "1 missing from the index, 1 indexed but gone from gallery/" in capsys.readouterr().out
    assert GALLERY[0] not in indexed(stack)
    # when reindex runs
    assert reindex(stack, "--yes") == 0
    # then the index holds exactly the gallery
    assert sorted(indexed(stack)) == sorted(GALLERY)
    # and a second run finds nothing to do
    assert reindex(stack, "--yes") == 0
    assert "nothing to do: the index matches gallery/" in capsys.readouterr().out


def test_reindex_does_nothing_without_confirmation(stack, capsys):
    # given an index that lost an example
    repository(stack).commit(lambda index: index.remove(GALLERY[1], "FFFF"))
    # when it runs with no terminal to ask on and no --yes / then it refuses, and nothing changed
    assert reindex(stack) == 1
    assert GALLERY[1] not in indexed(stack)
    assert "not confirmed" in capsys.readouterr().err
    # (and with --yes it is repaired, for the next test)
    assert reindex(stack, "--yes") == 0
    assert sorted(indexed(stack)) == sorted(GALLERY)


def test_reindex_without_a_local_stack_fails_clearly(capsys):
    assert main(["reindex", "--endpoint-url", "http://127.0.0.1:9", "--bucket", "none", "--yes"]) == 1
    assert "docclass reindex: error:" in capsys.readouterr().err


def test_reindex_of_an_index_no_function_keeps_says_how_to_get_one(stack, capsys):
    assert reindex(stack, "--dimension", "384", "--yes") == 1
    assert (
        "deploy with NextEmbeddingModelId=docclass-local-v1 NextEmbeddingDimension=384"
        in capsys.readouterr().err
    )
