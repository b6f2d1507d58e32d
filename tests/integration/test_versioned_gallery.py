"""The gallery in a versioned bucket, as template.yaml deploys it: which removals remove an example.

S3 (moto after docclass_local.moto_fixes) notifies a queue; the gallery handler gets those very
messages as an SQS batch. In a versioned bucket a delete without a version id writes a delete
marker (ObjectRemoved:DeleteMarkerCreated): the example is gone. Deleting one version for good
(ObjectRemoved:Delete with its versionId) leaves the key's current version live, or makes the
previous version current again, without any ObjectCreated event.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import BUCKET, QUICK_STACK, load_handler
from docclass.document_embedder import content_hash
from docclass.index_store import IndexRepository
from docclass.local_embedder import MODEL_ID as LOCAL_MODEL
from docclass.store import ObjectStore

KEY = "gallery/letter/example.png"
QUEUE = "gallery-changes"


@pytest.fixture
def deliver(service_env, s3, lambda_context) -> Callable[..., dict[str, Any]]:
    """Versioning on, gallery/ changes notified to a queue; deliver() hands them to the handler."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "gallery/"}]}},
                }
            ]
        },
    )
    handler = load_handler("gallery").lambda_handler

    def run(*, reverse: bool = False) -> dict[str, Any]:
        """Hand every queued change to the handler in one batch (in reverse order if asked)."""
        messages = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        ):
            messages += batch
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
                "awsRegion": "us-east-1",
            }
            for m in messages
            if "Records" in json.loads(m["Body"])  # not the s3:TestEvent
        ]
        if reverse:  # S3 delivers at least once and in no particular order
            records.reverse()
        response: dict[str, Any] = handler({"Records": records}, lambda_context) if records else {}
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return response

    run()  # the s3:TestEvent
    return run


def indexed(s3) -> dict[str, str]:
    """{gallery key: content hash} of the current index."""
    index, _ = IndexRepository(ObjectStore(BUCKET, s3), LOCAL_MODEL, 1024).load()
    return {e.key: e.content_hash for e in index.entries()}


def test_permanently_deleting_an_old_version_keeps_the_live_example(s3, deliver, page):
    # given a gallery key with two versions, both indexed in turn
    old = s3.put_object(Bucket=BUCKET, Key=KEY, Body=page("letter", seed=1))["VersionId"]
    live = page("letter", seed=2)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=live)
    deliver()
    assert indexed(s3) == {KEY: content_hash(live)}
    # when the old version is deleted for good (ObjectRemoved:Delete with its versionId)
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=old)
    assert deliver() == {"batchItemFailures": []}
    # then the live example is still indexed, with the live bytes
    assert indexed(s3) == {KEY: content_hash(live)}


def test_a_delete_marker_removes_the_example(s3, deliver, page):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=page("letter", seed=1))
    deliver()
    # when the key is deleted without a version id (a delete marker; the bytes stay as a version)
    assert s3.delete_object(Bucket=BUCKET, Key=KEY)["DeleteMarker"] is True
    assert deliver() == {"batchItemFailures": []}
    # then the example is no longer live
    assert indexed(s3) == {}


def test_permanently_deleting_the_current_version_brings_back_the_previous_one(s3, deliver, page):
    # given two versions with different bytes, the second one indexed
    previous = page("letter", seed=1)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=previous)
    current = s3.put_object(Bucket=BUCKET, Key=KEY, Body=page("invoice", seed=2))["VersionId"]
    deliver()
    # when the current version is deleted for good (S3 sends no ObjectCreated for the previous one)
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=current)
    assert deliver() == {"batchItemFailures": []}
    # then the index holds the previous version's bytes
    assert indexed(s3) == {KEY: content_hash(previous)}


