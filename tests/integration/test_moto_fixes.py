"""moto's SQS after docclass_local.moto_fixes: the faster send and receive paths answer as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def sqs() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_standard_queue_counts_and_delivers_every_message(sqs):
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    for i in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "25"
    assert "ContentBasedDeduplication" not in counts
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += [m["Body"] for m in batch]
    assert sorted(received) == sorted(f"m{i}" for i in range(25))


def test_fifo_content_based_deduplication_still_drops_a_duplicate(sqs):
    url = sqs.create_queue(
        QueueName="dedupe.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in ("same", "same", "other"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "2"
    assert counts["ContentBasedDeduplication"] == "true"


def test_fifo_without_content_deduplication_still_requires_a_deduplication_id(sqs):
    url = sqs.create_queue(QueueName="strict.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="MessageDeduplicationId"):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")


def test_messages_older_than_the_retention_period_are_not_delivered(sqs, monkeypatch):
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    import moto.sqs.models

    later = moto.sqs.models.unix_time() + 120
    monkeypatch.setattr("moto.core.utils.unix_time", lambda *_: later)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


# -- S3 conditions docclass relies on, as S3 documents them -----------------------------------


def _s3_with_object():
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="pin-s3")
    etag = client.put_object(Bucket="pin-s3", Key="src", Body=b"source")["ETag"]
    return client, etag


def _code(error) -> str:
    return error.value.response["Error"]["Code"]


def test_copy_with_if_none_match_refuses_an_existing_destination(s3):
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html, If-None-Match: "Copies the
    # object only if the object key name at the destination does not already exist ... Otherwise,
    # Amazon S3 returns a 412 Precondition Failed error."
    from botocore.exceptions import ClientError

    client, _ = _s3_with_object()
    client.put_object(Bucket="pin-s3", Key="dst", Body=b"someone else's")
    with pytest.raises(ClientError) as error:
        client.copy_object(
            Bucket="pin-s3", Key="dst", CopySource={"Bucket": "pin-s3", "Key": "src"}, IfNoneMatch="*"
        )
    assert _code(error) == "PreconditionFailed"
    assert client.get_object(Bucket="pin-s3", Key="dst")["Body"].read() == b"someone else's"
    # and a free destination is written
    client.copy_object(
        Bucket="pin-s3", Key="free", CopySource={"Bucket": "pin-s3", "Key": "src"}, IfNoneMatch="*"
    )
    assert client.get_object(Bucket="pin-s3", Key="free")["Body"].read() == b"source"


def test_delete_with_if_match_removes_only_that_version(s3):
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html: another ETag
    # answers 412 Precondition Failed; a key that no longer exists answers 404.
    from botocore.exceptions import ClientError

    client, etag = _s3_with_object()
    newer = client.put_object(Bucket="pin-s3", Key="src", Body=b"newer upload")["ETag"]
    with pytest.raises(ClientError) as error:
        client.delete_object(Bucket="pin-s3", Key="src", IfMatch=etag)
    assert _code(error) == "PreconditionFailed"
    client.delete_object(Bucket="pin-s3", Key="src", IfMatch=newer)
    with pytest.raises(ClientError) as error:
        client.delete_object(Bucket="pin-s3", Key="src", IfMatch=newer)
    assert _code(error) in {"NoSuchKey", "404"}


# S3 in a versioned bucket (docclass_local.moto_fixes; the S3 docs on event types and the event
# message structure): a delete without a version id writes a delete marker and notifies
# ObjectRemoved:DeleteMarkerCreated; deleting a version notifies ObjectRemoved:Delete with that
# versionId even while a newer version stays current; every record names its object version.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html


def _bucket_events(bucket: str, *, versioned: bool) -> Iterator[tuple[Any, Any]]:
    """(s3 client, read_events()) for a bucket that notifies a queue of every change."""
    import json

    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName=f"{bucket}-changes")["QueueUrl"]
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": f"arn:aws:sqs:us-east-1:123456789012:{bucket}-changes",
                        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    }
                ]
            },
        )

        def read_events() -> list[tuple[str, str]]:
            """(event name, versionId or "") of every record queued since the last call."""
            found = []
            while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in batch:
                    for record in json.loads(message["Body"]).get("Records", []):
                        found.append((record["eventName"], record["s3"]["object"].get("versionId", "")))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return found

        read_events()  # the s3:TestEvent
        yield s3, read_events


@pytest.fixture
def versioned_events() -> Iterator[tuple[Any, Any]]:
    yield from _bucket_events("versioned-bucket", versioned=True)


@pytest.fixture
def unversioned_events() -> Iterator[tuple[Any, Any]]:
    yield from _bucket_events("plain-bucket", versioned=False)


def test_versioned_put_event_names_the_version_it_created(versioned_events):
    s3, read_events = versioned_events
    version = s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")["VersionId"]
    assert read_events() == [("ObjectCreated:Put", version)]


def test_deleting_an_old_version_notifies_delete_with_its_version_id_while_a_newer_one_is_current(
    versioned_events,
):
    # given two versions of a key
    s3, read_events = versioned_events
    old = s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"two")
    read_events()
    # when the old version is deleted for good
    s3.delete_object(Bucket="versioned-bucket", Key="k", VersionId=old)
    # then S3 notifies its removal (moto sent nothing: another version remained)
    assert read_events() == [("ObjectRemoved:Delete", old)]
    assert s3.get_object(Bucket="versioned-bucket", Key="k")["Body"].read() == b"two"


def test_deleting_without_a_version_id_notifies_the_delete_marker(versioned_events):
    s3, read_events = versioned_events
    s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")
    read_events()
    marker = s3.delete_object(Bucket="versioned-bucket", Key="k")
    assert marker["DeleteMarker"] is True
    assert read_events() == [("ObjectRemoved:DeleteMarkerCreated", marker["VersionId"])]


def test_deleting_the_current_version_notifies_delete_and_the_previous_version_is_current_again(
    versioned_events,
):
    s3, read_events = versioned_events
    s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"one")
    current = s3.put_object(Bucket="versioned-bucket", Key="k", Body=b"two")["VersionId"]
    read_events()
    s3.delete_object(Bucket="versioned-bucket", Key="k", VersionId=current)
    # S3 sends no ObjectCreated for the version that became current again
    assert read_events() == [("ObjectRemoved:Delete", current)]
    assert s3.get_object(Bucket="versioned-bucket", Key="k")["Body"].read() == b"one"


def test_unversioned_delete_still_notifies_delete_without_a_version(unversioned_events):
    s3, read_events = unversioned_events
    s3.put_object(Bucket="plain-bucket", Key="k", Body=b"one")
    s3.delete_object(Bucket="plain-bucket", Key="k")
    assert read_events() == [("ObjectCreated:Put", ""), ("ObjectRemoved:Delete", "")]
