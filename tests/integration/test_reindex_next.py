"""`docclass reindex --dimension` for the next index (NextEmbeddingModelId), on a local stack of its
own: a second LocalStack must not run while test_reindex.py's shared one does (the functions'
services are built once per process)."""

from __future__ import annotations

from conftest import QUICK_STACK, draw_page
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID
from docclass.store import ObjectStore
from docclass_local.cli import main
from docclass_local.stack import LocalStack

KINDS = ("invoice", "letter", "form")
GALLERY = [f"gallery/{kind}/{kind}-{i}.png" for kind in KINDS for i in range(2)]


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


def test_the_next_models_index_is_built_by_reindex_and_kept_by_every_later_change():
    # given a stack preparing a switch to 256 dimensions, whose next index does not exist yet
    # (the gallery was indexed before NextEmbeddingModelId was set)
    # (template.yaml accepts only Bedrock model ids; the local stand-in embeds for any of them, under
    # its own model id)
    parameters = {"NextEmbeddingModelId": "amazon.titan-embed-image-v1", "NextEmbeddingDimension": "256"}
    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-next", parameters=parameters) as stack:
        s3 = stack.client("s3")
        for key in GALLERY:
            s3.put_object(Bucket=stack.bucket, Key=key, Body=draw_page(key.split("/")[1], int(key[-5])))
        stack.wait_until_idle(timeout=90)
        store = ObjectStore(stack.bucket, s3)
        live, following = IndexRepository(store, MODEL_ID, 1024), IndexRepository(store, MODEL_ID, 256)
        for item in list(store.list_keys(following.root)):
            s3.delete_object(Bucket=stack.bucket, Key=item)
        assert following.read_pointer() is None
        # when reindex builds it
        code = reindex(stack, "--dimension", "256", "--yes")
        # then it holds the gallery, as the live index does
        assert code == 0

        def keys(repository: IndexRepository) -> list[str]:
            return sorted(entry.key for entry in repository.load()[0].entries())

        assert keys(following) == keys(live) == sorted(GALLERY)
        # and an example added afterwards reaches both
        added = "gallery/form/form-7.png"
        s3.put_object(Bucket=stack.bucket, Key=added, Body=draw_page("form", 7))
        stack.wait_until_idle(timeout=90)
        assert added in keys(following) and added in keys(live)
