"""End to end through the local stack: moto's server on a free port, both handlers on real SQS events."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import QUICK_STACK, draw_page
from docclass_local.stack import LocalStack
from docclass_local.template import read_local_template

KINDS = ("letter", "invoice", "form")


@pytest.fixture(scope="module")
def routed():
    """A stack that indexed a gallery and routed an inbox; yields (stack status, objects, inbox truth)."""
    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-e2e") as stack:
        s3 = stack.client("s3")
        for kind in KINDS:
            for i in range(2):
                s3.put_object(
                    Bucket=stack.bucket, Key=f"gallery/{kind}/{kind}-{i}.png", Body=draw_page(kind, i)
                )
        stack.wait_until_idle(timeout=90)
        truth = {}
        for kind in KINDS:
            for i in range(3):
                key = f"inbox/batch 1/{kind} #{i}+copy é.png"
                s3.put_object(
                    Bucket=stack.bucket, Key=key, Body=draw_page(kind, 100 + i), Metadata={"source": "e2e"}
                )
                truth[key] = f"classified/{kind}/"
        s3.put_object(Bucket=stack.bucket, Key="inbox/batch 1/notes.txt", Body=b"plain text, not a scan")
        truth["inbox/batch 1/notes.txt"] = "failed/"
        status = stack.wait_until_idle(timeout=90)
        paginator = s3.get_paginator("list_objects_v2")
        objects = {}
        for page in paginator.paginate(Bucket=stack.bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.split("/", 1)[0] in {"classified", "unclassified", "failed", "inbox"}:
                    objects[key] = s3.head_object(Bucket=stack.bucket, Key=key)["Metadata"]
        yield status, objects, truth


def test_every_document_sits_exactly_once_in_its_expected_place(routed):
    _, objects, truth = routed
    # Then no document is left in inbox/ and each one is in one place only
    assert not [k for k in objects if k.startswith("inbox/")]
    for key, expected_prefix in truth.items():
        path = key[len("inbox/") :]
        matches = [k for k in objects if k.endswith("/" + path) and k != key]
        assert len(matches) == 1, (key, matches)
        assert matches[0] == expected_prefix + path
    assert len(objects) == len(truth)


def test_routed_documents_carry_their_result_metadata(routed):
    _, objects, _ = routed
    for key, meta in objects.items():
        if key.startswith("classified/"):
            label = key.split("/")[1]
            assert meta["docclass-label"] == label
            assert meta["docclass-neighbor"].startswith(f"gallery/{label}/")
            assert 0.0 <= float(meta["docclass-distance"]) <= 2.0
            assert meta["docclass-model"] == "docclass-local-v1"
            assert meta["source"] == "e2e"
        elif key.startswith("failed/"):
            assert "not an image" in meta["docclass-error"]


def test_status_agrees_with_the_bucket(routed):
    status, objects, _ = routed
    assert status["index"]["vectors"] == 6
    assert status["index"]["labels"] == {kind: 2 for kind in KINDS}
    assert status["pending"] == 0
    assert status["classified"] == dict(
        Counter(k.split("/")[1] for k in objects if k.startswith("classified/"))
    )
    assert status["failed"] == 1
    assert status["unclassified"] == 0
    assert set(status["dead_letters"]) == {
        "docclass-e2e-GalleryDeadLetterQueue",
        "docclass-e2e-InboxDeadLetterQueue",
    }
    assert sum(status["dead_letters"].values()) == 0


def test_the_stack_is_built_from_the_template():
    spec = read_local_template(bucket="b")
    assert spec.functions["GalleryFunction"].queue == "GalleryQueue"
    assert spec.functions["ClassifyFunction"].queue == "InboxQueue"
    assert {(n.event, n.prefix, n.queue) for n in spec.notifications} == {
        ("s3:ObjectCreated:*", "gallery/", "GalleryQueue"),
        ("s3:ObjectRemoved:*", "gallery/", "GalleryQueue"),
        ("s3:ObjectCreated:*", "inbox/", "InboxQueue"),
    }
    assert spec.queues["InboxQueue"].dead_letter == "InboxDeadLetterQueue"
    assert spec.queues["InboxQueue"].max_receive_count == int(spec.parameters["MaxReceiveCount"])
    assert spec.environment["BUCKET_NAME"] == "b"


def test_parameter_overrides_reach_the_queues_and_functions():
    spec = read_local_template(bucket="b", overrides={"MaxReceiveCount": "2", "GalleryMaxConcurrency": "8"})
    assert spec.queues["GalleryQueue"].max_receive_count == 2
    assert spec.functions["GalleryFunction"].max_concurrency == 8


def test_a_document_that_always_fails_ends_in_the_dead_letter_queue(monkeypatch):
    from docclass import services
    from docclass.errors import EmbeddingUnavailable

    class Throttled:
        model_id, dimension = "throttled", 1024

        def embed(self, image):
            raise EmbeddingUnavailable("ThrottlingException: rate exceeded")

    monkeypatch.setattr(services, "make_embedder", lambda settings: Throttled())
    reports = []
    with LocalStack(
        port=None,
        **QUICK_STACK,
        bucket="docclass-dlq",
        parameters={"MaxReceiveCount": "2"},
        retry_delay=0,
        on_batch=reports.append,
    ) as stack:
        s3 = stack.client("s3")
        s3.put_object(Bucket=stack.bucket, Key="inbox/unlucky.png", Body=draw_page("letter"))
        status = stack.wait_until_idle(timeout=60)
    # the message was delivered MaxReceiveCount times, then dead-lettered; the document is kept
    attempts = [r for r in reports if "inbox/unlucky.png" in r.keys]
    assert len(attempts) == 2
    assert all(r.failed == ["inbox/unlucky.png"] for r in attempts)
    assert attempts[-1].dead_lettered == ["inbox/unlucky.png"]
    assert status["dead_letters"]["docclass-dlq-InboxDeadLetterQueue"] == 1
    assert status["pending_detail"] == {"inbox_objects": 1, "queued_messages": 0}
    assert status["classified"] == {} and status["failed"] == 0


def test_handing_a_message_back_is_retried_when_the_endpoint_drops_the_call(monkeypatch):
    # given an SQS call that fails twice the way a loaded local endpoint does, then works
    from botocore.exceptions import ClientError, EndpointConnectionError

    from docclass_local import stack as stack_module

    monkeypatch.setattr(stack_module.time, "sleep", lambda _: None)
    calls = []

    def change_visibility(**kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566")

    # when the stack hands the message back, then it tried until the call went through
    stack_module._quietly(change_visibility, ReceiptHandle="r", VisibilityTimeout=0)
    assert len(calls) == 3
    # and an expired receipt handle (harmless: the message comes back anyway) is not retried
    expired = []

    def already_back(**kwargs):
        expired.append(kwargs)
        raise ClientError(
            {"Error": {"Code": "ReceiptHandleIsInvalid", "Message": "expired"}}, "ChangeMessageVisibility"
        )

    stack_module._quietly(already_back, ReceiptHandle="r", VisibilityTimeout=0)
    assert len(expired) == 1