def test_removing_the_delete_marker_restores_the_example(s3, deliver, page):
    body = page("letter", seed=1)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    deliver()
    marker = s3.delete_object(Bucket=BUCKET, Key=KEY)["VersionId"]
    deliver()
    assert indexed(s3) == {}
    # when the delete marker itself is deleted (an undelete)
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=marker)
    assert deliver() == {"batchItemFailures": []}
    # then the example is live again
    assert indexed(s3) == {KEY: content_hash(body)}


def test_an_undelete_handled_before_its_delete_marker_keeps_the_example(s3, deliver, page):
    # given an indexed example, then a delete marker and the marker's own removal (an undelete)
    body = page("letter", seed=1)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    deliver()
    marker = s3.delete_object(Bucket=BUCKET, Key=KEY)["VersionId"]
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=marker)
    # when the undelete is handled before the delete marker's event
    assert deliver(reverse=True) == {"batchItemFailures": []}
    # then the late delete marker event, older by sequencer, does not remove the live example
    assert indexed(s3) == {KEY: content_hash(body)}


def test_permanently_deleting_the_last_version_removes_the_example(s3, deliver, page):
    only = s3.put_object(Bucket=BUCKET, Key=KEY, Body=page("letter", seed=1))["VersionId"]
    deliver()
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=only)
    assert deliver() == {"batchItemFailures": []}
    assert indexed(s3) == {}


def test_one_batch_with_the_upload_and_the_old_versions_removal_keeps_the_example(s3, deliver, page):
    # given the two uploads and the old version's removal, delivered together
    old = s3.put_object(Bucket=BUCKET, Key=KEY, Body=page("letter", seed=1))["VersionId"]
    live = page("letter", seed=2)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=live)
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=old)
    # when they are handled in one batch
    assert deliver() == {"batchItemFailures": []}
    # then the live bytes are indexed
    assert indexed(s3) == {KEY: content_hash(live)}


# -- the local stack builds the bucket as the template does ---------------------------------------


def test_the_local_template_reads_the_document_buckets_versioning(tmp_path):
    from docclass_local.template import DEFAULT_TEMPLATE, load_template, read_local_template

    declared = load_template()["Resources"]["DocumentBucket"]["Properties"]["VersioningConfiguration"]
    assert read_local_template(bucket="b").versioning == declared["Status"] == "Enabled"
    # a template without it gives an unversioned local bucket
    text = DEFAULT_TEMPLATE.read_text().replace(
        "      VersioningConfiguration:\n        Status: Enabled\n      # Who read", "      # Who read", 1
    )
    assert text != DEFAULT_TEMPLATE.read_text()
    (tmp_path / "template.yaml").write_text(text)
    assert read_local_template(tmp_path / "template.yaml", bucket="b").versioning is None


def test_local_stack_bucket_is_versioned_and_keeps_the_live_example_when_an_old_version_goes():
    from conftest import draw_page
    from docclass_local.stack import LocalStack

    with LocalStack(port=None, **QUICK_STACK, bucket="docclass-versions") as stack:
        s3 = stack.client("s3")
        # the bucket is versioned, as template.yaml deploys it
        assert s3.get_bucket_versioning(Bucket=stack.bucket)["Status"] == "Enabled"
        old = s3.put_object(Bucket=stack.bucket, Key=KEY, Body=draw_page("letter", 1))["VersionId"]
        s3.put_object(Bucket=stack.bucket, Key=KEY, Body=draw_page("letter", 2))
        s3.put_object(Bucket=stack.bucket, Key="gallery/form/form.png", Body=draw_page("form", 1))
        stack.wait_until_idle(timeout=60)
        # when the old version is deleted for good
        s3.delete_object(Bucket=stack.bucket, Key=KEY, VersionId=old)
        status = stack.wait_until_idle(timeout=60)
        # then the example stays
        assert status["index"]["labels"] == {"form": 1, "letter": 1}
        # when the key is deleted (a delete marker)
        s3.delete_object(Bucket=stack.bucket, Key=KEY)
        status = stack.wait_until_idle(timeout=60)
        # then it is gone from the index
        assert status["index"]["labels"] == {"form": 1}
