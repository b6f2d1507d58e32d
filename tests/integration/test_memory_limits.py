"""Inputs a function could not decode in its memory, each in a batch with good documents, through
both handlers (moto S3, offline embedder): the bad one is routed with its reason, the rest go on.

Before the memory budget, the 12000 x 12000 RGBA PNG took 1.9 GB to decode: in Lambda, where
ClassifyFunction has 1024 MB, that killed the invocation and brought the whole batch back until it
was dead-lettered. Here, without a memory limit, the old code decoded these images and classified
them; the tests ask for what production needs: failed/, with the numbers.
"""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from pdfs import drawing_bomb_pdf

from conftest import BUCKET, load_event, load_handler
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID as LOCAL_MODEL
from docclass.store import ObjectStore
from huge_images import PNG_RGBA, zero_png, zero_tiff

KINDS = ("invoice", "letter", "form")
DECODE = "image too large to decode in memory: "
BAD_INPUTS = [
    pytest.param(
        "inbox/bad/bomb-12000.png",
        lambda: zero_png(12_000, 12_000),
        DECODE,
        id="0.57 MB PNG, 12000x12000 RGBA",
    ),
    pytest.param(
        "inbox/bad/bomb-13000.png", lambda: zero_png(13_000, 13_000), DECODE, id="13000x13000 RGBA PNG"
    ),
    pytest.param(
        "inbox/bad/deep.png",
        lambda: zero_png(8_000, 8_000, PNG_RGBA, 16),
        DECODE,
        id="8000x8000 16-bit RGBA PNG",
    ),
    pytest.param("inbox/bad/huge.tif", lambda: zero_tiff(16_000, 11_000), DECODE, id="16000x11000 RGB TIFF"),
    # PDFium loads a page's whole content before drawing it: 3.3 GB for this one (docclass.pdf_sandbox).
    pytest.param(
        "inbox/bad/drawing-bomb.pdf",
        lambda: drawing_bomb_pdf(10_000, 1_000),
        "cannot draw page 1 of the PDF: PDFium ran out of memory (",
        id="1 KB PDF, 10 million drawing operations",
    ),
]


def sqs_batch(s3, keys: list[str]) -> dict:
    """An SQS batch with one ObjectCreated:Put notification per key, as S3 writes them."""
    template = load_event("sqs-inbox-put.json")["Records"][0]
    records = []
    for i, key in enumerate(keys):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["object"].update(
            key=quote_plus(key),
            size=head["ContentLength"],
            eTag=head["ETag"].strip('"'),
            sequencer=f"{0x0062E99A88DC407480 + i:018X}",
        )
        records.append(dict(template, messageId=f"message-{i}", body=json.dumps(body)))
    return {"Records": records}


@pytest.fixture
def handlers(service_env, s3, lambda_context, monkeypatch):
    """Both handlers, each built with its template MemorySize as Lambda would set it."""
    gallery_module, classify_module = load_handler("gallery"), load_handler("classify")

    def gallery(event):
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1536")
        return gallery_module.lambda_handler(event, lambda_context)

    def classify(event):
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        return classify_module.lambda_handler(event, lambda_context)

    return gallery, classify


def put_gallery(s3, page, gallery) -> None:
    keys = [f"gallery/{kind}/{kind}-{i}.png" for kind in KINDS for i in range(1)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=page(key.split("/")[1], seed=int(key[-5])))
    assert gallery(sqs_batch(s3, keys)) == {"batchItemFailures": []}


