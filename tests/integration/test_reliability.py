"""Nothing lost, nothing duplicated: bad inputs, injected faults and concurrent gallery writers,
all through the local stack (moto's server on a free port, both handlers on real SQS events)."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import numpy as np
import pytest
from PIL import Image

from catalogue import CASES
from conftest import draw_page
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID
from docclass.routing import gallery_label, possible_destinations
from docclass.store import ObjectStore
from docclass_local.faults import FaultPlan
from docclass_local.samples import documents
from docclass_local.stack import LocalStack

KINDS = ("letter", "invoice", "form")


def all_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(item["Key"] for item in page.get("Contents", []))
    return out


def dead_letter_keys(stack: LocalStack) -> list[str]:
    """Keys of every message sitting in a dead-letter queue (peeked: left in place, visible)."""
    sqs = stack.client("sqs")
    keys = []
    for logical_id in ("InboxDeadLetterQueue", "GalleryDeadLetterQueue"):
        url = sqs.get_queue_url(QueueName=stack.queue_name(logical_id))["QueueUrl"]
        handles = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        ):
            for m in messages:
                handles.append(m["ReceiptHandle"])
                for record in json.loads(m["Body"]).get("Records", []):
                    keys.append(unquote_plus(record["s3"]["object"]["key"]))
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return keys


def gallery_and_index(s3, bucket: str):
    """{gallery key: (label, SHA-256)} of the objects under gallery/ now, and the index (256-d)."""
    store = ObjectStore(bucket, s3)
    expected = {}
    for key in all_keys(s3, bucket, "gallery/"):
        obj = store.get(key)
        expected[key] = (gallery_label(key, obj.metadata), hashlib.sha256(obj.body).hexdigest())
    index, _ = IndexRepository(store, MODEL_ID, 256).load()
    return expected, index


# -- the bad-input catalogue ---------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue_run():
    """Gallery of 3 kinds, then every catalogue case and the gallery edge cases, then good documents."""
    with LocalStack(port=None, bucket="docclass-catalogue") as stack:
        s3, sqs = stack.client("s3"), stack.client("sqs")
        bucket = stack.bucket
        for kind in KINDS:
            for i in range(2):
                s3.put_object(Bucket=bucket, Key=f"gallery/{kind}/{kind}-{i}.png", Body=draw_page(kind, i))
        # gallery edge cases: no label, unsafe label, delete of a key that was never indexed
        s3.put_object(Bucket=bucket, Key="gallery/loose-example.png", Body=draw_page("letter", 9))
        s3.put_object(
            Bucket=bucket,
            Key="gallery/misc/evil.png",
            Body=draw_page("form", 9),
            Metadata={"label": "../../classified"},
        )
        s3.delete_object(Bucket=bucket, Key="gallery/letter/never-uploaded.png")
        # an s3:TestEvent, as S3 sends when notifications are configured
        inbox_url = sqs.get_queue_url(QueueName=stack.queue_name("InboxQueue"))["QueueUrl"]
        sqs.send_message(
            QueueUrl=inbox_url,
            MessageBody=json.dumps(
                {
                    "Service": "Amazon S3",
                    "Event": "s3:TestEvent",
                    "Time": "2026-11-24T10:00:00.000Z",
                    "Bucket": bucket,
                    "RequestId": "5582815E1AEA5ADF",
                    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
                }
            ),
        )
        stack.wait_until_idle(timeout=120)
        for case in CASES:
            s3.put_object(Bucket=bucket, Key=case.key, Body=case.make(), Metadata=case.metadata or {})
        after = {}
        for kind in KINDS:
            key = f"inbox/after/{kind}.png"
            s3.put_object(Bucket=bucket, Key=key, Body=draw_page(kind, 77))
            after[key] = kind
        status = stack.wait_until_idle(timeout=180)
        keys = all_keys(s3, bucket)
        heads = {
            k: s3.head_object(Bucket=bucket, Key=k)["Metadata"]
            for k in keys
            if k.split("/", 1)[0] in {"classified", "unclassified", "failed", "inbox"}
        }
        index, _ = IndexRepository(ObjectStore(bucket, s3), MODEL_ID, 1024).load()
        yield {
            "status": status,
            "heads": heads,
            "after": after,
            "index": index,
            "batches": list(stack.batches),
            "dead": dead_letter_keys(stack),
        }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_catalogue_outcome(catalogue_run, case):
    heads = catalogue_run["heads"]
    path = case.key[len("inbox/") :]
    places = [k for k in heads if k.endswith("/" + path) and not k.startswith("inbox/")]
    assert case.key not in heads, "the source must be gone"
    assert len(places) == 1, places
    if case.outcome == "failed":
        assert places[0] == f"failed/{path}"
        assert case.reason.lower() in heads[places[0]]["docclass-error"].lower()
    else:
        assert places[0].startswith("classified/"), places
        assert heads[places[0]]["docclass-label"] in KINDS
        for name, value in (case.metadata or {}).items():
            assert heads[places[0]][name] == value


def test_gallery_objects_without_a_safe_label_are_not_indexed(catalogue_run):
    keys = {e.key for e in catalogue_run["index"].entries()}
    assert keys == {f"gallery/{kind}/{kind}-{i}.png" for kind in KINDS for i in range(2)}


def test_test_event_and_never_indexed_delete_are_not_errors(catalogue_run):
    assert catalogue_run["dead"] == []
    assert all(not batch.failed for batch in catalogue_run["batches"])


def test_the_service_still_classifies_good_documents_after_the_catalogue(catalogue_run):
    heads = catalogue_run["heads"]
    for key, kind in catalogue_run["after"].items():
        assert f"classified/{kind}/{key[len('inbox/') :]}" in heads


def test_nothing_the_functions_write_triggers_a_function(catalogue_run):
    # every change a function received was a user upload under its own prefix
    for batch in catalogue_run["batches"]:
        prefix = "gallery/" if batch.function == "GalleryFunction" else "inbox/"
        assert all(key.startswith(prefix) for key in batch.keys), batch
    inbox_seen = Counter(
        k for b in catalogue_run["batches"] if b.function == "ClassifyFunction" for k in b.keys
    )
    uploaded = {c.key for c in CASES} | set(catalogue_run["after"])
    assert set(inbox_seen) == uploaded
    assert all(n == 1 for n in inbox_seen.values())  # each processed once: no feedback loop, no retry


# -- injected faults -----------------------------------------------------------------------


def test_under_injected_faults_every_document_ends_in_exactly_one_place():
    plan = FaultPlan(bedrock=0.3, s3=0.05, crash_after_copy=0.05, seed=11)
    with LocalStack(port=None, bucket="docclass-faults", faults=plan, retry_delay=0) as stack:
        s3 = stack.client("s3")
        bucket = stack.bucket
        for label, name, data in documents(2, seed=0, dpi=50):
            s3.put_object(Bucket=bucket, Key=f"gallery/{label}/{name}", Body=data)
        stack.wait_until_idle(timeout=180)
        uploaded = []
        with ThreadPoolExecutor(4) as pool:
            jobs = []
            for n, (_, _, data) in enumerate(documents(30, seed=5, dpi=50)):  # 240 documents
                key = f"inbox/faults/doc {n:03d}+x.jpg"
                uploaded.append(key)
                jobs.append(pool.submit(s3.put_object, Bucket=bucket, Key=key, Body=data))
            for job in jobs:
                job.result()
        status = stack.wait_until_idle(timeout=300)
        keys = set(all_keys(s3, bucket))
        dead = Counter(dead_letter_keys(stack))
        labels = {k.split("/")[1] for k in keys if k.startswith("classified/")}
        store = ObjectStore(bucket, s3)

        # then, once drained, no document is lost or routed twice
        assert status["dead_letters"]["docclass-faults-InboxDeadLetterQueue"] == sum(
            dead[k] for k in uploaded
        )
        for key in uploaded:
            path = key[len("inbox/") :]
            places = [d for d in possible_destinations(path, labels) if d in keys]
            assert not any(p.startswith("failed/") for p in places), (
                key,
                places,
            )  # faults are not the document's
            if dead[key] and key in keys:
                # dead-lettered before the move finished: still in inbox/, plus at most the copy a
                # crash left before the delete, of exactly these bytes (the redrive finishes it)
                assert len(places) <= 1, (key, places)
                source_etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
                assert all(store.head(p).metadata["docclass-source-etag"] == source_etag for p in places)
            else:
                # routed (a dead letter may still name it: a crash in its batch after its move)
                assert len(places) == 1, (key, places)
                assert key not in keys, f"{key} was routed but its source is still in inbox/"

        # when an operator redrives the dead letters (faults still on) until none are left
        for _ in range(10):
            if not stack.redrive():
                break
            stack.wait_until_idle(timeout=120)
        final = set(all_keys(s3, bucket))
        injected = dict(stack.faults.injected)

    # then every document sits in exactly one place and inbox/ is empty
    assert not [k for k in final if k.startswith("inbox/")]
    labels = {k.split("/")[1] for k in final if k.startswith("classified/")}
    for key in uploaded:
        places = [d for d in possible_destinations(key[len("inbox/") :], labels) if d in final]
        assert len(places) == 1, (key, places)
    assert injected.get("bedrock", 0) > 20 and injected.get("crash-after-copy", 0) > 3, injected
    assert sum(v for k, v in injected.items() if k.startswith("s3:")) > 10, injected


# -- concurrent gallery writers --------------------------------------------------------------


def _noise_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_eight_concurrent_gallery_writers_lose_nothing():
    # given 8 GalleryFunction workers racing for the index pointer
    parameters = {"GalleryMaxConcurrency": "8", "EmbeddingDimension": "256", "MaxReceiveCount": "50"}
    with LocalStack(port=None, bucket="docclass-race", parameters=parameters, retry_delay=0) as stack:
        s3 = stack.client("s3")
        bucket = stack.bucket

        def upload(i: int) -> None:
            key = f"gallery/l{i % 5}/img {i:03d}.png"
            s3.put_object(Bucket=bucket, Key=key, Body=_noise_png(i))
            if i % 7 == 0:  # deleted again
                s3.delete_object(Bucket=bucket, Key=key)
            elif i % 11 == 0:  # re-uploaded with other bytes and relabelled by metadata
                s3.put_object(
                    Bucket=bucket, Key=key, Body=_noise_png(10_000 + i), Metadata={"label": "relabelled"}
                )
            elif i % 13 == 0:  # deleted, then uploaded again
                s3.delete_object(Bucket=bucket, Key=key)
                s3.put_object(Bucket=bucket, Key=key, Body=_noise_png(20_000 + i))

        # when 520 uploads, deletes and re-uploads interleave
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(upload, range(520)))
        stack.wait_until_idle(timeout=300)
        expected, index = gallery_and_index(s3, bucket)
        writers = {b.function for b in stack.batches}
        busiest = max(Counter(b.function for b in stack.batches).values())

    # then the index holds exactly the objects that exist, with their current label and bytes
    entries = list(index.entries())
    assert len(entries) == len({e.key for e in entries})  # no duplicate
    assert {e.key: (e.label, e.content_hash) for e in entries} == expected
    assert len(expected) > 400
    assert "GalleryFunction" in writers and busiest > 8


# -- S3 answers lost after the write was applied (issue 9, point 1) -----------------------------


def test_gallery_ingest_under_lost_s3_answers_keeps_the_index_equal_to_the_gallery():
    # given 4 gallery writers whose PutObject/CopyObject/DeleteObject answers are lost 20% of the
    # time after S3 applied them (botocore sends the same request again)
    plan = FaultPlan(s3_lost_response=0.2, seed=3)
    parameters = {"GalleryMaxConcurrency": "4", "EmbeddingDimension": "256", "MaxReceiveCount": "50"}
    with LocalStack(
        port=None, bucket="docclass-lost", parameters=parameters, faults=plan, retry_delay=0
    ) as stack:
        s3 = stack.client("s3")
        bucket = stack.bucket
        # when 240 examples arrive in 4 waves (several index commits each), 4 deleted again
        for wave in range(4):
            with ThreadPoolExecutor(4) as pool:
                for i in range(wave * 60, wave * 60 + 60):
                    pool.submit(
                        s3.put_object,
                        Bucket=bucket,
                        Key=f"gallery/l{i % 4}/img {i:03d}.png",
                        Body=_noise_png(i),
                    )
            s3.delete_object(Bucket=bucket, Key=f"gallery/l{wave}/img {wave * 60 + wave:03d}.png")
            stack.wait_until_idle(timeout=120)
        expected, index = gallery_and_index(s3, bucket)
        # and documents that are exact copies of some examples are uploaded
        for i in (6, 67, 128, 239):
            s3.put_object(Bucket=bucket, Key=f"inbox/copy-{i}.png", Body=_noise_png(i))
        status = stack.wait_until_idle(timeout=120)
        routed = set(all_keys(s3, bucket, "classified/"))
        injected = dict(stack.faults.injected)

    # then the index holds exactly the gallery, nothing was dead-lettered, and documents classify
    assert {e.key: (e.label, e.content_hash) for e in index.entries()} == expected
    assert len(expected) == 236
    assert sum(status["dead_letters"].values()) == 0
    assert routed == {f"classified/l{i % 4}/copy-{i}.png" for i in (6, 67, 128, 239)}
    assert injected.get("s3-lost-response:PutObject", 0) > 20, injected
    assert injected.get("s3-lost-response:DeleteObject", 0) > 0, injected
