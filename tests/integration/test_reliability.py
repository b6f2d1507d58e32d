"""Nothing lost, nothing duplicated: bad inputs and injected faults, through the local stack (moto's
server on a free port, both handlers on real SQS events). Concurrent gallery writers:
test_reliability_gallery.py (a module of its own, so that pytest-xdist runs it beside this one)."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest

from catalogue import CASES
from conftest import QUICK_STACK, draw_page
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID
from docclass.routing import possible_destinations
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


# -- the bad-input catalogue ---------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue_run():
    """Gallery of 3 kinds, then every catalogue case and the gallery edge cases, then good documents."""
    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-catalogue") as stack:
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
    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-faults", faults=plan, retry_delay=0) as stack:
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