def listed(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.mark.parametrize(("bad_key", "make", "reason_start"), BAD_INPUTS)
def test_an_image_too_large_to_decode_goes_to_failed_and_its_batch_is_classified(
    bad_key, make, reason_start, s3, page, handlers
):
    gallery, classify = handlers
    # given a gallery, and a batch of three good documents with the bad one among them
    put_gallery(s3, page, gallery)
    good = {f"inbox/good/{kind}.png": kind for kind in KINDS}
    keys = list(good)
    keys.insert(1, bad_key)
    s3.put_object(Bucket=BUCKET, Key=bad_key, Body=make())
    for key, kind in good.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=page(kind, seed=5))
    # when ClassifyFunction handles the batch
    response = classify(sqs_batch(s3, keys))
    # then no message comes back, the bad document is in failed/ with the numbers,
    assert response == {"batchItemFailures": []}
    failed = "failed/" + bad_key.removeprefix("inbox/")
    assert listed(s3, "failed/") == [failed]
    reason = s3.head_object(Bucket=BUCKET, Key=failed)["Metadata"]["docclass-error"]
    assert reason.startswith(reason_start), reason
    assert reason_start != DECODE or "needs about" in reason
    assert "the budget is 368 MB per document (ClassifyFunction MemorySize 1024 MB)" in reason
    # and every good document was classified
    assert listed(s3, "classified/") == sorted(f"classified/{kind}/good/{kind}.png" for kind in KINDS)
    assert listed(s3, "inbox/") == []


@pytest.mark.parametrize(("bad_key", "make", "reason_start"), BAD_INPUTS)
def test_a_gallery_image_too_large_to_decode_is_left_out_and_its_batch_indexed(
    bad_key, make, reason_start, s3, page, handlers
):
    gallery, _ = handlers
    # given a gallery batch of good examples with one image GalleryFunction cannot decode
    bad = "gallery/letter/" + bad_key.rsplit("/", 1)[1]
    s3.put_object(Bucket=BUCKET, Key=bad, Body=make())
    good = [f"gallery/{kind}/{kind}-0.png" for kind in KINDS]
    for key in good:
        s3.put_object(Bucket=BUCKET, Key=key, Body=page(key.split("/")[1]))
    # when GalleryFunction handles the batch (4 images decoded at once)
    response = gallery(sqs_batch(s3, [good[0], bad, *good[1:]]))
    # then no message comes back, and the index holds the good examples only
    assert response == {"batchItemFailures": []}
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    assert sorted(e.key for e in index.entries()) == sorted(good)


def test_an_object_larger_than_the_limit_is_not_downloaded(s3):
    # given an object of 2,000 bytes
    s3.put_object(Bucket=BUCKET, Key="inbox/big.png", Body=b"x" * 2000, Metadata={"who": "me"})
    store = ObjectStore(BUCKET, s3)
    # when it is fetched with a 1,000-byte limit, then its attributes come back without its body
    obj = store.get("inbox/big.png", max_bytes=1000)
    assert obj is not None and obj.body is None
    assert (obj.size, obj.metadata) == (2000, {"who": "me"})
    # and within the limit it is read as before
    assert store.get("inbox/big.png", max_bytes=2000).body == b"x" * 2000


def test_the_local_stack_gives_each_function_the_memory_of_its_template():
    from docclass import services
    from docclass.memory import classify_budget, gallery_budget
    from docclass_local.stack import LocalStack

    # given the local stack, which runs both functions in one process
    with LocalStack(port=None, bucket="docclass-memory"):
        # then each function's budget comes from its own MemorySize, as Lambda's variable gives it
        assert services.classifier().embedder.budget == classify_budget(1024)
        assert services.gallery_indexer().embedder.budget == gallery_budget(1536, 4)


def test_a_gallery_object_the_event_says_is_too_large_is_not_requested(s3, page, handlers, monkeypatch):
    gallery, _ = handlers
    # given a gallery event whose object size is above GalleryFunction's download limit
    key = "gallery/letter/letter-9.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=page("letter"))
    event = sqs_batch(s3, [key])
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["size"] = 10**9
    event["Records"][0]["body"] = json.dumps(body)
    requested = []
    original_get = ObjectStore.get

    def get(self, k, **kw):
        requested.append(k)
        return original_get(self, k, **kw)

    monkeypatch.setattr(ObjectStore, "get", get)
    # when GalleryFunction handles it
    assert gallery(event) == {"batchItemFailures": []}
    # then the object was never requested, and nothing was indexed
    assert [k for k in requested if k.startswith("gallery/")] == []
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    assert list(index.entries()) == []
