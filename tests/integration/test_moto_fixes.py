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
